// SPDX-License-Identifier: Apache-2.0
#include "policy/reason.h"

#include <array>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "policy/observation.h"
#include "policy/units.h"

namespace ctpilot::policy {
namespace {

struct ReasonRow {
  std::string_view code;
  std::string_view joiner;
};

constexpr std::array kReasons{
#define CTPILOT_REASON_ROW(name, code, joiner) ReasonRow{code, joiner},
    CTPILOT_REASONS(CTPILOT_REASON_ROW)
#undef CTPILOT_REASON_ROW
};

constexpr std::array kFactKeys{
#define CTPILOT_FACT_ROW(name, key) std::string_view(key),
    CTPILOT_FACTS(CTPILOT_FACT_ROW)
#undef CTPILOT_FACT_ROW
};

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
    (void)std::vsnprintf(out.data(), out.size() + 1, fmt, copy);
  }
  va_end(copy);
  return out;
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

// "4M", "256k" when exact (k = 1024, as in policy files), the plain number otherwise.
std::string countText(long long n) {
  constexpr long long kK = 1024;
  if (n != 0 && n % (kK * kK) == 0) return format("%lldM", n / (kK * kK));
  if (n != 0 && n % kK == 0) return format("%lldk", n / kK);
  return format("%lld", n);
}

std::string bytesText(long long n) {
  const double b = static_cast<double>(n);
  if (b >= 1024.0 * 1024 * 1024) return format("%.1f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return format("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return format("%.1f KiB", b / 1024.0);
  return format("%lld B", n);
}

std::string rateText(double perSec) {
  if (perSec >= 1000 || perSec <= -1000) return format("%.0f/s", perSec);
  return format("%.3g/s", perSec);
}

// Reads the numbers of one cause in the units its words use.
class Facts {
 public:
  explicit Facts(const Cause& cause) : cause_(cause) {}
  double real(Fact fact) const { return cause_.get(fact).value_or(0.0); }
  long long whole(Fact fact) const { return std::llround(real(fact)); }
  std::string duration(Fact fact) const { return durationText(Duration(std::llround(real(fact) * 1000.0))); }
  std::string rate(Fact fact) const { return rateText(real(fact)); }
  const char* netns() const { return cause_.netns.c_str(); }
  bool has(Fact fact) const { return cause_.get(fact).has_value(); }

 private:
  const Cause& cause_;
};

// "ceiling 4M, memory budget 25% of 16.0 GiB / 320 B[, memory unknown][, baseline N]"
std::string ceilingText(const Facts& f) {
  std::string text =
      format("ceiling %s, memory budget %.4g%% of %s / %lld B", countText(f.whole(Fact::PolicyCeiling)).c_str(),
             f.real(Fact::MemoryBudget) * 100.0, bytesText(f.whole(Fact::MemTotal)).c_str(), f.whole(Fact::EntryBytes));
  if (f.whole(Fact::MemTotal) <= 0 || f.whole(Fact::EntryBytes) <= 0) text += ", memory unknown";
  if (f.has(Fact::Baseline)) text += format(", baseline %lld", f.whole(Fact::Baseline));
  return text;
}

std::string budgetText(const Cause& c, const Facts& f) {
  std::string holders;
  for (const auto& [name, count] : c.namespaces) {
    holders += (holders.empty() ? "" : ", ") + format("%s %lld", name.c_str(), static_cast<long long>(count));
  }
  if (f.whole(Fact::Unwatched) > 0) {
    holders += (holders.empty() ? "" : ", ") + format("unwatched namespaces %lld", f.whole(Fact::Unwatched));
  }
  if (holders.empty()) holders = "no entries";
  return format("the memory budget %lld entries for all namespaces together (%s): %lld held now (%s)",
                f.whole(Fact::Budget), ceilingText(f).c_str(), f.whole(Fact::Total), holders.c_str());
}

std::string stallText(const Facts& f) {
  return format("estimated stall %.1f ms (%lld entries x %.2f us)", f.real(Fact::StallMs), f.whole(Fact::Entries),
                f.real(Fact::NsPerEntry) / 1000.0);
}

std::string cooldownText(const Facts& f, const char* key) {
  return format("the last change was %s ago (%s %s)", f.duration(Fact::Elapsed).c_str(), key,
                f.duration(Fact::Cooldown).c_str());
}

std::string timeoutName(const Cause& c) { return c.knob ? std::string(policyName(*c.knob)) : std::string("timeout"); }

// long: one case per reason code, each a single sentence; splitting it would scatter the wording
std::string phrase(const Cause& c) {
  const Facts f(c);
  switch (c.code) {
    case Reason::NoNetns: return "no network namespace observed: nothing to decide";
    case Reason::MaxUnknown:
      return format("nf_conntrack_max is %lld (nf_conntrack not loaded?): nothing to decide", f.whole(Fact::Max));
    case Reason::UnwatchedNamespaces:
      return format(
          "namespaces outside the watched set hold %lld entries, more than the fullest watched one (%lld in "
          "%s): one of them may fill first; [controller] netns = all watches them",
          f.whole(Fact::Unwatched), f.whole(Fact::Count), f.netns());
    case Reason::Drops:
      return format("drops %s%s in %s: table full (count %lld, max %lld, fill %.2f)", f.rate(Fact::Drops).c_str(),
                    f.real(Fact::EarlyDrops) > 0 ? (", early drops " + f.rate(Fact::EarlyDrops)).c_str() : "",
                    f.netns(), f.whole(Fact::Count), f.whole(Fact::Max), f.real(Fact::Fill));
    case Reason::HighWater:
      return format("fill %.2f >= high_water %.2f in %s (count %lld, max %lld, growth %s)", f.real(Fact::Fill),
                    f.real(Fact::HighWater), f.netns(), f.whole(Fact::Count), f.whole(Fact::Max),
                    f.rate(Fact::Growth).c_str());
    case Reason::Lookahead:
      return format(
          "growth %s in %s reaches high_water %.2f within lookahead %s (count %lld + %.0f >= %.0f of max "
          "%lld)",
          f.rate(Fact::Growth).c_str(), f.netns(), f.real(Fact::HighWater), f.duration(Fact::Lookahead).c_str(),
          f.whole(Fact::Count), f.real(Fact::Expected), f.real(Fact::Threshold), f.whole(Fact::Max));
    case Reason::TargetFill: {
      std::string text = format("sized for target_fill %.2f after lookahead %s", f.real(Fact::TargetFill),
                                f.duration(Fact::Lookahead).c_str());
      if (!c.netns.empty()) {
        text += format(" at the demand the kernel counted in %s (%s: count change + drop + early_drop)", f.netns(),
                       f.rate(Fact::Demand).c_str());
      }
      return text;
    }
    case Reason::DropsDouble: return format("x%.0f while the kernel drops", f.real(Fact::Factor));
    case Reason::CountMargin:
      return format("count %lld + margin %lld in %s", f.whole(Fact::Count), f.whole(Fact::Margin), f.netns());
    case Reason::Baseline: return format("baseline %lld", f.whole(Fact::Baseline));
    case Reason::CeilingClamp:
      return format("effective ceiling %lld (%s)", f.whole(Fact::Ceiling), ceilingText(f).c_str());
    case Reason::BaselineAboveCap:
      return format("min(ceiling, memory budget) %lld (%s), below the baseline %lld", f.whole(Fact::Cap),
                    ceilingText(f).c_str(), f.whole(Fact::Baseline));
    case Reason::BudgetBounded:
    case Reason::MemoryBudget: return budgetText(c, f);
    case Reason::FullInCooldown:
      return format(
          "growth %s in %s fills the table before a raise after the cooldown could (count %lld + %.0f >= max "
          "%lld within %s: the rest of cooldown %s plus one interval %s)",
          f.rate(Fact::Growth).c_str(), f.netns(), f.whole(Fact::Count), f.real(Fact::Expected), f.whole(Fact::Max),
          f.duration(Fact::Horizon).c_str(), f.duration(Fact::Cooldown).c_str(), f.duration(Fact::Interval).c_str());
    case Reason::MaxDisabled: return "[max] enabled = false";
    case Reason::MaxUnwritable: return "nf_conntrack_max is not writable here";
    case Reason::AtCeiling:
      return format("nf_conntrack_max %lld is at its effective ceiling %lld (%s)", f.whole(Fact::Max),
                    f.whole(Fact::Ceiling), ceilingText(f).c_str());
    case Reason::CeilingBelowCount:
      return format("effective ceiling %lld (%s) is below count %lld + margin %lld in %s", f.whole(Fact::Ceiling),
                    ceilingText(f).c_str(), f.whole(Fact::Count), f.whole(Fact::Margin), f.netns());
    case Reason::AlreadyCovers: return format("%lld already covers what is needed", f.whole(Fact::Max));
    case Reason::Chains:
      return format("chaintoolong %s, insert_failed %s in %s: hash chains too long, at least doubling",
                    f.rate(Fact::ChainTooLong).c_str(), f.rate(Fact::InsertFailed).c_str(), f.netns());
    case Reason::Presize:
      return format("presized for effective ceiling %lld / entries_per_bucket %lld while the table is small",
                    f.whole(Fact::SizedFor), f.whole(Fact::EntriesPerBucket));
    case Reason::BucketDrift:
      return format("nf_conntrack_max %lld / buckets %lld = %.1f > %.0f x entries_per_bucket %lld: sized to max / %lld",
                    f.whole(Fact::Max), f.whole(Fact::Buckets), f.real(Fact::Ratio), f.real(Fact::Slack),
                    f.whole(Fact::EntriesPerBucket), f.whole(Fact::EntriesPerBucket));
    case Reason::BucketCap: return format("capped at one bucket per entry (%lld)", f.whole(Fact::Cap));
    case Reason::MaxMemory:
      return format("bounded by max_memory %s (%lld buckets of 8 B)", bytesText(f.whole(Fact::MaxMemory)).c_str(),
                    f.whole(Fact::Cap));
    case Reason::StallFits: return stallText(f) + " <= max_stall " + f.duration(Fact::MaxStall);
    case Reason::StallAllowed:
      return stallText(f) + " > max_stall " + f.duration(Fact::MaxStall) + ", allowed by emergency_may_stall";
    case Reason::HashsizeFixed:
      return format("chaintoolong %s, insert_failed %s in %s, but [hashsize] mode = fixed: not resizing",
                    f.rate(Fact::ChainTooLong).c_str(), f.rate(Fact::InsertFailed).c_str(), f.netns());
    case Reason::BucketsUnknown:
      return format("nf_conntrack_buckets is %lld (unknown): not resizing", f.whole(Fact::Buckets));
    case Reason::BucketsAlready: return format("already %lld", f.whole(Fact::Buckets));
    case Reason::StallTooLong:
      return stallText(f) + " > max_stall " + f.duration(Fact::MaxStall) +
             "; every packet through conntrack would wait that long" +
             (f.real(Fact::Emergency) != 0 ? " (emergency_may_stall = false)" : "");
    case Reason::DropsAtLimit:
      return format("drops %s in %s (fill %.2f)", f.rate(Fact::Drops).c_str(), f.netns(), f.real(Fact::Fill));
    case Reason::ShortenAt:
      return format("fill %.2f >= shorten_at %.2f in %s", f.real(Fact::Fill), f.real(Fact::ShortenAt), f.netns());
    case Reason::ShortenStep:
      return format("%s %llds x %g = %llds (floor %llds)", timeoutName(c).c_str(), f.whole(Fact::From),
                    f.real(Fact::Factor), f.whole(Fact::To), f.whole(Fact::Floor));
    case Reason::Calm:
      return format("fill %.2f < relax_below %.2f in %s for %s (relax_after %s)", f.real(Fact::Fill),
                    f.real(Fact::RelaxBelow), f.netns(), f.duration(Fact::CalmFor).c_str(),
                    f.duration(Fact::RelaxAfter).c_str());
    case Reason::RelaxStep:
      return format("%s %llds / %g = %llds toward baseline %llds", timeoutName(c).c_str(), f.whole(Fact::From),
                    f.real(Fact::Factor), f.whole(Fact::To), f.whole(Fact::Baseline));
    case Reason::EarlyDrops:
      return format("early drops %s in %s: the kernel evicts flows that never saw a reply to admit new ones",
                    f.rate(Fact::EarlyDrops).c_str(), f.netns());
    case Reason::CeilingLookahead:
      return format("growth %s in %s reaches the effective ceiling %lld within lookahead %s (count %lld + %.0f)",
                    f.rate(Fact::Growth).c_str(), f.netns(), f.whole(Fact::Ceiling),
                    f.duration(Fact::Lookahead).c_str(), f.whole(Fact::Count), f.real(Fact::Expected));
    case Reason::Shed: return "shedding flows that never saw a reply";
    case Reason::ShedStep:
      return format("%s %llds -> %llds (its floor)", timeoutName(c).c_str(), f.whole(Fact::From), f.whole(Fact::To));
    case Reason::TimeoutsOff: return "[timeouts] mode = off";
    case Reason::BadFactor: return format("factor %g is not in (0, 1)", f.real(Fact::Factor));
    case Reason::NoTimeouts: return format("no timeouts observed in %s", f.netns());
    case Reason::NoFloor: return "no floor in [timeout_floors]";
    case Reason::AllAtFloor: return format("every timeout in order is at its floor in %s", f.netns());
    case Reason::ShedCooldown: return cooldownText(f, "shed_cooldown");
    case Reason::Unwritable: return "it is not writable here";
    case Reason::External: return "it was changed by someone else and an operator has the last word";
    case Reason::Hold: return "it is held by rollback for another " + f.duration(Fact::Remaining);
    case Reason::OscillationGuard:
      return format("oscillation guard: it changed %lld times within change_window %s (max_changes %lld)",
                    f.whole(Fact::Changes), f.duration(Fact::ChangeWindow).c_str(), f.whole(Fact::MaxChanges));
    case Reason::Cooldown: return cooldownText(f, "cooldown");
  }
  return std::string(reasonCode(c.code));
}

const char* verbing(ActionKind kind) {
  switch (kind) {
    case ActionKind::RaiseMax: return "raising";
    case ActionKind::ResizeBuckets: return "resizing";
    case ActionKind::ShortenTimeout: return "shortening";
    case ActionKind::RelaxTimeout: return "relaxing";
  }
  return "changing";
}

// The policy key a cooldown note names: each kind of change has its own.
const char* cooldownKey(ActionKind kind) {
  switch (kind) {
    case ActionKind::RaiseMax: return "cooldown";
    case ActionKind::ResizeBuckets: return "min_interval";
    case ActionKind::ShortenTimeout:
    case ActionKind::RelaxTimeout: return "timeouts cooldown";
  }
  return "cooldown";
}

bool timeoutKind(ActionKind kind) { return kind == ActionKind::ShortenTimeout || kind == ActionKind::RelaxTimeout; }

// Why a change was held back, in the words that follow "not raising ... (trigger): ".
std::string whyText(const Note& note, ActionKind held) {
  const Facts f(note.why);
  switch (note.why.code) {
    case Reason::MaxDisabled: return phrase(note.why) + ", observing only";
    case Reason::AlreadyCovers: return phrase(note.why) + " (" + causesText(note.sized) + ")";
    case Reason::Cooldown: return cooldownText(f, cooldownKey(held));
    default: return phrase(note.why);
  }
}

}  // namespace

std::string_view reasonCode(Reason reason) { return kReasons.at(static_cast<std::size_t>(reason)).code; }

std::string_view factKey(Fact fact) { return kFactKeys.at(static_cast<std::size_t>(fact)); }

Cause& Cause::with(Fact fact, double value) {
  facts.emplace_back(fact, value);
  return *this;
}

std::optional<double> Cause::get(Fact fact) const {
  for (const auto& [key, value] : facts) {
    if (key == fact) return value;
  }
  return std::nullopt;
}

std::string causesText(const std::vector<Cause>& causes) {
  std::string text;
  for (const auto& cause : causes) {
    if (!text.empty()) text += kReasons.at(static_cast<std::size_t>(cause.code)).joiner;
    text += phrase(cause);
  }
  return text;
}

std::string reasonText(const Action& action) { return causesText(action.because); }

std::string noteText(const Note& note) {
  if (!note.held) return phrase(note.why);
  const ActionKind held = *note.held;
  if (note.why.code == Reason::HashsizeFixed || note.why.code == Reason::BucketsUnknown) return phrase(note.why);
  // A trigger that ends in `shed` is shedding's: "not shedding ...", the marker itself unsaid.
  std::vector<Cause> trigger = note.trigger;
  const bool shedding = !trigger.empty() && trigger.back().code == Reason::Shed;
  if (shedding) trigger.pop_back();
  std::string text = std::string("not ") + (shedding ? "shedding" : verbing(held)) + " ";
  if (timeoutKind(held)) {
    const bool inNetns = shedding && !note.why.netns.empty();
    text += note.ref ? refName(*note.ref) : inNetns ? "timeouts in " + note.why.netns : std::string("timeouts");
  } else {
    text += note.ref ? std::string(kernelName(note.ref->knob)) : std::string("nf_conntrack_max");
  }
  if (note.why.code == Reason::Cooldown || note.why.code == Reason::ShedCooldown) text += " yet";
  if (note.why.code == Reason::StallTooLong) {
    const Facts f(note.why);
    text += format(" %lld -> %lld", f.whole(Fact::From), f.whole(Fact::To));
  }
  if (!trigger.empty()) text += " (" + causesText(trigger) + ")";
  return text + ": " + whyText(note, held);
}

}  // namespace ctpilot::policy
