// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the metrics show, as plain data: one MetricsSnapshot per completed tick. The recorder
// turns tick reports into snapshots (keeping what must add up across ticks: the kernel's
// wrapping counters and the changes made); exposition() turns a snapshot into the Prometheus
// text format. A new metric is a field here and a few lines in exposition().

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "controller/controller.h"
#include "policy/policy.h"
#include "sysfs/stats.h"

namespace ctpilot::controller::metrics {

/// The kernel's per-CPU counters of one netns as monotonic 64-bit totals.
using CounterTotals = sysfs::CounterTotals;

/// One watched network namespace.
struct NetnsMetrics {
  std::string netns;
  std::int64_t entries = 0;
  double fill = 0;  // entries / nf_conntrack_max
  double growthPerSec = 0;
  double secondsToFull = 0;    // +Inf when not growing
  bool countersKnown = false;  // false: no statistics could be read there (yet)
  CounterTotals counters;
  std::map<std::string, std::int64_t> timeouts;  // kernel name -> seconds in force
};

/// Whether ctpilot manages one knob now, and if not, why.
struct KnobMetrics {
  std::string knob;  // kernel name, as the journal spells it
  std::string netns;
  std::string state;  // "managed", or why not: "external", "hold", "unwritable", "disabled"
};

/// What came of a change: written and read back, failed, or only planned (dry run).
inline constexpr const char* kChangeOutcomes[] = {"applied", "failed", "planned"};

/// Everything one scrape shows.
struct MetricsSnapshot {
  bool sampled = false;  // the last tick could read nf_conntrack
  std::vector<NetnsMetrics> netns;
  std::int64_t max = 0;
  std::int64_t buckets = 0;
  std::int64_t effectiveCeiling = 0;
  std::vector<KnobMetrics> knobs;
  /// (knob, netns, outcome) -> changes since start; outcome one of kChangeOutcomes, each
  /// present (0) for every knob read.
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> changes;
  /// Reason code -> changes decide() held back since start, one per note per tick (README "Monitoring").
  std::map<std::string, std::uint64_t> held;
  double lastTickSeconds = 0;  // Unix time of the last completed tick
  double lastTickDurationSeconds = 0;
  bool lastReloadOk = true;
  bool dryRun = false;
  std::string version;
  std::string revision;
};

/// Renders `snapshot` in the Prometheus text exposition format (version 0.0.4).
std::string exposition(const MetricsSnapshot& snapshot);

/// The version and source revision this binary was built from.
std::string buildVersion();
/// The source revision (git) this binary was built from, or "unknown".
std::string buildRevision();

/// Builds snapshots from tick reports and keeps the totals that span ticks.
class MetricsRecorder {
 public:
  /// Creates a recorder whose snapshots carry this binary's version and revision.
  MetricsRecorder();
  /// Records a completed tick: its report, the policy in force, when it ended (Unix seconds),
  /// how long it took, and whether the controller only plans.
  void record(const TickReport& report, const policy::Policy& policy, double endSeconds, double durationSeconds,
              bool dryRun);
  /// Records the outcome of a policy reload.
  void reloaded(bool ok) { snapshot_.lastReloadOk = ok; }
  /// Returns the latest snapshot.
  const MetricsSnapshot& snapshot() const { return snapshot_; }

 private:
  CounterTotals advance(const std::string& netns, const std::vector<sysfs::CpuCounters>& cpus);

  MetricsSnapshot snapshot_;
  std::map<std::string, std::vector<sysfs::CpuCounters>> lastCpus_;
  std::map<std::string, CounterTotals> totals_;
};

}  // namespace ctpilot::controller::metrics
