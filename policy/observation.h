#pragma once
// Plain data flowing into and out of decide(): what the controller saw (Observation),
// what it did before (History), and what it should do now (Plan). No I/O, no clock.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "policy/knob.h"

namespace ctpilot::policy {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

/// The netns name global knobs are written from (and journaled under).
inline constexpr const char* kInitNetns = "init";

/// Names one knob in one namespace ("init" for global knobs).
struct KnobRef {
  std::string netns;
  Knob knob;
  friend auto operator<=>(const KnobRef&, const KnobRef&) = default;
};

/// What the estimator saw in one network namespace.
struct NetnsObservation {
  std::string netns;                 // "init", a /run/netns name, or "netns:<inode>"
  std::int64_t count = 0;            // nf_conntrack_count in this netns
  double growthPerSec = 0;           // entries/s (regression over the estimator window)
  double dropsPerSec = 0;            // `drop`: packets refused because the table was full
  double earlyDropsPerSec = 0;       // `early_drop`: unassured entries evicted to make room
  double insertFailedPerSec = 0;
  double chainTooLongPerSec = 0;
  std::map<Knob, std::int64_t> timeouts;          // current values, seconds
  std::map<Knob, std::int64_t> baselineTimeouts;  // values before ctpilot's first change this boot
};

/// One sample of the whole system, as decide() sees it.
struct Observation {
  TimePoint now{};
  std::int64_t max = 0;              // nf_conntrack_max (global)
  std::int64_t buckets = 0;          // nf_conntrack_buckets (global)
  std::int64_t baselineMax = 0;      // nf_conntrack_max before ctpilot's first change this boot
  std::int64_t baselineBuckets = 0;
  std::int64_t entryBytes = 320;     // memory per entry: slab object + extensions + bucket share
  std::int64_t memTotalBytes = 0;    // MemTotal
  std::vector<NetnsObservation> netns;
  std::set<KnobRef> unwritable;      // knobs known not to be writable (EROFS, non-initial netns, ...)
};

/// A change ctpilot made (applied), from the journal.
struct PastChange {
  TimePoint time{};
  KnobRef ref;
  std::int64_t from = 0;
  std::int64_t to = 0;
};

/// A hold placed by rollback: the controller leaves matching knobs alone until `until`.
struct Hold {
  TimePoint until{};
  std::optional<KnobRef> ref;        // nullopt: every knob
};

/// What decide() needs to know about the past.
struct History {
  std::vector<PastChange> changes;            // applied changes, oldest first (at least changeWindow)
  std::vector<Hold> holds;
  std::set<KnobRef> external;                 // changed by someone else: not fought
  std::map<std::string, TimePoint> calmSince; // netns -> since when fill < relax_below (see updateCalm)
};

enum class ActionKind { RaiseMax, ResizeBuckets, ShortenTimeout, RelaxTimeout };

/// Returns "raise-max", "resize-buckets", "shorten-timeout" or "relax-timeout".
const char* actionKindName(ActionKind kind);

/// One knob change with the reason a person can read.
struct Action {
  ActionKind kind;
  KnobRef ref;
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::string reason;  // "fill 0.91 >= high_water 0.80 in gw, growth 850/s"
};

/// What decide() wants done now, plus notes on what it would have done but could not.
struct Plan {
  std::vector<Action> actions;
  std::vector<std::string> notes;  // "nf_conntrack_max at ceiling 4194304: cannot raise"
};

}  // namespace ctpilot::policy
