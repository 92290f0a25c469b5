#include "policy/decide.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ctpilot::policy {
namespace {

// Values computed in double are clamped below this before converting back to int64.
constexpr double kInt64Limit = 9.0e18;
// nf_ct_alloc_hashtable() rounds hashsize up to a whole page of 8-byte bucket heads (512 on
// 4 KiB pages). Asking for a multiple of 512 means the value read back is the value asked for.
constexpr std::int64_t kBucketQuantum = 512;
// A resize rehashes the whole table, so buckets only follow max once max / buckets has
// drifted above twice entries_per_bucket. One raise of max (about x1.6 with the default
// high_water and target_fill) then does not rehash each time; two raises do.
constexpr double kBucketSlack = 2.0;
// One hash bucket is an 8-byte list head.
constexpr std::int64_t kBucketBytes = 8;
// A raise while the kernel drops is at least this multiple of max: drops are losses now, and
// the next tick raises again while they go on.
constexpr double kDropRaiseFactor = 2.0;
// Namespaces named when the memory budget holds a raise back.
constexpr std::size_t kHoldersShown = 3;

const KnobRef kMaxRef{kInitNetns, Knob::ConntrackMax};
const KnobRef kBucketsRef{kInitNetns, Knob::Buckets};

[[gnu::format(printf, 1, 2)]] std::string format(const char* fmt, ...) {
  // Most texts fit the stack buffer; only longer ones are formatted a second time.
  char buffer[256];
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  std::string out;
  if (n > 0 && static_cast<std::size_t>(n) < sizeof buffer) {
    out.assign(buffer, static_cast<std::size_t>(n));
  } else if (n > 0) {
    out.resize(static_cast<std::size_t>(n));
    std::vsnprintf(out.data(), out.size() + 1, fmt, copy);
  }
  va_end(copy);
  return out;
}

long long ll(std::int64_t n) { return static_cast<long long>(n); }

double finiteOrZero(double x) { return std::isfinite(x) ? x : 0.0; }

std::int64_t toInt64(double x) {
  if (!(x < kInt64Limit)) return static_cast<std::int64_t>(kInt64Limit);
  if (!(x > -kInt64Limit)) return -static_cast<std::int64_t>(kInt64Limit);
  return static_cast<std::int64_t>(x);
}

std::int64_t roundUp(std::int64_t n, std::int64_t quantum) {
  if (n <= 0) return quantum;
  if (n > std::numeric_limits<std::int64_t>::max() - quantum) return n;
  return (n + quantum - 1) / quantum * quantum;
}

// "10s", "15m", "2h", "4.5s", "500ms": exact units where they divide, else tenths of seconds.
std::string durationText(Duration d) {
  const long long ms = d.count();
  if (ms < 0) return "-" + durationText(Duration(-ms));
  if (ms % 1000 != 0) {
    return ms < 1000 ? format("%lldms", ms) : format("%.1fs", static_cast<double>(ms) / 1000.0);
  }
  const long long s = ms / 1000;
  if (s == 0) return "0s";
  if (s % 86400 == 0) return format("%lldd", s / 86400);
  if (s % 3600 == 0) return format("%lldh", s / 3600);
  if (s % 60 == 0) return format("%lldm", s / 60);
  return format("%llds", s);
}

Duration since(TimePoint now, TimePoint then) { return std::chrono::duration_cast<Duration>(now - then); }

// "4M", "256k" when exact (k = 1024, as in policy files), the plain number otherwise.
std::string countText(std::int64_t n) {
  constexpr std::int64_t kK = 1024;
  if (n != 0 && n % (kK * kK) == 0) return format("%lldM", ll(n / (kK * kK)));
  if (n != 0 && n % kK == 0) return format("%lldk", ll(n / kK));
  return format("%lld", ll(n));
}

std::string bytesText(std::int64_t n) {
  const double b = static_cast<double>(n);
  if (b >= 1024.0 * 1024 * 1024) return format("%.1f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return format("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return format("%.1f KiB", b / 1024.0);
  return format("%lld B", ll(n));
}

std::string rateText(double perSec) {
  if (perSec >= 1000 || perSec <= -1000) return format("%.0f/s", perSec);
  return format("%.3g/s", perSec);
}

double fillOf(std::int64_t count, std::int64_t max) {
  return max > 0 ? static_cast<double>(count) / static_cast<double>(max) : 0.0;
}

class Decider {
 public:
  Decider(const Policy& policy, const Observation& obs, const History& history)
      : policy_(policy), obs_(obs), history_(history), ceiling_(effectiveCeiling(policy, obs)) {
    for (const auto& ns : obs_.netns) sorted_.push_back(&ns);
    std::sort(sorted_.begin(), sorted_.end(),
              [](const NetnsObservation* a, const NetnsObservation* b) { return a->netns < b->netns; });
  }

  Plan run() {
    if (obs_.netns.empty()) {
      note("no network namespace observed: nothing to decide");
      return std::move(plan_);
    }
    if (obs_.max <= 0) {
      note(format("nf_conntrack_max is %lld (nf_conntrack not loaded?): nothing to decide", ll(obs_.max)));
      return std::move(plan_);
    }
    noteUnwatched();
    const std::int64_t maxAfter = decideMax();
    decideBuckets(maxAfter);
    decideTimeouts();
    return std::move(plan_);
  }

 private:
  void note(std::string text) { plan_.notes.push_back(std::move(text)); }

  void act(ActionKind kind, const KnobRef& ref, std::int64_t from, std::int64_t to, std::string reason) {
    plan_.actions.push_back(Action{kind, ref, from, to, std::move(reason)});
  }

  // Why `ref` must be left alone whatever the rules say: not writable, changed by someone
  // else (an operator has the last word), or under a rollback hold.
  std::optional<std::string> leftAlone(const KnobRef& ref) const {
    if (obs_.unwritable.count(ref) != 0) return std::string("it is not writable here");
    if (history_.external.count(ref) != 0) {
      return std::string("it was changed by someone else and an operator has the last word");
    }
    std::optional<TimePoint> until;
    for (const auto& hold : history_.holds) {
      if (hold.until > obs_.now && (!hold.ref || *hold.ref == ref)) {
        until = until ? std::max(*until, hold.until) : hold.until;
      }
    }
    if (until) return "it is held by rollback for another " + durationText(since(*until, obs_.now));
    return std::nullopt;
  }

  // The oscillation guard: at most max_changes changes of one knob within change_window.
  std::optional<std::string> tooOften(const KnobRef& ref) const {
    const auto& c = policy_.controller;
    int recent = 0;
    for (const auto& change : history_.changes) {
      if (change.ref == ref && change.time > obs_.now - c.changeWindow) ++recent;
    }
    if (recent < c.maxChanges) return std::nullopt;
    return format("it changed %d times within change_window %s (max_changes %d)", recent,
                  durationText(c.changeWindow).c_str(), c.maxChanges);
  }

  std::optional<TimePoint> lastChange(const KnobRef& ref) const {
    std::optional<TimePoint> last;
    for (const auto& change : history_.changes) {
      if (change.ref == ref && (!last || change.time > *last)) last = change.time;
    }
    return last;
  }

  std::optional<TimePoint> lastTimeoutChange(const std::string& netns) const {
    std::optional<TimePoint> last;
    for (const auto& change : history_.changes) {
      if (change.ref.netns == netns && isTimeout(change.ref.knob) && (!last || change.time > *last)) {
        last = change.time;
      }
    }
    return last;
  }

  std::optional<std::string> inCooldown(std::optional<TimePoint> last, Duration cooldown, const char* key) const {
    if (!last) return std::nullopt;
    const Duration elapsed = since(obs_.now, *last);
    if (elapsed >= cooldown) return std::nullopt;
    return format("the last change was %s ago (%s %s)", durationText(elapsed).c_str(), key,
                  durationText(cooldown).c_str());
  }

  std::string ceilingText() const {
    const auto& m = policy_.max;
    std::string text = format("ceiling %s, memory budget %.4g%% of %s / %lld B", countText(m.ceiling).c_str(),
                              m.memoryBudget.value * 100.0, bytesText(obs_.memTotalBytes).c_str(),
                              ll(obs_.entryBytes));
    if (obs_.memTotalBytes <= 0 || obs_.entryBytes <= 0) text += ", memory unknown";
    if (ceiling_ == obs_.baselineMax) text += format(", baseline %lld", ll(obs_.baselineMax));
    return text;
  }

  // The binding namespace: nf_conntrack_max is global but each netns compares its own count
  // with it, so the fullest one decides. Ties go to the first name.
  const NetnsObservation& fullest() const {
    const NetnsObservation* best = sorted_.front();
    for (const auto* ns : sorted_) {
      if (ns->count > best->count) best = ns;
    }
    return *best;
  }

  // nf_conntrack_max is global but each namespace counts its own entries: entries outside the
  // watched namespaces (slab total minus the watched counts) above the fullest watched count
  // mean some namespace ctpilot does not watch may be the one that fills first.
  void noteUnwatched() {
    std::int64_t watched = 0;
    for (const auto* ns : sorted_) watched += ns->count;
    const std::int64_t outside = obs_.totalEntries - watched;
    const NetnsObservation& binding = fullest();
    if (obs_.totalEntries <= 0 || outside <= binding.count || outside < policy_.max.margin) return;
    plan_.facts.unwatchedEntries = outside;
    note(format("namespaces outside the watched set hold %lld entries, more than the fullest watched one (%lld in "
                "%s): one of them may fill first; [controller] netns = all watches them",
                ll(outside), ll(binding.count), binding.netns.c_str()));
  }

  // Returns nf_conntrack_max as it will be after this plan.
  std::int64_t decideMax() {
    const NetnsObservation& binding = fullest();
    const std::string trigger = maxTrigger(binding);
    setMaxLimit(binding);
    if (trigger.empty()) return obs_.max;
    findFullInCooldown();
    if (!policy_.max.enabled) {
      note("not raising nf_conntrack_max (" + trigger + "): [max] enabled = false, observing only");
      return obs_.max;
    }
    if (auto why = leftAlone(kMaxRef)) {
      note("not raising nf_conntrack_max (" + trigger + "): " + *why);
      return obs_.max;
    }
    return finishRaise(trigger, sizeRaise(binding), binding);
  }

  // Why max should go up now, from the most urgent signal down; empty when it should not.
  std::string maxTrigger(const NetnsObservation& binding) {
    const auto& m = policy_.max;
    const std::int64_t current = obs_.max;
    // Early drops are flows lost as well: the kernel evicted an unreplied entry to admit a new one.
    const auto lost = [](const NetnsObservation* ns) {
      return finiteOrZero(ns->dropsPerSec) + finiteOrZero(ns->earlyDropsPerSec);
    };
    const NetnsObservation* dropping = nullptr;
    for (const auto* ns : sorted_) {
      if (lost(ns) > 0 && (!dropping || lost(ns) > lost(dropping))) dropping = ns;
    }
    if (dropping) {
      drops_ = true;
      dropsNearFull_ = fillOf(dropping->count, current) >= m.highWater.value;
      const double early = finiteOrZero(dropping->earlyDropsPerSec);
      return format("drops %s%s in %s: table full (count %lld, max %lld, fill %.2f)",
                    rateText(finiteOrZero(dropping->dropsPerSec)).c_str(),
                    early > 0 ? (", early drops " + rateText(early)).c_str() : "", dropping->netns.c_str(),
                    ll(dropping->count), ll(current), fillOf(dropping->count, current));
    }
    const double bindingFill = fillOf(binding.count, current);
    if (bindingFill >= m.highWater.value) {
      return format("fill %.2f >= high_water %.2f in %s (count %lld, max %lld, growth %s)", bindingFill,
                    m.highWater.value, binding.netns.c_str(), ll(binding.count), ll(current),
                    rateText(sizingGrowth(binding)).c_str());
    }
    return lookaheadTrigger();
  }

  std::string lookaheadTrigger() const {
    const auto& m = policy_.max;
    const std::int64_t current = obs_.max;
    const double lookaheadSec = std::chrono::duration<double>(m.lookahead).count();
    const NetnsObservation* soonest = nullptr;
    double soonestFill = 0;
    for (const auto* ns : sorted_) {
      const double growth = finiteOrZero(ns->growthPerSec);
      if (growth <= 0) continue;
      const double predicted = fillOf(ns->count, current) + growth * lookaheadSec / static_cast<double>(current);
      if (predicted >= m.highWater.value && (!soonest || predicted > soonestFill)) {
        soonest = ns;
        soonestFill = predicted;
      }
    }
    if (!soonest) return {};
    const double growth = finiteOrZero(soonest->growthPerSec);
    return format("growth %s in %s reaches high_water %.2f within lookahead %s (count %lld + %.0f >= %.0f of max %lld)",
                  rateText(growth).c_str(), soonest->netns.c_str(), m.highWater.value,
                  durationText(m.lookahead).c_str(), ll(soonest->count), growth * lookaheadSec,
                  std::ceil(m.highWater.value * static_cast<double>(current)), ll(current));
  }

  // Whether max can still go up at all: the condition under which timeouts may be shortened.
  void setMaxLimit(const NetnsObservation& binding) {
    const auto& m = policy_.max;
    const std::int64_t current = obs_.max;
    if (!m.enabled) {
      maxLimit_ = "[max] enabled = false";
    } else if (obs_.unwritable.count(kMaxRef) != 0) {
      maxLimit_ = "nf_conntrack_max is not writable here";
    } else if (current >= ceiling_) {
      maxLimit_ = format("nf_conntrack_max %lld is at its effective ceiling %lld (%s)", ll(current), ll(ceiling_),
                         ceilingText().c_str());
    } else if (ceiling_ < binding.count + m.margin) {
      maxLimit_ = format("effective ceiling %lld (%s) is below count %lld + margin %lld in %s", ll(ceiling_),
                         ceilingText().c_str(), ll(binding.count), ll(m.margin), binding.netns.c_str());
    }
  }

  // The faster of the estimator's slope and the newest interval's demand: a slope over the
  // window lags a ramp that speeds up, the demand does not.
  static double fastestGrowth(const NetnsObservation& ns) {
    return std::max({0.0, finiteOrZero(ns.growthPerSec), finiteOrZero(ns.demandPerSec)});
  }

  // Inside the cooldown, the next raise can come only at the first tick after it ends: up to
  // one interval later. A namespace whose table reaches max before that tick, at its fastest
  // growth, would drop (or early-drop) flows while ctpilot waits, so the raise does not wait
  // (README "Policy reference", [max] cooldown). Max, not high_water: high_water is where a
  // raise is considered, max is where flows are lost; a table at high_water that grows slowly
  // still waits for the cooldown. Sets fullInCooldown_ to the namespace that fills first.
  void findFullInCooldown() {
    const auto last = lastChange(kMaxRef);
    if (drops_ || !last) return;
    const Duration elapsed = since(obs_.now, *last);
    if (elapsed >= policy_.max.cooldown) return;
    const Duration horizon = policy_.max.cooldown - elapsed + policy_.controller.interval;
    const double horizonSec = std::chrono::duration<double>(horizon).count();
    double soonest = 0;
    for (const auto* ns : sorted_) {
      const double growth = fastestGrowth(*ns);
      if (growth <= 0) continue;
      const double toFull = static_cast<double>(obs_.max - ns->count) / growth;
      if (toFull > horizonSec || (fullInCooldown_ && toFull >= soonest)) continue;
      fullInCooldown_ = ns;
      soonest = toFull;
    }
    if (!fullInCooldown_) return;
    const double growth = fastestGrowth(*fullInCooldown_);
    fullInCooldownText_ = format(
        "growth %s in %s fills the table before a raise after the cooldown could (count %lld + %.0f >= max %lld "
        "within %s: the rest of cooldown %s plus one interval %s)",
        rateText(growth).c_str(), fullInCooldown_->netns.c_str(), ll(fullInCooldown_->count), growth * horizonSec,
        ll(obs_.max), durationText(horizon).c_str(), durationText(policy_.max.cooldown).c_str(),
        durationText(policy_.controller.interval).c_str());
  }

  // A namespace under pressure (dropping, early-dropping, at high_water, or filling before the
  // cooldown ends) has a count censored at max or a slope that lags: its slope reads low however
  // fast flows arrive. There the kernel's counters of the newest interval (count change + drop +
  // early_drop) say what the table would have grown.
  double sizingGrowth(const NetnsObservation& ns) const {
    double growth = std::max(0.0, finiteOrZero(ns.growthPerSec));
    const bool pressed = finiteOrZero(ns.dropsPerSec) > 0 || finiteOrZero(ns.earlyDropsPerSec) > 0 ||
                         fillOf(ns.count, obs_.max) >= policy_.max.highWater.value || &ns == fullInCooldown_;
    if (pressed) growth = std::max(growth, finiteOrZero(ns.demandPerSec));
    return growth;
  }

  struct Sizing {
    std::int64_t to = 0;
    std::string text;
  };

  // Size the raise so that every netns is back near target_fill after lookahead's growth; while
  // the kernel drops, at least kDropRaiseFactor times max. Then the bounds: count + margin,
  // baseline, effective ceiling, memory budget across namespaces.
  Sizing sizeRaise(const NetnsObservation& binding) {
    const auto& m = policy_.max;
    const double lookaheadSec = std::chrono::duration<double>(m.lookahead).count();
    const double target = m.targetFill.value > 0 ? m.targetFill.value : m.highWater.value;
    double wanted = 0;
    const NetnsObservation* byDemand = nullptr;
    for (const auto* ns : sorted_) {
      if (target <= 0) continue;
      const double growth = sizingGrowth(*ns);
      if (growth > std::max(0.0, finiteOrZero(ns->growthPerSec))) byDemand = ns;
      wanted = std::max(wanted, std::ceil((static_cast<double>(ns->count) + growth * lookaheadSec) / target));
    }
    Sizing s{toInt64(std::min(wanted, kInt64Limit)),
             format("sized for target_fill %.2f after lookahead %s", m.targetFill.value,
                    durationText(m.lookahead).c_str())};
    if (byDemand) {
      s.text += format(" at the demand the kernel counted in %s (%s: count change + drop + early_drop)",
                       byDemand->netns.c_str(), rateText(byDemand->demandPerSec).c_str());
    }
    if (dropsNearFull_) {
      const std::int64_t doubled = toInt64(static_cast<double>(obs_.max) * kDropRaiseFactor);
      if (s.to < doubled) {
        s.to = doubled;
        s.text = format("x%.0f while the kernel drops", kDropRaiseFactor);
      }
    }
    const std::int64_t byCount = binding.count + m.margin;
    if (s.to < byCount) {
      s.to = byCount;
      s.text = format("count %lld + margin %lld in %s", ll(binding.count), ll(m.margin), binding.netns.c_str());
    }
    if (s.to < obs_.baselineMax) {
      s.to = obs_.baselineMax;
      s.text = format("baseline %lld", ll(obs_.baselineMax));
    }
    if (s.to > ceiling_) {
      s.to = ceiling_;
      s.text += format(", clamped to effective ceiling %lld (%s)", ll(ceiling_), ceilingText().c_str());
    }
    applyBudget(s);
    return s;
  }

  // Every namespace may hold max entries, so the memory budget bounds all of them together
  // (README "Policy reference", memory_budget): max is held where the projected total (each
  // netns at min(max, max(count + growth x lookahead, count / target_fill)), plus the entries outside the watched
  // namespaces) fits the budget.
  void applyBudget(Sizing& s) {
    const std::int64_t budget = memoryCapEntries(policy_, obs_);
    if (budget <= 0) return;  // unknown memory: the effective ceiling is the baseline already
    const auto& m = policy_.max;
    const double lookaheadSec = std::chrono::duration<double>(m.lookahead).count();
    const double target = m.targetFill.value > 0 ? m.targetFill.value : m.highWater.value;
    std::int64_t watched = 0;
    std::vector<double> projected;
    for (const auto* ns : sorted_) {
      watched += ns->count;
      // A namespace may also climb back to where a raise sized at target_fill would put it:
      // one that filled up once and paused is not assumed to stay put.
      const double atTarget = target > 0 ? static_cast<double>(ns->count) / target : 0.0;
      projected.push_back(std::max(static_cast<double>(ns->count) + sizingGrowth(*ns) * lookaheadSec, atTarget));
    }
    const std::int64_t total = std::max(obs_.totalEntries, watched);
    plan_.facts.budgetEntries = budget;
    plan_.facts.totalEntries = total;
    const double outside = static_cast<double>(total - watched);
    const std::int64_t fits = largestMaxWithin(projected, static_cast<double>(budget) - outside);
    if (s.to <= fits) return;
    s.to = std::max(fits, obs_.baselineMax);  // never below the baseline (README Safety promise 3)
    // A few entries more is not worth a change: the budget is spent.
    if (s.to < obs_.max + m.margin) s.to = std::min(s.to, obs_.max);
    plan_.facts.raiseLimitedByBudget = true;
    plan_.facts.budgetHolders = budgetHolders();
    budgetLimit_ = format("memory budget %lld entries for all namespaces together (%s): %lld held now (%s)",
                          ll(budget), ceilingText().c_str(), ll(total), holdersText(total - watched).c_str());
    s.text += ", held back by the " + budgetLimit_;
  }

  // The largest m with sum(min(m, p)) <= room, over the projections p; kInt64Limit when every
  // projection fits whatever m is.
  static std::int64_t largestMaxWithin(std::vector<double> projected, double room) {
    std::sort(projected.begin(), projected.end());
    double below = 0;  // sum of the projections under the current segment
    for (std::size_t k = 0; k < projected.size(); ++k) {
      const double m = (room - below) / static_cast<double>(projected.size() - k);
      if (m <= projected[k]) return toInt64(std::floor(m));
      below += projected[k];
    }
    return below <= room ? static_cast<std::int64_t>(kInt64Limit) : 0;
  }

  std::vector<std::string> budgetHolders() const {
    std::vector<const NetnsObservation*> byCount(sorted_.begin(), sorted_.end());
    std::stable_sort(byCount.begin(), byCount.end(),
                     [](const auto* a, const auto* b) { return a->count > b->count; });
    std::vector<std::string> names;
    for (const auto* ns : byCount) {
      if (ns->count > 0 && names.size() < kHoldersShown) names.push_back(ns->netns);
    }
    return names;
  }

  std::string holdersText(std::int64_t outside) const {
    std::string text;
    for (const auto& name : plan_.facts.budgetHolders) {
      for (const auto* ns : sorted_) {
        if (ns->netns == name) text += (text.empty() ? "" : ", ") + format("%s %lld", name.c_str(), ll(ns->count));
      }
    }
    if (outside > 0) text += (text.empty() ? "" : ", ") + format("unwatched namespaces %lld", ll(outside));
    return text.empty() ? std::string("no entries") : text;
  }

  std::int64_t finishRaise(const std::string& trigger, const Sizing& s, const NetnsObservation& binding) {
    const std::int64_t current = obs_.max;
    if (s.to <= current) {
      if (!budgetLimit_.empty()) {
        maxLimit_ = "the " + budgetLimit_;
        note("not raising nf_conntrack_max (" + trigger + "): the " + budgetLimit_);
      } else if (!maxLimit_.empty()) {
        note("not raising nf_conntrack_max (" + trigger + "): " + maxLimit_);
      } else {
        note(format("not raising nf_conntrack_max (%s): %lld already covers what is needed (%s)", trigger.c_str(),
                    ll(current), s.text.c_str()));
      }
      return current;
    }
    if (s.to < binding.count + policy_.max.margin) {  // a ceiling below count + margin: never set max that low
      note("not raising nf_conntrack_max (" + trigger + "): " + (maxLimit_.empty() ? budgetLimit_ : maxLimit_));
      return current;
    }
    if (auto why = tooOften(kMaxRef)) {
      note("not raising nf_conntrack_max (" + trigger + "): oscillation guard: " + *why);
      return current;
    }
    // Drops are packets lost now, and a table that fills before the cooldown ends would lose them:
    // neither waits for the cooldown (the change window still holds).
    if (!drops_ && !fullInCooldown_) {
      if (auto why = inCooldown(lastChange(kMaxRef), policy_.max.cooldown, "cooldown")) {
        note("not raising nf_conntrack_max yet (" + trigger + "): " + *why);
        return current;
      }
    }
    std::string reason = trigger + "; " + s.text;
    if (fullInCooldown_) reason += "; inside the cooldown: " + fullInCooldownText_;
    act(ActionKind::RaiseMax, kMaxRef, current, s.to, reason);
    return s.to;
  }

  const NetnsObservation* worstChains() const {
    const NetnsObservation* chains = nullptr;
    for (const auto* ns : sorted_) {
      const double rate = finiteOrZero(ns->chainTooLongPerSec) + finiteOrZero(ns->insertFailedPerSec);
      if (rate > 0 && (!chains || rate > chains->chainTooLongPerSec + chains->insertFailedPerSec)) chains = ns;
    }
    return chains;
  }

  struct BucketWant {
    std::int64_t to = 0;
    std::string trigger;
    bool emergency = false;  // chaintoolong / insert_failed
  };

  void decideBuckets(std::int64_t maxAfter) {
    const auto& h = policy_.hashsize;
    const NetnsObservation* chains = worstChains();
    if (h.mode == HashsizePolicy::Mode::Fixed) {
      if (chains) {
        note(format("chaintoolong %s, insert_failed %s in %s, but [hashsize] mode = fixed: not resizing",
                    rateText(chains->chainTooLongPerSec).c_str(), rateText(chains->insertFailedPerSec).c_str(),
                    chains->netns.c_str()));
      }
      return;
    }
    const std::int64_t current = obs_.buckets;
    if (current <= 0) {
      note(format("nf_conntrack_buckets is %lld (unknown): not resizing", ll(current)));
      return;
    }
    const auto want = bucketWant(maxAfter, chains);
    if (!want) return;
    const std::string& trigger = want->trigger;
    if (want->to <= current) {
      note(format("not resizing nf_conntrack_buckets (%s): already %lld", trigger.c_str(), ll(current)));
      return;
    }
    if (auto why = leftAlone(kBucketsRef)) {
      note("not resizing nf_conntrack_buckets (" + trigger + "): " + *why);
      return;
    }
    if (auto why = tooOften(kBucketsRef)) {
      note("not resizing nf_conntrack_buckets (" + trigger + "): oscillation guard: " + *why);
      return;
    }
    if (auto why = inCooldown(lastChange(kBucketsRef), h.minInterval, "min_interval")) {
      note("not resizing nf_conntrack_buckets yet (" + trigger + "): " + *why);
      return;
    }
    std::string reason = trigger;
    if (!stallFits(*want, reason)) return;
    act(ActionKind::ResizeBuckets, kBucketsRef, current, want->to, reason);
  }

  // The buckets wanted: presize for the effective ceiling, or follow max once it drifted; at
  // least double on chaintoolong/insert_failed; never below the baseline, never above one per
  // entry of max nor above max_memory. nullopt when nothing calls for a resize.
  std::optional<BucketWant> bucketWant(std::int64_t maxAfter, const NetnsObservation* chains) const {
    const auto& h = policy_.hashsize;
    const std::int64_t current = obs_.buckets;
    const std::int64_t perBucket = std::max<std::int64_t>(1, h.entriesPerBucket);
    const bool presize = h.mode == HashsizePolicy::Mode::Presize;
    const std::int64_t sizedFor = presize ? std::max(ceiling_, maxAfter) : maxAfter;
    const std::int64_t memoryCap =
        std::max({current, obs_.baselineBuckets, h.maxMemory / kBucketBytes / kBucketQuantum * kBucketQuantum});
    const std::int64_t sized = std::min(roundUp((sizedFor + perBucket - 1) / perBucket, kBucketQuantum), memoryCap);
    const double ratio = static_cast<double>(maxAfter) / static_cast<double>(current);
    const bool drift = presize ? sized > current : ratio > kBucketSlack * static_cast<double>(perBucket);
    if (!drift && !chains) return std::nullopt;

    BucketWant want{(sizedFor + perBucket - 1) / perBucket, {}, chains != nullptr};
    if (chains) {
      want.to = std::max(want.to, current * 2);
      want.trigger = format("chaintoolong %s, insert_failed %s in %s: hash chains too long, at least doubling",
                            rateText(chains->chainTooLongPerSec).c_str(), rateText(chains->insertFailedPerSec).c_str(),
                            chains->netns.c_str());
    } else if (presize) {
      want.trigger = format("presized for effective ceiling %lld / entries_per_bucket %lld while the table is small",
                            ll(sizedFor), ll(perBucket));
    } else {
      want.trigger = format("nf_conntrack_max %lld / buckets %lld = %.1f > %.0f x entries_per_bucket %lld: "
                            "sized to max / %lld",
                            ll(maxAfter), ll(current), ratio, kBucketSlack, ll(perBucket), ll(perBucket));
    }
    want.to = roundUp(std::max(want.to, obs_.baselineBuckets), kBucketQuantum);
    // More buckets than entries buys nothing: cap at one bucket per entry of max (never shrinking).
    const std::int64_t cap = std::max({roundUp(sizedFor, kBucketQuantum), current, obs_.baselineBuckets});
    if (want.to > cap) {
      want.to = cap;
      want.trigger += format(", capped at one bucket per entry (%lld)", ll(cap));
    }
    if (want.to > memoryCap) {
      want.to = memoryCap;
      want.trigger += format(", bounded by max_memory %s (%lld buckets of 8 B)",
                             bytesText(policy_.hashsize.maxMemory).c_str(), ll(memoryCap));
    }
    return want;
  }

  // A resize rehashes every entry of every namespace under every bucket lock: every packet
  // through conntrack waits (README Safety promise 11). Estimate that stall from the entries and
  // the cost per entry ctpilot measured; over max_stall, no resize (an emergency only when the
  // policy allows it).
  bool stallFits(const BucketWant& want, std::string& reason) {
    std::int64_t watched = 0;
    for (const auto* ns : sorted_) watched += ns->count;
    const std::int64_t entries = std::max(obs_.totalEntries, watched);
    const double nsPerEntry = std::max(0.0, finiteOrZero(obs_.resizeNsPerEntry));
    const double stallMs = static_cast<double>(entries) * nsPerEntry / 1e6;
    const auto& h = policy_.hashsize;
    const double boundMs = std::chrono::duration<double, std::milli>(h.maxStall).count();
    plan_.facts.resizeEntries = entries;
    plan_.facts.resizeStallMs = stallMs;
    const std::string estimate = format("estimated stall %.1f ms (%lld entries x %.2f us)", stallMs, ll(entries),
                                        nsPerEntry / 1000.0);
    if (stallMs <= boundMs) {
      reason += "; " + estimate + " <= max_stall " + durationText(h.maxStall);
      return true;
    }
    if (want.emergency && h.emergencyMayStall) {
      reason += "; " + estimate + " > max_stall " + durationText(h.maxStall) + ", allowed by emergency_may_stall";
      return true;
    }
    plan_.facts.resizeBlockedByStall = true;
    note(format("not resizing nf_conntrack_buckets %lld -> %lld (%s): %s > max_stall %s; every packet through "
                "conntrack would wait that long%s",
                ll(obs_.buckets), ll(want.to), want.trigger.c_str(), estimate.c_str(),
                durationText(h.maxStall).c_str(), want.emergency ? " (emergency_may_stall = false)" : ""));
    return false;
  }
  void decideTimeouts() {
    const auto& t = policy_.timeouts;
    for (const auto* ns : sorted_) {
      if (shedUnanswered(*ns)) continue;
      const double fill = fillOf(ns->count, obs_.max);
      const double drops = finiteOrZero(ns->dropsPerSec);
      if (fill >= t.shortenAt.value || drops > 0) {
        if (maxLimit_.empty()) continue;  // raising max comes first
        std::string trigger =
            drops > 0 ? format("drops %s in %s (fill %.2f) and %s", rateText(drops).c_str(), ns->netns.c_str(), fill,
                               maxLimit_.c_str())
                      : format("fill %.2f >= shorten_at %.2f in %s and %s", fill, t.shortenAt.value,
                               ns->netns.c_str(), maxLimit_.c_str());
        if (t.mode != TimeoutsPolicy::Mode::Shorten) {
          note("not shortening timeouts (" + trigger + "): [timeouts] mode = off");
          continue;
        }
        shorten(*ns, trigger);
        continue;
      }
      const auto calm = history_.calmSince.find(ns->netns);
      if (calm == history_.calmSince.end() || fill >= t.relaxBelow.value) continue;
      const Duration calmFor = since(obs_.now, calm->second);
      if (calmFor < t.relaxAfter) continue;
      relax(*ns, format("fill %.2f < relax_below %.2f in %s for %s (relax_after %s)", fill, t.relaxBelow.value,
                        ns->netns.c_str(), durationText(calmFor).c_str(), durationText(t.relaxAfter).c_str()));
    }
  }

  // Whether `order` would be shortened in `ns` now: max cannot go up and fill or drops press.
  bool orderPressed(const NetnsObservation& ns) const {
    return !maxLimit_.empty() &&
           (fillOf(ns.count, obs_.max) >= policy_.timeouts.shortenAt.value || finiteOrZero(ns.dropsPerSec) > 0);
  }

  // Why the timeouts of flows that never saw a reply should be shed in `ns` now; empty: no reason.
  // Earlier than `order`: the kernel evicting unassured entries (early drops), or growth that
  // reaches the effective ceiling within lookahead, while max may still go up.
  std::string shedTrigger(const NetnsObservation& ns) const {
    const double early = finiteOrZero(ns.earlyDropsPerSec);
    if (early > 0) {
      return format("early drops %s in %s: the kernel evicts flows that never saw a reply to admit new ones",
                    rateText(early).c_str(), ns.netns.c_str());
    }
    if (orderPressed(ns)) {
      const double drops = finiteOrZero(ns.dropsPerSec);
      const double fill = fillOf(ns.count, obs_.max);
      return drops > 0 ? format("drops %s in %s (fill %.2f) and %s", rateText(drops).c_str(), ns.netns.c_str(), fill,
                                maxLimit_.c_str())
                       : format("fill %.2f >= shorten_at %.2f in %s and %s", fill,
                                policy_.timeouts.shortenAt.value, ns.netns.c_str(), maxLimit_.c_str());
    }
    const double growth = fastestGrowth(ns);
    const double lookaheadSec = std::chrono::duration<double>(policy_.max.lookahead).count();
    if (growth > 0 && static_cast<double>(ns.count) + growth * lookaheadSec >= static_cast<double>(ceiling_)) {
      return format("growth %s in %s reaches the effective ceiling %lld within lookahead %s (count %lld + %.0f)",
                    rateText(growth).c_str(), ns.netns.c_str(), ll(ceiling_), durationText(policy_.max.lookahead).c_str(),
                    ll(ns.count), growth * lookaheadSec);
    }
    return {};
  }

  std::optional<TimePoint> lastShed(const std::string& netns) const {
    const auto& shed = policy_.timeouts.shed;
    std::optional<TimePoint> last;
    for (const auto& change : history_.changes) {
      if (change.ref.netns == netns && std::find(shed.begin(), shed.end(), change.ref.knob) != shed.end() &&
          (!last || change.time > *last)) {
        last = change.time;
      }
    }
    return last;
  }

  // Shedding ([timeouts] shed): in one step, every timeout of `shed` above its floor becomes
  // max(floor, floor(value x factor)), at most one step per shed_cooldown in a netns. Returns
  // true when `ns` is done for this tick: a step taken or waiting for its cooldown, or the
  // trigger holding with every shed timeout at its floor while `order` has no reason to move
  // (relaxing then would undo the shedding).
  bool shedUnanswered(const NetnsObservation& ns) {
    const auto& t = policy_.timeouts;
    if (t.shed.empty()) return false;
    const std::string trigger = shedTrigger(ns);
    if (trigger.empty() || !validFactor("shedding")) return false;
    std::vector<Action> steps;
    for (const Knob knob : t.shed) {
      const auto current = ns.timeouts.find(knob);
      const auto floor = t.floors.find(knob);
      if (current == ns.timeouts.end() || floor == t.floors.end() || current->second <= floor->second) continue;
      const std::int64_t to =
          std::max(floor->second, toInt64(std::floor(static_cast<double>(current->second) * t.factor)));
      if (to >= current->second) continue;
      const KnobRef ref{ns.netns, knob};
      if (auto why = leftAlone(ref)) {
        note("not shedding " + refName(ref) + " (" + trigger + "): " + *why);
        continue;
      }
      if (auto why = tooOften(ref)) {
        note("not shedding " + refName(ref) + " (" + trigger + "): oscillation guard: " + *why);
        continue;
      }
      steps.push_back(Action{ActionKind::ShortenTimeout, ref, current->second, to,
                             format("%s: shedding flows that never saw a reply: %s %llds x %g = %llds (floor %llds)",
                                    trigger.c_str(), std::string(policyName(knob)).c_str(), ll(current->second),
                                    t.factor, ll(to), ll(floor->second))});
    }
    if (steps.empty()) return !orderPressed(ns);
    if (auto why = inCooldown(lastShed(ns.netns), t.shedCooldown, "shed_cooldown")) {
      note("not shedding timeouts in " + ns.netns + " yet (" + trigger + "): " + *why);
      return true;
    }
    for (auto& step : steps) plan_.actions.push_back(std::move(step));
    return true;
  }

  bool validFactor(const std::string& what) {
    const double f = policy_.timeouts.factor;
    if (f > 0 && f < 1) return true;
    note(format("not %s timeouts: factor %g is not in (0, 1)", what.c_str(), f));
    return false;
  }

  void shorten(const NetnsObservation& ns, const std::string& trigger) {
    const auto& t = policy_.timeouts;
    if (!validFactor("shortening")) return;
    if (ns.timeouts.empty()) {
      note("not shortening timeouts (" + trigger + "): no timeouts observed in " + ns.netns);
      return;
    }
    for (const Knob knob : t.order) {
      const auto current = ns.timeouts.find(knob);
      if (current == ns.timeouts.end()) continue;
      const KnobRef ref{ns.netns, knob};
      const auto floor = t.floors.find(knob);
      if (floor == t.floors.end()) {
        note("not shortening " + refName(ref) + ": no floor in [timeout_floors]");
        continue;
      }
      if (current->second <= floor->second) continue;
      const std::int64_t to = std::max(
          floor->second, toInt64(std::floor(static_cast<double>(current->second) * t.factor)));
      if (to >= current->second) continue;
      const auto wait = timeoutWait(ref, "shortening", trigger);
      if (wait == Wait::ThisKnob) continue;
      if (wait == Wait::ThisNetns) return;
      act(ActionKind::ShortenTimeout, ref, current->second, to,
          format("%s: %s %llds x %g = %llds (floor %llds)", trigger.c_str(), std::string(policyName(knob)).c_str(),
                 ll(current->second), t.factor, ll(to), ll(floor->second)));
      return;
    }
    note("not shortening timeouts (" + trigger + "): every timeout in order is at its floor in " + ns.netns);
  }

  enum class Wait { No, ThisKnob, ThisNetns };

  // Whether a timeout of `ref` may change now (`verb`: "shortening" or "relaxing"), noting why
  // not: a knob left alone or changed too often waits alone; the cooldown holds its netns.
  Wait timeoutWait(const KnobRef& ref, const char* verb, const std::string& trigger) {
    const std::string what = std::string("not ") + verb + " " + refName(ref);
    if (auto why = leftAlone(ref)) {
      note(what + " (" + trigger + "): " + *why);
      return Wait::ThisKnob;
    }
    if (auto why = tooOften(ref)) {
      note(what + " (" + trigger + "): oscillation guard: " + *why);
      return Wait::ThisKnob;
    }
    // One step per netns per cooldown, whichever timeout moved last: give the table time to drain.
    if (auto why = inCooldown(lastTimeoutChange(ref.netns), policy_.timeouts.cooldown, "timeouts cooldown")) {
      note(what + " yet (" + trigger + "): " + *why);
      return Wait::ThisNetns;
    }
    return Wait::No;
  }

  void relax(const NetnsObservation& ns, const std::string& trigger) {
    const auto& t = policy_.timeouts;
    // Last shortened first: the reverse of order, then any other timeout below its baseline
    // (one dropped from order since it was shortened).
    std::vector<Knob> knobs(t.order.rbegin(), t.order.rend());
    for (const auto& [knob, value] : ns.timeouts) {
      if (std::find(knobs.begin(), knobs.end(), knob) == knobs.end()) knobs.push_back(knob);
    }
    for (const Knob knob : knobs) {
      const auto current = ns.timeouts.find(knob);
      const auto baseline = ns.baselineTimeouts.find(knob);
      if (current == ns.timeouts.end() || baseline == ns.baselineTimeouts.end()) continue;
      if (current->second >= baseline->second) continue;
      if (!validFactor("relaxing")) return;
      const KnobRef ref{ns.netns, knob};
      const double stepped = std::ceil(static_cast<double>(current->second) / t.factor);
      const std::int64_t to = std::min(
          baseline->second, std::max(current->second + 1, toInt64(std::min(stepped, kInt64Limit))));
      const auto wait = timeoutWait(ref, "relaxing", trigger);
      if (wait == Wait::ThisKnob) continue;
      if (wait == Wait::ThisNetns) return;
      act(ActionKind::RelaxTimeout, ref, current->second, to,
          format("%s: %s %llds / %g = %llds toward baseline %llds", trigger.c_str(),
                 std::string(policyName(knob)).c_str(), ll(current->second), t.factor, ll(to),
                 ll(baseline->second)));
      return;
    }
  }

  const Policy& policy_;
  const Observation& obs_;
  const History& history_;
  const std::int64_t ceiling_;
  std::vector<const NetnsObservation*> sorted_;
  std::string maxLimit_;  // non-empty when nf_conntrack_max cannot go up any further, and why
  std::string budgetLimit_;  // non-empty when the memory budget across namespaces held a raise back
  bool drops_ = false;       // some namespace drops packets now
  bool dropsNearFull_ = false;  // ...and its count is at high_water or above (not a stale counter)
  const NetnsObservation* fullInCooldown_ = nullptr;  // fills before a raise after the cooldown could
  std::string fullInCooldownText_;                    // why, for the raise's reason
  Plan plan_;
};

}  // namespace

// The memory cap is what memory_budget of MemTotal can hold at entryBytes per entry. When
// MemTotal or the entry size is unknown the cap is 0, so the ceiling falls to the baseline and
// ctpilot does not raise: it never grows the table without knowing what that costs. The
// result never falls below the baseline, because ctpilot never lowers max under the value the
// machine started with; if the machine already sits above the ceiling, ctpilot simply does not raise.
std::int64_t memoryCapEntries(const Policy& policy, const Observation& obs) {
  const double budget = policy.max.memoryBudget.value;
  if (obs.memTotalBytes <= 0 || obs.entryBytes <= 0 || !(budget > 0)) return 0;
  return toInt64(std::floor(static_cast<double>(obs.memTotalBytes) * budget / static_cast<double>(obs.entryBytes)));
}

std::int64_t effectiveCeiling(const Policy& policy, const Observation& obs) {
  return std::max(std::min(policy.max.ceiling, memoryCapEntries(policy, obs)), obs.baselineMax);
}

Plan decide(const Policy& policy, const Observation& obs, const History& history) {
  return Decider(policy, obs, history).run();
}

// Drops mean the table is full in that netns whatever the fill says, so they end calm too.
// Namespaces no longer observed are forgotten.
void updateCalm(const Policy& policy, const Observation& obs, History& history) {
  std::map<std::string, TimePoint> next;
  if (obs.max > 0) {
    for (const auto& ns : obs.netns) {
      const bool calm = fillOf(ns.count, obs.max) < policy.timeouts.relaxBelow.value && !(ns.dropsPerSec > 0);
      if (!calm) continue;
      const auto was = history.calmSince.find(ns.netns);
      next[ns.netns] = was != history.calmSince.end() ? was->second : obs.now;
    }
  }
  history.calmSince = std::move(next);
}

}  // namespace ctpilot::policy
