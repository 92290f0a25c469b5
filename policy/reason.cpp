// SPDX-License-Identifier: Apache-2.0
#include "policy/reason.h"

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "policy/observation.h"
#include "policy/policy_keys.h"
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

// "10s", "15m", "2h", "4.5s", "500ms": exact units where they divide, else tenths of seconds.
std::string durationText(Duration d) {
  const long long ms = d.count();
  if (ms < 0) return "-" + durationText(Duration(-ms));
  if (ms % 1000 != 0) {
    return ms < 1000 ? fmt::format("{}ms", ms) : fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  }
  const long long s = ms / 1000;
  if (s == 0) return "0s";
  if (s % 86400 == 0) return fmt::format("{}d", s / 86400);
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

// "4M", "256k" when exact (k = 1024, as in policy files), the plain number otherwise.
std::string countText(long long n) {
  constexpr long long kK = 1024;
  if (n != 0 && n % (kK * kK) == 0) return fmt::format("{}M", n / (kK * kK));
  if (n != 0 && n % kK == 0) return fmt::format("{}k", n / kK);
  return fmt::format("{}", n);
}

std::string rateText(double perSec) {
  if (perSec >= 1000 || perSec <= -1000) return fmt::format("{:.0f}/s", perSec);
  return fmt::format("{:.3g}/s", perSec);
}

// Reads the numbers of one cause in the units its words use.
class Facts {
 public:
  explicit Facts(const Cause& cause) : cause_(cause) {}
  double real(Fact fact) const { return cause_.get(fact).value_or(0.0); }
  long long whole(Fact fact) const { return std::llround(real(fact)); }
  std::string duration(Fact fact) const { return durationText(Duration(std::llround(real(fact) * 1000.0))); }
  std::string rate(Fact fact) const { return rateText(real(fact)); }
  const std::string& netns() const { return cause_.netns; }
  bool has(Fact fact) const { return cause_.get(fact).has_value(); }

 private:
  const Cause& cause_;
};

// "ceiling 4M, memory budget 25% of 16.0 GiB / 320 B[, memory unknown][, baseline N]"
std::string ceilingText(const Facts& f) {
  std::string text =
      fmt::format("ceiling {}, memory budget {:.4g}% of {} / {} B", countText(f.whole(Fact::PolicyCeiling)),
                  f.real(Fact::MemoryBudget) * 100.0, formatBytes(f.whole(Fact::MemTotal)), f.whole(Fact::EntryBytes));
  if (f.whole(Fact::MemTotal) <= 0 || f.whole(Fact::EntryBytes) <= 0) text += ", memory unknown";
  if (f.has(Fact::Baseline)) text += fmt::format(", baseline {}", f.whole(Fact::Baseline));
  return text;
}

std::string budgetText(const Cause& c, const Facts& f) {
  std::string holders;
  for (const auto& [name, count] : c.namespaces) {
    holders += (holders.empty() ? "" : ", ") + fmt::format("{} {}", name, static_cast<long long>(count));
  }
  if (f.whole(Fact::Unwatched) > 0) {
    holders += (holders.empty() ? "" : ", ") + fmt::format("unwatched namespaces {}", f.whole(Fact::Unwatched));
  }
  if (holders.empty()) holders = "no entries";
  return fmt::format("the memory budget {} entries for all namespaces together ({}): {} held now ({})",
                     f.whole(Fact::Budget), ceilingText(f), f.whole(Fact::Total), holders);
}

std::string stallText(const Facts& f) {
  return fmt::format("estimated stall {:.1f} ms ({} entries x {:.2f} us)", f.real(Fact::StallMs),
                     f.whole(Fact::Entries), f.real(Fact::NsPerEntry) / 1000.0);
}

std::string cooldownText(const Facts& f, std::string_view key) {
  return fmt::format("the last change was {} ago ({} {})", f.duration(Fact::Elapsed), key, f.duration(Fact::Cooldown));
}

std::string timeoutName(const Cause& c) { return c.knob ? std::string(policyName(*c.knob)) : std::string("timeout"); }

// long: one case per reason code, each a single sentence; splitting it would scatter the wording
std::string phrase(const Cause& c) {
  const Facts f(c);
  switch (c.code) {
    case Reason::NoNetns: return "no network namespace observed: nothing to decide";
    case Reason::MaxUnknown:
      return fmt::format("nf_conntrack_max is {} (nf_conntrack not loaded?): nothing to decide", f.whole(Fact::Max));
    case Reason::UnwatchedNamespaces:
      return fmt::format(
          "namespaces outside the watched set hold {} entries, more than the fullest watched one ({} in "
          "{}): one of them may fill first; [controller] netns = all watches them",
          f.whole(Fact::Unwatched), f.whole(Fact::Count), f.netns());
    case Reason::Drops:
      return fmt::format("drops {}{} in {}: table full (count {}, max {}, fill {:.2f})", f.rate(Fact::Drops),
                         f.real(Fact::EarlyDrops) > 0 ? (", early drops " + f.rate(Fact::EarlyDrops)) : "", f.netns(),
                         f.whole(Fact::Count), f.whole(Fact::Max), f.real(Fact::Fill));
    case Reason::HighWater:
      return fmt::format("fill {:.2f} >= high_water {:.2f} in {} (count {}, max {}, growth {})", f.real(Fact::Fill),
                         f.real(Fact::HighWater), f.netns(), f.whole(Fact::Count), f.whole(Fact::Max),
                         f.rate(Fact::Growth));
    case Reason::Lookahead:
      return fmt::format(
          "growth {} in {} reaches high_water {:.2f} within lookahead {} (count {} + {:.0f} >= {:.0f} of max "
          "{})",
          f.rate(Fact::Growth), f.netns(), f.real(Fact::HighWater), f.duration(Fact::Lookahead), f.whole(Fact::Count),
          f.real(Fact::Expected), f.real(Fact::Threshold), f.whole(Fact::Max));
    case Reason::TargetFill: {
      std::string text = fmt::format("sized for target_fill {:.2f} after lookahead {}", f.real(Fact::TargetFill),
                                     f.duration(Fact::Lookahead));
      if (!c.netns.empty()) {
        text += fmt::format(" at the demand the kernel counted in {} ({}: count change + drop + early_drop)", f.netns(),
                            f.rate(Fact::Demand));
      }
      return text;
    }
    case Reason::DropsDouble: return fmt::format("x{:.0f} while the kernel drops", f.real(Fact::Factor));
    case Reason::CountMargin:
      return fmt::format("count {} + margin {} in {}", f.whole(Fact::Count), f.whole(Fact::Margin), f.netns());
    case Reason::Baseline: return fmt::format("baseline {}", f.whole(Fact::Baseline));
    case Reason::CeilingClamp: return fmt::format("effective ceiling {} ({})", f.whole(Fact::Ceiling), ceilingText(f));
    case Reason::BaselineAboveCap:
      return fmt::format("min(ceiling, memory budget) {} ({}), below the baseline {}", f.whole(Fact::Cap),
                         ceilingText(f), f.whole(Fact::Baseline));
    case Reason::BudgetBounded:
    case Reason::MemoryBudget: return budgetText(c, f);
    case Reason::FullInCooldown:
      return fmt::format(
          "growth {} in {} fills the table before a raise after the cooldown could (count {} + {:.0f} >= max "
          "{} within {}: the rest of cooldown {} plus one interval {})",
          f.rate(Fact::Growth), f.netns(), f.whole(Fact::Count), f.real(Fact::Expected), f.whole(Fact::Max),
          f.duration(Fact::Horizon), f.duration(Fact::Cooldown), f.duration(Fact::Interval));
    case Reason::MaxDisabled: return "[max] enabled = false";
    case Reason::MaxUnwritable: return "nf_conntrack_max is not writable here";
    case Reason::AtCeiling:
      return fmt::format("nf_conntrack_max {} is at its effective ceiling {} ({})", f.whole(Fact::Max),
                         f.whole(Fact::Ceiling), ceilingText(f));
    case Reason::CeilingBelowCount:
      return fmt::format("effective ceiling {} ({}) is below count {} + margin {} in {}", f.whole(Fact::Ceiling),
                         ceilingText(f), f.whole(Fact::Count), f.whole(Fact::Margin), f.netns());
    case Reason::AlreadyCovers: return fmt::format("{} already covers what is needed", f.whole(Fact::Max));
    case Reason::Chains:
      return fmt::format("chaintoolong {}, insert_failed {} in {}: hash chains too long, at least doubling",
                         f.rate(Fact::ChainTooLong), f.rate(Fact::InsertFailed), f.netns());
    case Reason::Presize:
      return fmt::format("presized for effective ceiling {} / entries_per_bucket {} while the table is small",
                         f.whole(Fact::SizedFor), f.whole(Fact::EntriesPerBucket));
    case Reason::BucketDrift:
      return fmt::format(
          "nf_conntrack_max {} / buckets {} = {:.1f} > {:.0f} x entries_per_bucket {}: sized to max / {}",
          f.whole(Fact::Max), f.whole(Fact::Buckets), f.real(Fact::Ratio), f.real(Fact::Slack),
          f.whole(Fact::EntriesPerBucket), f.whole(Fact::EntriesPerBucket));
    case Reason::BucketCap: return fmt::format("capped at one bucket per entry ({})", f.whole(Fact::Cap));
    case Reason::MaxMemory:
      return fmt::format("bounded by max_memory {} ({} buckets of 8 B)", formatBytes(f.whole(Fact::MaxMemory)),
                         f.whole(Fact::Cap));
    case Reason::StallFits: return stallText(f) + " <= max_stall " + f.duration(Fact::MaxStall);
    case Reason::StallAllowed:
      return stallText(f) + " > max_stall " + f.duration(Fact::MaxStall) + ", allowed by emergency_may_stall";
    case Reason::HashsizeFixed:
      return fmt::format("chaintoolong {}, insert_failed {} in {}, but [hashsize] mode = fixed: not resizing",
                         f.rate(Fact::ChainTooLong), f.rate(Fact::InsertFailed), f.netns());
    case Reason::BucketsUnknown:
      return fmt::format("nf_conntrack_buckets is {} (unknown): not resizing", f.whole(Fact::Buckets));
    case Reason::BucketsAlready: return fmt::format("already {}", f.whole(Fact::Buckets));
    case Reason::StallTooLong:
      return stallText(f) + " > max_stall " + f.duration(Fact::MaxStall) +
             "; every packet through conntrack would wait that long" +
             (f.real(Fact::Emergency) != 0 ? " (emergency_may_stall = false)" : "");
    case Reason::DropsAtLimit:
      return fmt::format("drops {} in {} (fill {:.2f})", f.rate(Fact::Drops), f.netns(), f.real(Fact::Fill));
    case Reason::ShortenAt:
      return fmt::format("fill {:.2f} >= shorten_at {:.2f} in {}", f.real(Fact::Fill), f.real(Fact::ShortenAt),
                         f.netns());
    case Reason::ShortenStep:
      return fmt::format("{} {}s x {:g} = {}s (floor {}s)", timeoutName(c), f.whole(Fact::From), f.real(Fact::Factor),
                         f.whole(Fact::To), f.whole(Fact::Floor));
    case Reason::Calm:
      return fmt::format("fill {:.2f} < relax_below {:.2f} in {} for {} (relax_after {})", f.real(Fact::Fill),
                         f.real(Fact::RelaxBelow), f.netns(), f.duration(Fact::CalmFor), f.duration(Fact::RelaxAfter));
    case Reason::RelaxStep:
      return fmt::format("{} {}s / {:g} = {}s toward baseline {}s", timeoutName(c), f.whole(Fact::From),
                         f.real(Fact::Factor), f.whole(Fact::To), f.whole(Fact::Baseline));
    case Reason::EarlyDrops:
      return fmt::format("early drops {} in {}: the kernel evicts flows that never saw a reply to admit new ones",
                         f.rate(Fact::EarlyDrops), f.netns());
    case Reason::CeilingLookahead:
      return fmt::format("growth {} in {} reaches the effective ceiling {} within lookahead {} (count {} + {:.0f})",
                         f.rate(Fact::Growth), f.netns(), f.whole(Fact::Ceiling), f.duration(Fact::Lookahead),
                         f.whole(Fact::Count), f.real(Fact::Expected));
    case Reason::Shed: return "shedding flows that never saw a reply";
    case Reason::ShedStep:
      return fmt::format("{} {}s -> {}s (its floor)", timeoutName(c), f.whole(Fact::From), f.whole(Fact::To));
    case Reason::TimeoutsOff: return "[timeouts] mode = off";
    case Reason::BadFactor: return fmt::format("factor {:g} is not in (0, 1)", f.real(Fact::Factor));
    case Reason::NoTimeouts: return fmt::format("no timeouts observed in {}", f.netns());
    case Reason::NoFloor: return "no floor in [timeout_floors]";
    case Reason::AllAtFloor: return fmt::format("every timeout in order is at its floor in {}", f.netns());
    case Reason::ShedCooldown: return cooldownText(f, keys::kShedCooldown.key);
    case Reason::Unwritable: return "it is not writable here";
    case Reason::External: return "it was changed by someone else and an operator has the last word";
    case Reason::Hold: return "it is held by rollback for another " + f.duration(Fact::Remaining);
    case Reason::OscillationGuard:
      return fmt::format("oscillation guard: it changed {} times within change_window {} (max_changes {})",
                         f.whole(Fact::Changes), f.duration(Fact::ChangeWindow), f.whole(Fact::MaxChanges));
    case Reason::Cooldown: return cooldownText(f, keys::kMaxCooldown.key);
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
// [max] and [timeouts] both have a `cooldown`: the timeouts' one is named with its section.
std::string cooldownKey(ActionKind kind) {
  switch (kind) {
    case ActionKind::RaiseMax: return std::string(keys::kMaxCooldown.key);
    case ActionKind::ResizeBuckets: return std::string(keys::kMinInterval.key);
    case ActionKind::ShortenTimeout:
    case ActionKind::RelaxTimeout:
      return std::string(keys::kTimeoutsCooldown.section) + " " + std::string(keys::kTimeoutsCooldown.key);
  }
  return std::string(keys::kMaxCooldown.key);
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
    text += fmt::format(" {} -> {}", f.whole(Fact::From), f.whole(Fact::To));
  }
  if (!trigger.empty()) text += " (" + causesText(trigger) + ")";
  return text + ": " + whyText(note, held);
}

}  // namespace ctpilot::policy
