// SPDX-License-Identifier: Apache-2.0
#pragma once
// The closed loop without the event loop: each tick samples every watched namespace, estimates,
// asks decide() and acts through the actuator. Time comes in as an argument, so tests drive it
// with a made-up clock; the Daemon calls tick() from its timer.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/actuator.h"
#include "controller/estimator.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "policy/observation.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace ctpilot::controller {

/// What the controller works with; every piece is replaceable (tests, simulator).
struct ControllerDeps {
  sysfs::KnobStore& knobs;
  sysfs::StatsReader& stats;
  Journal& journal;
  std::function<Result<std::vector<sysfs::Netns>>(const policy::NetnsSelector&)> discover;
  sysfs::MemoryFacts memory;
  std::string bootId;
  bool dryRun = false;
  /// Called when a watched namespace vanished (close its descriptors); may be empty.
  std::function<void(const sysfs::Netns&)> forget;
  /// Returns the entries of every namespace together (nf_conntrack slab active objects); may be
  /// empty, or fail (not root): then the watched namespaces' counts are summed.
  std::function<Result<std::int64_t>()> totalEntries;
  /// Calls totalEntries at most this often (zero: every tick) when it is costly (/proc/slabinfo
  /// formats every cache of the kernel: ~1.5 ms of kernel time); in between, the last total
  /// moves by the change of the watched namespaces' counts. A change of the watched set reads again.
  policy::Duration totalEntriesEvery{0};
  /// Returns a value that changes when the named namespaces change (/run/netns's mtime): the
  /// controller then rediscovers at once instead of at its next periodic scan; may be empty.
  std::function<std::int64_t()> namespacesStamp;
  /// Reads nf_conntrack_max, nf_conntrack_buckets and the timeouts (knobs that change only when
  /// someone writes them) at most this often (zero: every tick); in between a tick uses the value
  /// last read. A tick that would change or plan a change on such a value reads it again first.
  policy::Duration stableKnobsEvery{0};
  /// What the journal said as of the records `journal` no longer holds (a checkpoint's Controller
  /// view, README "History and rollback"); empty: the controller folds every record of `journal`.
  std::optional<JournalView> journalView;
  /// Called after each tick and sample with the controller's view, which has folded every record
  /// `journal` holds (`run` checkpoints it); may be empty. The journal then forgets them.
  std::function<void(const JournalView&)> journalFolded;
};

/// The stall of a hash resize per entry before ctpilot has timed one of its own (ns): above the
/// 0.4 us measured on Linux 6.18, conservatively.
inline constexpr double kDefaultResizeNsPerEntry = 500;

/// Returns the stall per entry (ns) learned from the journal's timed resizes of nf_conntrack_buckets
/// (applied records with write_us and entries): the mean of the newest few that rehashed enough
/// entries to drown the allocation; kDefaultResizeNsPerEntry when there are none.
double learnedResizeNsPerEntry(const std::vector<JournalRecord>& records);

/// What one tick saw and did.
struct TickReport {
  policy::TimePoint now{};
  bool sampled = false;  // false: nf_conntrack could not be read (see error)
  std::optional<Error> error;
  policy::Observation observation;
  std::map<std::string, Estimate> estimates;  // netns -> rates and time to full
  policy::History history;                    // as given to decide()
  policy::Plan plan;                          // empty when only observing
  std::vector<ActionOutcome> applied;         // written and read back
  std::vector<ActionOutcome> failed;          // write failed, or not written for want of a journal record
  std::vector<policy::Action> planned;        // dry-run: what would have been written
  std::vector<policy::Action> skipped;        // held, external, unwritable or backing off
  std::map<std::string, std::vector<sysfs::CpuCounters>> counters;  // netns -> per-CPU counters read
  /// Every knob read this tick: "managed", or why ctpilot leaves it alone ("external", "hold",
  /// "unwritable", "disabled").
  std::map<policy::KnobRef, std::string> knobStates;
};

/// When to sample next, and why.
struct Pace {
  policy::Duration interval{};
  std::string why;  // empty at the long interval; else the netns and the condition that holds
};

/// Returns the pace after `report` (README "What each tick does"): [controller] fast_interval
/// while some watched netns is at fast_fill or above, would reach nf_conntrack_max within [max]
/// lookahead at its fastest growth (the slope or the newest interval's demand), or drops,
/// early-drops or fails inserts; [controller] interval otherwise, and when nothing was sampled.
Pace nextPace(const policy::Policy& policy, const TickReport& report);

/// Describes a change for logs and `plan`: "raised nf_conntrack_max 65536 -> 131072 (reason)";
/// with `would` set: "would raise ...". `to` is the value written (or to be written).
std::string describeAction(const policy::Action& action, std::int64_t to, bool would);

/// Converts what decide() saw in `netns` to the JSON stored with journal records.
nlohmann::json observationJson(const policy::Observation& obs, const std::string& netns);

