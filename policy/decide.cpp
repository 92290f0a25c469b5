// SPDX-License-Identifier: Apache-2.0
#include "policy/decide.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
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

Duration since(TimePoint now, TimePoint then) { return std::chrono::duration_cast<Duration>(now - then); }

double fillOf(std::int64_t count, std::int64_t max) {
  return max > 0 ? static_cast<double>(count) / static_cast<double>(max) : 0.0;
}

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

Cause cause(Reason code, std::string netns = {}) { return Cause{code, std::move(netns), {}, {}, {}}; }

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
      plan_.notes.push_back(Note{std::nullopt, std::nullopt, {}, cause(Reason::NoNetns), {}});
      return std::move(plan_);
    }
    if (obs_.max <= 0) {
      plan_.notes.push_back(
          Note{std::nullopt, std::nullopt, {}, cause(Reason::MaxUnknown).with(Fact::Max, obs_.max), {}});
      return std::move(plan_);
    }
    noteUnwatched();
    const std::int64_t maxAfter = decideMax();
    decideBuckets(maxAfter);
    decideTimeouts();
    return std::move(plan_);
  }

 private:
  // Notes a change of `kind` (to `ref` when one knob) held back: `why`, though `trigger` wanted it.
  void hold(ActionKind kind, std::optional<KnobRef> ref, std::vector<Cause> trigger, Cause why) {
    plan_.notes.push_back(Note{kind, std::move(ref), std::move(trigger), std::move(why), {}});
  }

  void act(ActionKind kind, const KnobRef& ref, std::int64_t from, std::int64_t to, std::vector<Cause> because) {
    plan_.actions.push_back(Action{kind, ref, from, to, std::move(because)});
  }

  // Why `ref` must be left alone whatever the rules say: not writable, changed by someone
  // else (an operator has the last word), or under a rollback hold.
  std::optional<Cause> leftAlone(const KnobRef& ref) const {
    if (obs_.unwritable.count(ref) != 0) return cause(Reason::Unwritable);
    if (history_.external.count(ref) != 0) return cause(Reason::External);
    std::optional<TimePoint> until;
    for (const auto& hold : history_.holds) {
      if (hold.until > obs_.now && (!hold.ref || *hold.ref == ref)) {
        until = until ? std::max(*until, hold.until) : hold.until;
      }
    }
    if (until) return cause(Reason::Hold).with(Fact::Remaining, seconds(since(*until, obs_.now)));
    return std::nullopt;
  }

  // The oscillation guard: at most max_changes changes of one knob within change_window.
  std::optional<Cause> tooOften(const KnobRef& ref) const {
    const auto& c = policy_.controller;
    int recent = 0;
    for (const auto& change : history_.changes) {
      if (change.ref == ref && change.time > obs_.now - c.changeWindow) ++recent;
    }
    if (recent < c.maxChanges) return std::nullopt;
    return cause(Reason::OscillationGuard)
        .with(Fact::Changes, recent)
        .with(Fact::ChangeWindow, seconds(c.changeWindow))
        .with(Fact::MaxChanges, c.maxChanges);
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

  std::optional<Cause> inCooldown(std::optional<TimePoint> last, Duration cooldown) const {
    if (!last) return std::nullopt;
    const Duration elapsed = since(obs_.now, *last);
    if (elapsed >= cooldown) return std::nullopt;
    return cause(Reason::Cooldown).with(Fact::Elapsed, seconds(elapsed)).with(Fact::Cooldown, seconds(cooldown));
  }

  // A cause about the effective ceiling, with what it is made of: ceiling, memory budget of
  // MemTotal at entryBytes per entry, and the baseline when that is what binds.
  Cause ceilingCause(Reason code, std::string netns = {}) const {
    const auto& m = policy_.max;
    Cause c = cause(code, std::move(netns))
                  .with(Fact::Ceiling, static_cast<double>(ceiling_))
                  .with(Fact::PolicyCeiling, static_cast<double>(m.ceiling))
                  .with(Fact::MemoryBudget, m.memoryBudget.value)
                  .with(Fact::MemTotal, static_cast<double>(obs_.memTotalBytes))
                  .with(Fact::EntryBytes, static_cast<double>(obs_.entryBytes));
    if (ceiling_ == obs_.baselineMax) c.with(Fact::Baseline, static_cast<double>(obs_.baselineMax));
    return c;
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
    // Under netns = all they are namespaces created since the last scan (watched from the next
    // one) or entries of deleted ones not yet freed: nothing the operator should change.
    if (policy_.controller.netns.mode == NetnsSelector::Mode::All) return;
    plan_.notes.push_back(Note{std::nullopt,
                               std::nullopt,
                               {},
                               cause(Reason::UnwatchedNamespaces, binding.netns)
                                   .with(Fact::Unwatched, static_cast<double>(outside))
                                   .with(Fact::Count, static_cast<double>(binding.count)),
                               {}});
  }

  // Returns nf_conntrack_max as it will be after this plan.
  std::int64_t decideMax() {
    const NetnsObservation& binding = fullest();
    auto trigger = maxTrigger(binding);
    setMaxLimit(binding);
    if (!trigger) return obs_.max;
    findFullInCooldown();
    if (!policy_.max.enabled) {
      hold(ActionKind::RaiseMax, kMaxRef, {*trigger}, cause(Reason::MaxDisabled));
      return obs_.max;
    }
    if (auto why = leftAlone(kMaxRef)) {
      hold(ActionKind::RaiseMax, kMaxRef, {*trigger}, std::move(*why));
      return obs_.max;
    }
    return finishRaise(*trigger, sizeRaise(binding), binding);
  }

  // Why max should go up now, from the most urgent signal down; nullopt when it should not.
  std::optional<Cause> maxTrigger(const NetnsObservation& binding) {
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
      return cause(Reason::Drops, dropping->netns)
          .with(Fact::Drops, finiteOrZero(dropping->dropsPerSec))
          .with(Fact::EarlyDrops, finiteOrZero(dropping->earlyDropsPerSec))
          .with(Fact::Count, static_cast<double>(dropping->count))
          .with(Fact::Max, static_cast<double>(current))
          .with(Fact::Fill, fillOf(dropping->count, current));
    }
    const double bindingFill = fillOf(binding.count, current);
    if (bindingFill >= m.highWater.value) {
      return cause(Reason::HighWater, binding.netns)
          .with(Fact::Fill, bindingFill)
          .with(Fact::HighWater, m.highWater.value)
          .with(Fact::Count, static_cast<double>(binding.count))
          .with(Fact::Max, static_cast<double>(current))
          .with(Fact::Growth, sizingGrowth(binding));
    }
    return lookaheadTrigger();
  }

  std::optional<Cause> lookaheadTrigger() const {
    const auto& m = policy_.max;
    const std::int64_t current = obs_.max;
    const double lookaheadSec = seconds(m.lookahead);
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
    if (!soonest) return std::nullopt;
    const double growth = finiteOrZero(soonest->growthPerSec);
    return cause(Reason::Lookahead, soonest->netns)
        .with(Fact::Growth, growth)
        .with(Fact::HighWater, m.highWater.value)
        .with(Fact::Lookahead, lookaheadSec)
        .with(Fact::Count, static_cast<double>(soonest->count))
        .with(Fact::Expected, growth * lookaheadSec)
        .with(Fact::Threshold, std::ceil(m.highWater.value * static_cast<double>(current)))
        .with(Fact::Max, static_cast<double>(current));
  }

  // Whether max can still go up at all: the condition under which timeouts may be shortened.
  void setMaxLimit(const NetnsObservation& binding) {
    const auto& m = policy_.max;
    const std::int64_t current = obs_.max;
    if (!m.enabled) {
      maxLimit_ = cause(Reason::MaxDisabled);
    } else if (obs_.unwritable.count(kMaxRef) != 0) {
      maxLimit_ = cause(Reason::MaxUnwritable);
    } else if (current >= ceiling_) {
      maxLimit_ = ceilingCause(Reason::AtCeiling).with(Fact::Max, static_cast<double>(current));
    } else if (ceiling_ < binding.count + m.margin) {
      maxLimit_ = belowCount(binding);
    }
  }

  Cause belowCount(const NetnsObservation& binding) const {
    return ceilingCause(Reason::CeilingBelowCount, binding.netns)
        .with(Fact::Count, static_cast<double>(binding.count))
        .with(Fact::Margin, static_cast<double>(policy_.max.margin));
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
    const double horizonSec = seconds(horizon);
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
    fullInCooldownCause_ = cause(Reason::FullInCooldown, fullInCooldown_->netns)
                               .with(Fact::Growth, growth)
                               .with(Fact::Count, static_cast<double>(fullInCooldown_->count))
                               .with(Fact::Expected, growth * horizonSec)
                               .with(Fact::Max, static_cast<double>(obs_.max))
                               .with(Fact::Horizon, horizonSec)
                               .with(Fact::Cooldown, seconds(policy_.max.cooldown))
                               .with(Fact::Interval, seconds(policy_.controller.interval));
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

  // How a raise was sized: the rule that set the value, then the bounds that cut it.
  struct Sizing {
    std::int64_t to = 0;
    std::vector<Cause> steps;
  };

  // Size the raise so that every netns is back near target_fill after lookahead's growth; while
  // the kernel drops, at least kDropRaiseFactor times max. Then the bounds: count + margin,
  // baseline, effective ceiling, memory budget across namespaces.
  Sizing sizeRaise(const NetnsObservation& binding) {
    const auto& m = policy_.max;
    const double lookaheadSec = seconds(m.lookahead);
    const double target = m.targetFill.value > 0 ? m.targetFill.value : m.highWater.value;
    double wanted = 0;
    const NetnsObservation* byDemand = nullptr;
    for (const auto* ns : sorted_) {
      if (target <= 0) continue;
      const double growth = sizingGrowth(*ns);
      if (growth > std::max(0.0, finiteOrZero(ns->growthPerSec))) byDemand = ns;
      wanted = std::max(wanted, std::ceil((static_cast<double>(ns->count) + growth * lookaheadSec) / target));
    }
    Cause rule = cause(Reason::TargetFill, byDemand ? byDemand->netns : std::string())
                     .with(Fact::TargetFill, m.targetFill.value)
                     .with(Fact::Lookahead, lookaheadSec);
    if (byDemand) rule.with(Fact::Demand, byDemand->demandPerSec);
    Sizing s{toInt64(std::min(wanted, kInt64Limit)), {}};
    if (dropsNearFull_) {
      const std::int64_t doubled = toInt64(static_cast<double>(obs_.max) * kDropRaiseFactor);
      if (s.to < doubled) {
        s.to = doubled;
        rule = cause(Reason::DropsDouble).with(Fact::Factor, kDropRaiseFactor);
      }
    }
    const std::int64_t byCount = binding.count + m.margin;
    if (s.to < byCount) {
      s.to = byCount;
      rule = cause(Reason::CountMargin, binding.netns)
                 .with(Fact::Count, static_cast<double>(binding.count))
                 .with(Fact::Margin, static_cast<double>(m.margin));
    }
    if (s.to < obs_.baselineMax) {
      s.to = obs_.baselineMax;
      rule = cause(Reason::Baseline).with(Fact::Baseline, static_cast<double>(obs_.baselineMax));
    }
    s.steps.push_back(std::move(rule));
    if (s.to > ceiling_) {
      s.to = ceiling_;
      s.steps.push_back(ceilingCause(Reason::CeilingClamp));
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
    const double lookaheadSec = seconds(m.lookahead);
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
    const double outside = static_cast<double>(total - watched);
    const std::int64_t fits = largestMaxWithin(projected, static_cast<double>(budget) - outside);
    if (s.to <= fits) return;
    s.to = std::max(fits, obs_.baselineMax);  // never below the baseline (README Safety promise 3)
    // A few entries more is not worth a change: the budget is spent.
    if (s.to < obs_.max + m.margin) s.to = std::min(s.to, obs_.max);
    budgetLimit_ = ceilingCause(Reason::MemoryBudget)
                       .with(Fact::Budget, static_cast<double>(budget))
                       .with(Fact::Total, static_cast<double>(total))
                       .with(Fact::Unwatched, outside);
    budgetLimit_->namespaces = budgetHolders();
    Cause bounded = *budgetLimit_;
    bounded.code = Reason::BudgetBounded;
    s.steps.push_back(std::move(bounded));
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

  // The namespaces holding most of the budget, fullest first, with their counts.
  std::vector<std::pair<std::string, std::int64_t>> budgetHolders() const {
    std::vector<const NetnsObservation*> byCount(sorted_.begin(), sorted_.end());
    std::stable_sort(byCount.begin(), byCount.end(), [](const auto* a, const auto* b) { return a->count > b->count; });
    std::vector<std::pair<std::string, std::int64_t>> holders;
    for (const auto* ns : byCount) {
      if (ns->count > 0 && holders.size() < kHoldersShown) holders.emplace_back(ns->netns, ns->count);
    }
    return holders;
  }

  std::int64_t finishRaise(const Cause& trigger, Sizing s, const NetnsObservation& binding) {
    const std::int64_t current = obs_.max;
    // Whatever the baseline says (it comes from the journal, or from a checkpoint): a raise never
    // goes above min(ceiling, memory budget) (README Safety promise 3).
    if (const auto cap = std::min(policy_.max.ceiling, memoryCapEntries(policy_, obs_)); s.to > cap && s.to > current) {
      Cause bound = ceilingCause(Reason::BaselineAboveCap)
                        .with(Fact::Cap, static_cast<double>(cap))
                        .with(Fact::Baseline, static_cast<double>(obs_.baselineMax));
      if (cap <= current) {
        hold(ActionKind::RaiseMax, kMaxRef, {trigger}, std::move(bound));
        return current;
      }
      s.to = cap;
      s.steps.push_back(std::move(bound));
    }
    if (s.to <= current) {
      if (budgetLimit_) {
        maxLimit_ = budgetLimit_;
        hold(ActionKind::RaiseMax, kMaxRef, {trigger}, *budgetLimit_);
      } else if (maxLimit_) {
        hold(ActionKind::RaiseMax, kMaxRef, {trigger}, *maxLimit_);
      } else {
        plan_.notes.push_back(Note{ActionKind::RaiseMax,
                                   kMaxRef,
                                   {trigger},
                                   cause(Reason::AlreadyCovers).with(Fact::Max, static_cast<double>(current)),
                                   std::move(s.steps)});
      }
      return current;
    }
    if (s.to < binding.count + policy_.max.margin) {  // a ceiling below count + margin: never set max that low
      hold(ActionKind::RaiseMax, kMaxRef, {trigger},
           maxLimit_ ? *maxLimit_ : budgetLimit_.value_or(belowCount(binding)));
      return current;
    }
    if (auto why = tooOften(kMaxRef)) {
      hold(ActionKind::RaiseMax, kMaxRef, {trigger}, std::move(*why));
      return current;
    }
    // Drops are packets lost now, and a table that fills before the cooldown ends would lose them:
    // neither waits for the cooldown (the change window still holds).
    if (!drops_ && !fullInCooldown_) {
      if (auto why = inCooldown(lastChange(kMaxRef), policy_.max.cooldown)) {
        hold(ActionKind::RaiseMax, kMaxRef, {trigger}, std::move(*why));
        return current;
      }
    }
    std::vector<Cause> because{trigger};
    because.insert(because.end(), s.steps.begin(), s.steps.end());
    if (fullInCooldownCause_) because.push_back(*fullInCooldownCause_);
    act(ActionKind::RaiseMax, kMaxRef, current, s.to, std::move(because));
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

  static Cause chainsCause(Reason code, const NetnsObservation& chains) {
    return cause(code, chains.netns)
        .with(Fact::ChainTooLong, chains.chainTooLongPerSec)
        .with(Fact::InsertFailed, chains.insertFailedPerSec);
  }

  struct BucketWant {
    std::int64_t to = 0;
    std::vector<Cause> trigger;
    bool emergency = false;  // chaintoolong / insert_failed
  };

  void decideBuckets(std::int64_t maxAfter) {
    const auto& h = policy_.hashsize;
    const NetnsObservation* chains = worstChains();
    if (h.mode == HashsizePolicy::Mode::Fixed) {
      if (chains) hold(ActionKind::ResizeBuckets, kBucketsRef, {}, chainsCause(Reason::HashsizeFixed, *chains));
      return;
    }
    const std::int64_t current = obs_.buckets;
    if (current <= 0) {
      hold(ActionKind::ResizeBuckets, kBucketsRef, {},
           cause(Reason::BucketsUnknown).with(Fact::Buckets, static_cast<double>(current)));
      return;
    }
    const auto want = bucketWant(maxAfter, chains);
    if (!want) return;
    const auto& trigger = want->trigger;
    if (want->to <= current) {
      hold(ActionKind::ResizeBuckets, kBucketsRef, trigger,
           cause(Reason::BucketsAlready).with(Fact::Buckets, static_cast<double>(current)));
      return;
    }
    std::optional<Cause> why = leftAlone(kBucketsRef);
    if (!why) why = tooOften(kBucketsRef);
    if (!why) why = inCooldown(lastChange(kBucketsRef), h.minInterval);
    if (why) {
      hold(ActionKind::ResizeBuckets, kBucketsRef, trigger, std::move(*why));
      return;
    }
    auto stall = stallFits(*want);
    if (!stall) return;
    std::vector<Cause> because = trigger;
    because.push_back(std::move(*stall));
    act(ActionKind::ResizeBuckets, kBucketsRef, current, want->to, std::move(because));
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
      want.trigger.push_back(chainsCause(Reason::Chains, *chains));
    } else if (presize) {
      want.trigger.push_back(cause(Reason::Presize)
                                 .with(Fact::SizedFor, static_cast<double>(sizedFor))
                                 .with(Fact::EntriesPerBucket, static_cast<double>(perBucket)));
    } else {
      want.trigger.push_back(cause(Reason::BucketDrift)
                                 .with(Fact::Max, static_cast<double>(maxAfter))
                                 .with(Fact::Buckets, static_cast<double>(current))
                                 .with(Fact::Ratio, ratio)
                                 .with(Fact::Slack, kBucketSlack)
                                 .with(Fact::EntriesPerBucket, static_cast<double>(perBucket)));
    }
    want.to = roundUp(std::max(want.to, obs_.baselineBuckets), kBucketQuantum);
    // More buckets than entries buys nothing: cap at one bucket per entry of max (never shrinking).
    const std::int64_t cap = std::max({roundUp(sizedFor, kBucketQuantum), current, obs_.baselineBuckets});
    if (want.to > cap) {
      want.to = cap;
      want.trigger.push_back(cause(Reason::BucketCap).with(Fact::Cap, static_cast<double>(cap)));
    }
    if (want.to > memoryCap) {
      want.to = memoryCap;
      want.trigger.push_back(cause(Reason::MaxMemory)
                                 .with(Fact::MaxMemory, static_cast<double>(h.maxMemory))
                                 .with(Fact::Cap, static_cast<double>(memoryCap)));
    }
    return want;
  }

  // A resize rehashes every entry of every namespace under every bucket lock: every packet
  // through conntrack waits (README Safety promise 11). Estimate that stall from the entries and
  // the cost per entry ctpilot measured; over max_stall, no resize (an emergency only when the
  // policy allows it). Returns the estimate for the resize's reasons; nullopt (and a note) when
  // the resize must not happen.
  std::optional<Cause> stallFits(const BucketWant& want) {
    std::int64_t watched = 0;
    for (const auto* ns : sorted_) watched += ns->count;
    const std::int64_t entries = std::max(obs_.totalEntries, watched);
    const double nsPerEntry = std::max(0.0, finiteOrZero(obs_.resizeNsPerEntry));
    const double stallMs = static_cast<double>(entries) * nsPerEntry / 1e6;
    const auto& h = policy_.hashsize;
    const double boundMs = std::chrono::duration<double, std::milli>(h.maxStall).count();
    const auto estimate = [&](Reason code) {
      return cause(code)
          .with(Fact::StallMs, stallMs)
          .with(Fact::Entries, static_cast<double>(entries))
          .with(Fact::NsPerEntry, nsPerEntry)
          .with(Fact::MaxStall, seconds(h.maxStall));
    };
    if (stallMs <= boundMs) return estimate(Reason::StallFits);
    if (want.emergency && h.emergencyMayStall) return estimate(Reason::StallAllowed);
    hold(ActionKind::ResizeBuckets, kBucketsRef, want.trigger,
         estimate(Reason::StallTooLong)
             .with(Fact::From, static_cast<double>(obs_.buckets))
             .with(Fact::To, static_cast<double>(want.to))
             .with(Fact::Emergency, want.emergency ? 1.0 : 0.0));
    return std::nullopt;
  }

  void decideTimeouts() {
    const auto& t = policy_.timeouts;
    for (const auto* ns : sorted_) {
      if (shedUnanswered(*ns)) continue;
      const double fill = fillOf(ns->count, obs_.max);
      if (fill >= t.shortenAt.value || finiteOrZero(ns->dropsPerSec) > 0) {
        auto trigger = orderPressure(*ns);
        if (!trigger) continue;  // raising max comes first
        if (t.mode != TimeoutsPolicy::Mode::Shorten) {
          hold(ActionKind::ShortenTimeout, std::nullopt, std::move(*trigger), cause(Reason::TimeoutsOff));
          continue;
        }
        shorten(*ns, *trigger);
        continue;
      }
      const auto calm = history_.calmSince.find(ns->netns);
      if (calm == history_.calmSince.end() || fill >= t.relaxBelow.value) continue;
      const Duration calmFor = since(obs_.now, calm->second);
      if (calmFor < t.relaxAfter) continue;
      relax(*ns, {cause(Reason::Calm, ns->netns)
                      .with(Fact::Fill, fill)
                      .with(Fact::RelaxBelow, t.relaxBelow.value)
                      .with(Fact::CalmFor, seconds(calmFor))
                      .with(Fact::RelaxAfter, seconds(t.relaxAfter))});
    }
  }

  // Why `order` would be shortened in `ns` now: fill or drops press while max cannot go up
  // (the pressure, then why max cannot go up); nullopt: no reason.
  std::optional<std::vector<Cause>> orderPressure(const NetnsObservation& ns) const {
    const double fill = fillOf(ns.count, obs_.max);
    const double drops = finiteOrZero(ns.dropsPerSec);
    if (!maxLimit_ || (fill < policy_.timeouts.shortenAt.value && drops <= 0)) return std::nullopt;
    return std::vector<Cause>{
        drops > 0 ? cause(Reason::DropsAtLimit, ns.netns).with(Fact::Drops, drops).with(Fact::Fill, fill)
                  : cause(Reason::ShortenAt, ns.netns)
                        .with(Fact::Fill, fill)
                        .with(Fact::ShortenAt, policy_.timeouts.shortenAt.value),
        *maxLimit_};
  }

  // Why the timeouts of flows that never saw a reply should be shed in `ns` now; empty: no reason.
  // Earlier than `order`: the kernel evicting unassured entries (early drops), or growth that
  // reaches the effective ceiling within lookahead, while max may still go up.
  std::vector<Cause> shedTrigger(const NetnsObservation& ns) const {
    const double early = finiteOrZero(ns.earlyDropsPerSec);
    if (early > 0) return {cause(Reason::EarlyDrops, ns.netns).with(Fact::EarlyDrops, early)};
    if (auto pressure = orderPressure(ns)) return std::move(*pressure);
    const double growth = fastestGrowth(ns);
    const double lookaheadSec = seconds(policy_.max.lookahead);
    if (growth > 0 && static_cast<double>(ns.count) + growth * lookaheadSec >= static_cast<double>(ceiling_)) {
      return {cause(Reason::CeilingLookahead, ns.netns)
                  .with(Fact::Growth, growth)
                  .with(Fact::Ceiling, static_cast<double>(ceiling_))
                  .with(Fact::Lookahead, lookaheadSec)
                  .with(Fact::Count, static_cast<double>(ns.count))
                  .with(Fact::Expected, growth * lookaheadSec)};
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

  // Shedding ([timeouts] shed): in one step, every timeout of `shed` above its floor goes straight
  // to its floor, at most one step per shed_cooldown in a netns. Not halving: an entry keeps the
  // timeout it was given by its last packet, so what a flood adds between halving steps outlives
  // the next step (README "Shedding unanswered flows"). Returns true when `ns` is done for this
  // tick: a step taken or waiting for its cooldown, or the trigger holding with every shed timeout
  // at its floor while `order` has no reason to move (relaxing then would undo the shedding). The
  // trigger of a shedding step or note ends in `shed`, which tells it from shortening `order`.
  bool shedUnanswered(const NetnsObservation& ns) {
    const auto& t = policy_.timeouts;
    if (t.shed.empty()) return false;
    std::vector<Cause> trigger = shedTrigger(ns);
    if (trigger.empty()) return false;
    trigger.push_back(cause(Reason::Shed));
    std::vector<Action> steps;
    for (const Knob knob : t.shed) {
      const auto current = ns.timeouts.find(knob);
      const auto floor = t.floors.find(knob);
      if (current == ns.timeouts.end() || floor == t.floors.end() || current->second <= floor->second) continue;
      const KnobRef ref{ns.netns, knob};
      std::optional<Cause> why = leftAlone(ref);
      if (!why) why = tooOften(ref);
      if (why) {
        hold(ActionKind::ShortenTimeout, ref, trigger, std::move(*why));
        continue;
      }
      Cause step = cause(Reason::ShedStep)
                       .with(Fact::From, static_cast<double>(current->second))
                       .with(Fact::To, static_cast<double>(floor->second));
      steps.push_back(Action{ActionKind::ShortenTimeout, ref, current->second, floor->second,
                             stepCauses(trigger, std::move(step), knob)});
    }
    if (steps.empty()) return !orderPressure(ns);
    if (auto cooling = inCooldown(lastShed(ns.netns), t.shedCooldown)) {
      cooling->code = Reason::ShedCooldown;
      cooling->netns = ns.netns;
      hold(ActionKind::ShortenTimeout, std::nullopt, std::move(trigger), std::move(*cooling));
      return true;
    }
    for (auto& step : steps) plan_.actions.push_back(std::move(step));
    return true;
  }

  bool validFactor(ActionKind kind) {
    const double f = policy_.timeouts.factor;
    if (f > 0 && f < 1) return true;
    hold(kind, std::nullopt, {}, cause(Reason::BadFactor).with(Fact::Factor, f));
    return false;
  }

  void shorten(const NetnsObservation& ns, const std::vector<Cause>& trigger) {
    const auto& t = policy_.timeouts;
    if (!validFactor(ActionKind::ShortenTimeout)) return;
    if (ns.timeouts.empty()) {
      hold(ActionKind::ShortenTimeout, std::nullopt, trigger, cause(Reason::NoTimeouts, ns.netns));
      return;
    }
    for (const Knob knob : t.order) {
      const auto current = ns.timeouts.find(knob);
      if (current == ns.timeouts.end()) continue;
      const KnobRef ref{ns.netns, knob};
      const auto floor = t.floors.find(knob);
      if (floor == t.floors.end()) {
        hold(ActionKind::ShortenTimeout, ref, {}, cause(Reason::NoFloor));
        continue;
      }
      if (current->second <= floor->second) continue;
      const std::int64_t to =
          std::max(floor->second, toInt64(std::floor(static_cast<double>(current->second) * t.factor)));
      if (to >= current->second) continue;
      const auto wait = timeoutWait(ActionKind::ShortenTimeout, ref, trigger);
      if (wait == Wait::ThisKnob) continue;
      if (wait == Wait::ThisNetns) return;
      actStep(ActionKind::ShortenTimeout, ref, current->second, to, {Fact::Floor, floor->second}, trigger);
      return;
    }
    hold(ActionKind::ShortenTimeout, std::nullopt, trigger, cause(Reason::AllAtFloor, ns.netns));
  }

  // Changes a timeout by one step: its reasons are the trigger's, then the step (from, factor,
  // to, and `bound`: the floor a shortening stops at, or the baseline relaxing goes back to).
  void actStep(ActionKind kind, const KnobRef& ref, std::int64_t from, std::int64_t to,
               std::pair<Fact, std::int64_t> bound, const std::vector<Cause>& trigger) {
    Cause step = cause(kind == ActionKind::ShortenTimeout ? Reason::ShortenStep : Reason::RelaxStep)
                     .with(Fact::From, static_cast<double>(from))
                     .with(Fact::Factor, policy_.timeouts.factor)
                     .with(Fact::To, static_cast<double>(to))
                     .with(bound.first, static_cast<double>(bound.second));
    act(kind, ref, from, to, stepCauses(trigger, std::move(step), ref.knob));
  }

  // The reasons of one timeout step: `trigger`, then `step` (about `knob`).
  static std::vector<Cause> stepCauses(const std::vector<Cause>& trigger, Cause step, Knob knob) {
    step.knob = knob;
    std::vector<Cause> because = trigger;
    because.push_back(std::move(step));
    return because;
  }

  enum class Wait { No, ThisKnob, ThisNetns };

  // Whether a timeout of `ref` may change now (`kind`: shorten or relax), noting why not: a
  // knob left alone or changed too often waits alone; the cooldown holds its netns.
  Wait timeoutWait(ActionKind kind, const KnobRef& ref, const std::vector<Cause>& trigger) {
    std::optional<Cause> why = leftAlone(ref);
    if (!why) why = tooOften(ref);
    if (why) {
      hold(kind, ref, trigger, std::move(*why));
      return Wait::ThisKnob;
    }
    // One step per netns per cooldown, whichever timeout moved last: give the table time to drain.
    if (auto cooling = inCooldown(lastTimeoutChange(ref.netns), policy_.timeouts.cooldown)) {
      hold(kind, ref, trigger, std::move(*cooling));
      return Wait::ThisNetns;
    }
    return Wait::No;
  }

  void relax(const NetnsObservation& ns, const std::vector<Cause>& trigger) {
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
      if (!validFactor(ActionKind::RelaxTimeout)) return;
      const KnobRef ref{ns.netns, knob};
      const double stepped = std::ceil(static_cast<double>(current->second) / t.factor);
      const std::int64_t to =
          std::min(baseline->second, std::max(current->second + 1, toInt64(std::min(stepped, kInt64Limit))));
      const auto wait = timeoutWait(ActionKind::RelaxTimeout, ref, trigger);
      if (wait == Wait::ThisKnob) continue;
      if (wait == Wait::ThisNetns) return;
      actStep(ActionKind::RelaxTimeout, ref, current->second, to, {Fact::Baseline, baseline->second}, trigger);
      return;
    }
  }

  const Policy& policy_;
  const Observation& obs_;
  const History& history_;
  const std::int64_t ceiling_;
  std::vector<const NetnsObservation*> sorted_;
  std::optional<Cause> maxLimit_;     // set when nf_conntrack_max cannot go up any further, and why
  std::optional<Cause> budgetLimit_;  // set when the memory budget across namespaces held a raise back
  bool drops_ = false;                // some namespace drops packets now
  bool dropsNearFull_ = false;        // ...and its count is at high_water or above (not a stale counter)
  const NetnsObservation* fullInCooldown_ = nullptr;  // fills before a raise after the cooldown could
  std::optional<Cause> fullInCooldownCause_;          // why, for the raise's reasons
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
