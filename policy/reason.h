// SPDX-License-Identifier: Apache-2.0
#pragma once
// Decisions as data: every reason decide() gives, for a change or for holding one back, is a
// reason code plus the numbers behind it (a Cause). Words are rendered here and only here
// (logs, `plan`, the journal's `reason`); the journal's `cause`, the held-decisions metric and
// the tests read the codes and numbers. README "Code map" says how to add a reason code.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/knob.h"

namespace ctpilot::policy {

// One row per reason code: enum name, stable snake_case code (journal `cause`, metric label),
// and the words that join it to the cause before it in a list (an action's reasons, a trigger).
// Codes are never renamed: journals and dashboards keep them.
#define CTPILOT_REASONS(X)                                                                   \
  /* nothing to decide */                                                                    \
  X(NoNetns, "no_netns", "")                                                                 \
  X(MaxUnknown, "max_unknown", "")                                                           \
  X(UnwatchedNamespaces, "unwatched_namespaces", "")                                         \
  /* why nf_conntrack_max should go up */                                                    \
  X(Drops, "drops", "")                                                                      \
  X(HighWater, "high_water", "")                                                             \
  X(Lookahead, "lookahead", "")                                                              \
  /* how a raise was sized and bounded */                                                    \
  X(TargetFill, "target_fill", "; ")                                                         \
  X(DropsDouble, "drops_double", "; ")                                                       \
  X(CountMargin, "count_margin", "; ")                                                       \
  X(Baseline, "baseline", "; ")                                                              \
  X(CeilingClamp, "ceiling_clamp", ", clamped to ")                                          \
  X(BaselineAboveCap, "baseline_above_cap", ", clamped to ")                                 \
  X(BudgetBounded, "budget_bounded", ", held back by ")                                      \
  X(FullInCooldown, "full_in_cooldown", "; inside the cooldown: ")                           \
  /* why nf_conntrack_max cannot go up (held raises; with a timeout trigger, why shorten) */ \
  X(MaxDisabled, "max_disabled", " and ")                                                    \
  X(MaxUnwritable, "max_unwritable", " and ")                                                \
  X(AtCeiling, "at_ceiling", " and ")                                                        \
  X(CeilingBelowCount, "ceiling_below_count", " and ")                                       \
  X(MemoryBudget, "memory_budget", " and ")                                                  \
  X(AlreadyCovers, "already_covers", "")                                                     \
  /* why nf_conntrack_buckets should grow, and how it was sized */                           \
  X(Chains, "chains", "")                                                                    \
  X(Presize, "presize", "")                                                                  \
  X(BucketDrift, "bucket_drift", "")                                                         \
  X(BucketCap, "bucket_cap", ", ")                                                           \
  X(MaxMemory, "max_memory", ", ")                                                           \
  X(StallFits, "stall_fits", "; ")                                                           \
  X(StallAllowed, "stall_allowed", "; ")                                                     \
  /* why nf_conntrack_buckets does not grow */                                               \
  X(HashsizeFixed, "hashsize_fixed", "")                                                     \
  X(BucketsUnknown, "buckets_unknown", "")                                                   \
  X(BucketsAlready, "buckets_already", "")                                                   \
  X(StallTooLong, "stall_too_long", "")                                                      \
  /* why a timeout should change, and by how much */                                         \
  X(DropsAtLimit, "drops_at_limit", "")                                                      \
  X(ShortenAt, "shorten_at", "")                                                             \
  X(ShortenStep, "shorten_step", ": ")                                                       \
  X(Calm, "calm", "")                                                                        \
  X(RelaxStep, "relax_step", ": ")                                                           \
  /* why the timeouts of flows that never saw a reply are shed ([timeouts] shed) */          \
  X(EarlyDrops, "early_drops", "")                                                           \
  X(CeilingLookahead, "ceiling_lookahead", "")                                               \
  X(Shed, "shed", ": ")                                                                      \
  X(ShedStep, "shed_step", ": ")                                                             \
  /* why a timeout does not change */                                                        \
  X(TimeoutsOff, "timeouts_off", "")                                                         \
  X(BadFactor, "bad_factor", "")                                                             \
  X(NoTimeouts, "no_timeouts", "")                                                           \
  X(NoFloor, "no_floor", "")                                                                 \
  X(AllAtFloor, "all_at_floor", "")                                                          \
  X(ShedCooldown, "shed_cooldown", "")                                                       \
  /* why a knob is left alone, whatever the rules say */                                     \
  X(Unwritable, "unwritable", "")                                                            \
  X(External, "external", "")                                                                \
  X(Hold, "hold", "")                                                                        \
  X(OscillationGuard, "oscillation_guard", "")                                               \
  X(Cooldown, "cooldown", "")

/// A reason decide() gives, for a change or for holding one back.
enum class Reason : std::uint8_t {
#define CTPILOT_REASON_ENUM(name, code, joiner) name,
  CTPILOT_REASONS(CTPILOT_REASON_ENUM)
#undef CTPILOT_REASON_ENUM
};

// One row per number a cause carries: enum name, snake_case key in the journal's `cause`.
// Rates are per second, durations in seconds, sizes in entries unless the key says bytes.
#define CTPILOT_FACTS(X)                    \
  X(Count, "count")                         \
  X(Max, "max")                             \
  X(Fill, "fill")                           \
  X(HighWater, "high_water")                \
  X(Growth, "growth_per_s")                 \
  X(Drops, "drops_per_s")                   \
  X(EarlyDrops, "early_drops_per_s")        \
  X(Lookahead, "lookahead_s")               \
  X(Expected, "expected_entries")           \
  X(Threshold, "threshold_entries")         \
  X(Ceiling, "effective_ceiling")           \
  X(PolicyCeiling, "ceiling")               \
  X(MemoryBudget, "memory_budget")          \
  X(MemTotal, "mem_total_bytes")            \
  X(EntryBytes, "entry_bytes")              \
  X(Baseline, "baseline")                   \
  X(Margin, "margin")                       \
  X(Budget, "budget_entries")               \
  X(Total, "total_entries")                 \
  X(Unwatched, "unwatched_entries")         \
  X(TargetFill, "target_fill")              \
  X(Demand, "demand_per_s")                 \
  X(Factor, "factor")                       \
  X(Horizon, "horizon_s")                   \
  X(Cooldown, "cooldown_s")                 \
  X(Interval, "interval_s")                 \
  X(ChainTooLong, "chaintoolong_per_s")     \
  X(InsertFailed, "insert_failed_per_s")    \
  X(Buckets, "buckets")                     \
  X(EntriesPerBucket, "entries_per_bucket") \
  X(Ratio, "ratio")                         \
  X(Slack, "slack")                         \
  X(SizedFor, "sized_for")                  \
  X(Cap, "cap")                             \
  X(MaxMemory, "max_memory_bytes")          \
  X(StallMs, "stall_ms")                    \
  X(Entries, "entries")                     \
  X(NsPerEntry, "ns_per_entry")             \
  X(MaxStall, "max_stall_s")                \
  X(Emergency, "emergency")                 \
  X(ShortenAt, "shorten_at")                \
  X(RelaxBelow, "relax_below")              \
  X(CalmFor, "calm_s")                      \
  X(RelaxAfter, "relax_after_s")            \
  X(From, "from")                           \
  X(To, "to")                               \
  X(Floor, "floor")                         \
  X(Remaining, "remaining_s")               \
  X(Changes, "changes")                     \
  X(ChangeWindow, "change_window_s")        \
  X(MaxChanges, "max_changes")              \
  X(Elapsed, "elapsed_s")

/// A number a cause carries.
enum class Fact : std::uint8_t {
#define CTPILOT_FACT_ENUM(name, key) name,
  CTPILOT_FACTS(CTPILOT_FACT_ENUM)
#undef CTPILOT_FACT_ENUM
};

/// How many reason codes and facts there are: the values of each enum run from 0 to its count - 1.
inline constexpr int kReasonCount = 0
#define CTPILOT_REASON_ONE(name, code, joiner) +1
    CTPILOT_REASONS(CTPILOT_REASON_ONE)
#undef CTPILOT_REASON_ONE
    ;
inline constexpr int kFactCount = 0
#define CTPILOT_FACT_ONE(name, key) +1
    CTPILOT_FACTS(CTPILOT_FACT_ONE)
#undef CTPILOT_FACT_ONE
    ;

/// Returns the stable snake_case code of `reason` ("memory_budget"), as journaled and labelled.
std::string_view reasonCode(Reason reason);

/// Returns the snake_case key of `fact` in the journal's `cause` ("fill", "cooldown_s").
std::string_view factKey(Fact fact);

/// One reason with the numbers behind it.
struct Cause {
  Reason code{};
  std::string netns;                                             // the namespace it is about; "" when none
  std::optional<Knob> knob;                                      // the timeout a step changes
  std::vector<std::pair<Fact, double>> facts;                    // in the order they were added
  std::vector<std::pair<std::string, std::int64_t>> namespaces;  // budget holders: netns, count; fullest first

  /// Adds `value` as `fact` (durations in seconds); returns *this to chain.
  Cause& with(Fact fact, double value);
  /// Returns the value of `fact`; nullopt when the cause does not carry it.
  std::optional<double> get(Fact fact) const;
  friend bool operator==(const Cause&, const Cause&) = default;
};

struct Action;
struct Note;

/// Renders `causes` as one sentence: the first alone, each next one after its joining words.
std::string causesText(const std::vector<Cause>& causes);

/// Renders the reason of a change: "fill 0.91 >= high_water 0.80 in gw (...); sized for ...".
std::string reasonText(const Action& action);

/// Renders a note: "not raising nf_conntrack_max (fill ...): the last change was 10s ago (cooldown 1m)".
std::string noteText(const Note& note);

}  // namespace ctpilot::policy