class Controller {
 public:
  /// Creates a controller; nothing is read or written until the first tick.
  Controller(policy::Policy policy, ControllerDeps deps);
  /// Samples, estimates, decides and acts once at time `now` (tests pass a made-up time).
  TickReport tick(policy::TimePoint now);
  /// Samples and estimates at `now` without deciding or acting (warms the estimator: growth
  /// needs several samples). Notices external changes like tick() does.
  TickReport observe(policy::TimePoint now);
  /// Replaces the policy (SIGHUP); externally changed knobs are fought again only after a policy change.
  /// Any reload retries knobs found unwritable.
  void reload(policy::Policy policy);
  /// Returns the policy in force.
  const policy::Policy& policy() const { return policy_; }
  /// Returns the namespaces watched since the last discovery.
  const std::vector<sysfs::Netns>& watched() const { return watched_; }
  /// Tells whether this controller only plans (never writes a knob).
  bool dryRun() const { return deps_.dryRun || policy_.controller.dryRun; }

 private:
  struct Reading;
  void discover(policy::TimePoint now);
  bool sample(policy::TimePoint now, TickReport& report, Reading& reading);
  std::optional<policy::NetnsObservation> sampleNetns(const sysfs::Netns& ns, policy::TimePoint now, std::int64_t max,
                                                      Reading& reading, TickReport& report);
  std::optional<sysfs::ConntrackStats> readStats(const sysfs::Netns& ns, TickReport& report, bool countersOnly);
  void readTimeouts(const sysfs::Netns& ns, policy::TimePoint now, Reading& reading, policy::NetnsObservation& n);
  std::int64_t readTotalEntries(policy::TimePoint now, std::int64_t watched);
  Result<std::int64_t> readStable(const sysfs::Netns& ns, const policy::KnobRef& ref, policy::TimePoint now,
                                  Reading& reading);
  bool confirmStable(policy::TimePoint now, const Reading& reading);
  TickReport observeWith(policy::TimePoint now, Reading& reading);
  void noticeExternal(policy::TimePoint now, Reading& reading, policy::Observation& obs);
  void yieldExternal(policy::TimePoint now, const policy::KnobRef& ref, std::int64_t expected, std::int64_t value);
  void adoptExternal(policy::TimePoint now, const policy::KnobRef& ref, std::int64_t expected, std::int64_t value,
                     Reading& reading, policy::Observation& obs);
  void finishCrashedIntents(policy::TimePoint now, const Reading& reading);
  std::string knobState(const policy::KnobRef& ref, const TickReport& report, const Reading& reading) const;
  bool journalBaselines(policy::TimePoint now, const Reading& reading, bool force);
  void act(policy::TimePoint now, TickReport& report, const Reading& reading);
  bool mayChange(policy::TimePoint now, const policy::KnobRef& ref, const TickReport& report,
                 const Reading& reading) const;
  void journalPlan(policy::TimePoint now, const policy::Action& action, TickReport& report);
  policy::Observation dryRunView(policy::TimePoint now, const policy::Observation& real, const Reading& reading,
                                 policy::History& history);
  void rememberPlanned(policy::TimePoint now, const TickReport& report, const Reading& reading);
  bool apply(policy::TimePoint now, const policy::Action& action, const sysfs::Netns& netns, TickReport& report);
  void writeFailed(policy::TimePoint now, const policy::Action& action, const Error& error);
  void logNotes(const policy::Plan& plan);
  std::optional<sysfs::Netns> netnsFor(const policy::KnobRef& ref) const;
  bool appendOk(const Result<JournalRecord>& result, const std::string& what);
  void journalWorks();
  void journalFails(const Error& error, const std::string& what);
  void warnOnce(const std::string& key, const std::string& message);

  policy::Policy policy_;
  ControllerDeps deps_;
  Estimator estimator_;
  Actuator actuator_;
  JournalView view_;  // the journal so far, fed new records each tick
  std::vector<sysfs::Netns> watched_;
  std::optional<policy::TimePoint> lastDiscovery_;
  std::int64_t namespacesStamp_ = 0;                  // namespacesStamp() at the last discovery
  std::map<policy::KnobRef, std::int64_t> lastSeen_;  // value seen at the end of the last tick
  std::set<policy::KnobRef> unwritable_;
  std::set<policy::KnobRef> externalUnjournaled_;            // noticed, but the record could not be written
  std::map<policy::KnobRef, policy::TimePoint> retryAfter_;  // a write the kernel rejected: back off
  std::map<policy::KnobRef, policy::Action> lastPlanned_;    // dry-run: journal a plan once, not every tick
  // Dry run: what a real run would have written, for decide() to see the knobs and the history
  // as they would be (README "Review first"). Knob -> {value read when planned, value planned}.
  std::map<policy::KnobRef, std::pair<std::int64_t, std::int64_t>> dryValues_;
  std::vector<policy::PastChange> dryChanges_;  // dry run: planned changes, oldest first
  std::map<std::string, policy::TimePoint> calmSince_;
  std::int64_t externalSinceId_ = 0;     // External records up to this id predate the policy
  std::set<policy::NoteKey> lastNotes_;  // what the last tick's notes were about
  std::set<std::string> warned_;
  bool journalBroken_ = false;
  std::optional<policy::TimePoint> totalReadAt_;  // the last call of deps_.totalEntries
  std::int64_t totalAtRead_ = 0;                  // what it said (0: unknown)
  std::int64_t watchedAtRead_ = 0;                // the watched counts' sum then
  // deps_.stableKnobsEvery: knob -> {value, when read}.
  std::map<policy::KnobRef, std::pair<std::int64_t, policy::TimePoint>> stable_;
};

}  // namespace ctpilot::controller
