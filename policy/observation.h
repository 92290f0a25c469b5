// SPDX-License-Identifier: Apache-2.0
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
#include "policy/reason.h"

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

/// Returns how every message names a knob: "<kernel name> in <netns>", e.g.
/// "nf_conntrack_max in init", "nf_conntrack_udp_timeout in gw".
std::string refName(const KnobRef& ref);

/// What the estimator saw in one network namespace.
struct NetnsObservation {
  std::string netns;            // "init", a /run/netns name, or "netns:<inode>"
  std::int64_t count = 0;       // nf_conntrack_count in this netns
  double growthPerSec = 0;      // entries/s (regression over the estimator window)
  double dropsPerSec = 0;       // `drop`: packets refused because the table was full
  double earlyDropsPerSec = 0;  // `early_drop`: unassured entries evicted to make room
  double insertFailedPerSec = 0;
  double chainTooLongPerSec = 0;
  double demandPerSec = 0;                        // uncensored growth over the newest interval: count change +
                                                  // drop + early_drop per second (0 when counters are unknown)
  std::map<Knob, std::int64_t> timeouts;          // current values, seconds
  std::map<Knob, std::int64_t> baselineTimeouts;  // values before ctpilot's first change this boot
};

/// One sample of the whole system, as decide() sees it.
struct Observation {
  TimePoint now{};
  std::int64_t max = 0;          // nf_conntrack_max (global)
  std::int64_t buckets = 0;      // nf_conntrack_buckets (global)
  std::int64_t baselineMax = 0;  // nf_conntrack_max before ctpilot's first change this boot
  std::int64_t baselineBuckets = 0;
  std::int64_t entryBytes = 320;   // memory per entry: slab object + extensions + bucket share
  std::int64_t memTotalBytes = 0;  // MemTotal
  std::vector<NetnsObservation> netns;
  std::int64_t totalEntries = 0;  // entries of every netns, watched or not (nf_conntrack slab
                                  // active objects); 0 when unknown: the watched counts are summed
  double resizeNsPerEntry = 500;  // stall of a hash resize per entry it rehashes (learned)
  std::set<KnobRef> unwritable;   // knobs known not to be writable (EROFS, non-initial netns, ...)
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
  std::optional<KnobRef> ref;  // nullopt: every knob
};

/// What decide() needs to know about the past.
struct History {
  std::vector<PastChange> changes;  // applied changes, oldest first (at least changeWindow)
  std::vector<Hold> holds;
  std::set<KnobRef> external;                  // changed by someone else: not fought
  std::map<std::string, TimePoint> calmSince;  // netns -> since when fill < relax_below (see updateCalm)
};

enum class ActionKind { RaiseMax, ResizeBuckets, ShortenTimeout, RelaxTimeout };

/// Returns "raise-max", "resize-buckets", "shorten-timeout" or "relax-timeout".
const char* actionKindName(ActionKind kind);

/// One knob change with the reasons behind it: why it is wanted (the first causes), then how
/// its value was chosen and bounded. reasonText() renders them.
struct Action {
  ActionKind kind;
  KnobRef ref;
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::vector<Cause> because;  // high_water in gw, then target_fill, then ceiling_clamp
  friend bool operator==(const Action&, const Action&) = default;
};

/// A change decide() would have made but held back, or a warning (no change named). noteText()
/// renders it: "not raising nf_conntrack_max (<trigger>): <why>".
struct Note {
  std::optional<ActionKind> held;  // the change held back; nullopt: nothing to decide, or a warning
  std::optional<KnobRef> ref;      // the knob held back; nullopt: every timeout of a netns
  std::vector<Cause> trigger;      // why the change was wanted; empty when it does not matter
  Cause why;                       // why it was held back (or what the warning is about)
  std::vector<Cause> sized;        // already_covers: how the raise was sized
  friend bool operator==(const Note&, const Note&) = default;
};

/// Identifies what a note is about, without its live numbers: the change held back, the
/// knob, and the codes and namespaces of its causes. Notes with equal keys are the same news
/// ("held by rollback for another 59s", then "... 58s").
struct NoteKey {
  std::optional<ActionKind> held;
  std::optional<KnobRef> ref;
  std::vector<std::pair<Reason, std::string>> causes;  // trigger, then why: code and netns
  friend auto operator<=>(const NoteKey&, const NoteKey&) = default;
};

/// Returns the key of `note`: what it is about, numbers left out.
NoteKey noteKey(const Note& note);

/// What decide() wants done now, plus notes on what it would have done but could not.
struct Plan {
  std::vector<Action> actions;
  std::vector<Note> notes;

  /// Tells whether some action or note gives `reason` (as a trigger, a bound or why it was held).
  bool mentions(Reason reason) const;
  /// Returns the first cause with code `reason` among the actions' and notes' causes; nullptr when none.
  const Cause* find(Reason reason) const;
};

}  // namespace ctpilot::policy
