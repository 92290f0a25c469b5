// SPDX-License-Identifier: Apache-2.0
#pragma once
// Runs a scenario on the simulated kernel in virtual time with a tuner acting at its interval:
// ctpilot itself (the real Controller: estimator, decide(), actuator, an in-memory journal) or
// a rival strategy (benchmarks). Nothing here reads the real clock or touches the real kernel.

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "controller/journal/journal.h"
#include "policy/observation.h"
#include "policy/policy.h"
#include "sysfs/sim/scenario.h"
#include "sysfs/sim/sim_kernel.h"
#include "sysfs/system_facts.h"

namespace ctpilot::controller {

/// The wall-clock time virtual time 0 stands for (2026-01-01T00:00:00Z, a midnight, so a
/// scenario's diurnal peak at 21h is 21:00 in journal times).
policy::TimePoint simulationEpoch();

/// Something that tunes the simulated kernel, or deliberately leaves it alone.
class SimTuner {
 public:
  virtual ~SimTuner() = default;
  /// Returns a short name for tables ("ctpilot isp-nat-gateway", "kernel default").
  virtual std::string name() const = 0;
  /// Returns the time from the tick just run (or the start) to the next, in virtual time (at
  /// least 1 ms); ctpilot samples faster near the limit.
  virtual sysfs::SimDuration interval() const = 0;
  /// Runs once at virtual time 0, before any traffic (a start-up script or the daemon starting).
  virtual void start(sysfs::SimKernel& kernel, const sysfs::Scenario& scenario, policy::TimePoint now) = 0;
  /// Runs every interval() from virtual time 0 on.
  virtual void tick(sysfs::SimKernel& kernel, policy::TimePoint now) = 0;
};

/// One change ctpilot made, as its journal explains it.
struct ExplainedChange {
  sysfs::SimDuration at{0};
  std::string netns;
  policy::Knob knob;
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::string reason;
};

/// ctpilot as a tuner: the real Controller over the SimKernel with a MemoryJournal.
class CtpilotTuner final : public SimTuner {
 public:
  /// Creates the tuner; `label` names it in tables ("ctpilot" when empty).
  explicit CtpilotTuner(policy::Policy policy, std::string label = "");
  ~CtpilotTuner() override;
  CtpilotTuner(const CtpilotTuner&) = delete;
  CtpilotTuner& operator=(const CtpilotTuner&) = delete;
  std::string name() const override;
  sysfs::SimDuration interval() const override;
  void start(sysfs::SimKernel& kernel, const sysfs::Scenario& scenario, policy::TimePoint now) override;
  void tick(sysfs::SimKernel& kernel, policy::TimePoint now) override;
  /// Returns the journal the controller wrote.
  const MemoryJournal& journal() const { return journal_; }
  /// Returns the applied changes with their reasons, oldest first.
  std::vector<ExplainedChange> explainedChanges() const;

 private:
  struct State;
  policy::Policy policy_;
  std::string label_;
  MemoryJournal journal_;
  std::unique_ptr<State> state_;
};

/// What a run showed.
struct SimulationSummary {
  std::string scenario;
  std::string tuner;
  sysfs::SimDuration duration{0};
  std::uint64_t seed = 0;
  std::uint64_t drops = 0;         // `drop`: new flows refused because the table was full
  std::uint64_t earlyDrops = 0;    // `early_drop`: unassured entries evicted to make room
  std::uint64_t insertFailed = 0;  // `insert_failed` (here: chaintoolong, a hash too small)
  std::uint64_t inserts = 0;
  double peakFill = 0;               // highest count / max in any netns
  std::int64_t peakCount = 0;        // highest count in any netns
  std::int64_t peakMemoryBytes = 0;  // entries x entry size + buckets x 8, at its highest
  double worstStallMs = 0;           // the longest hash resize stall (every packet waited)
  double stalledFlows = 0;           // new flows that arrived during resize stalls
  std::int64_t initialMax = 0, finalMax = 0, peakMax = 0;
  std::int64_t initialBuckets = 0, finalBuckets = 0;
  std::vector<sysfs::SimChange> changes;  // every knob write that changed a value
};

/// Fills the end-of-run fields of `summary` from `kernel`: its counters, peaks (fill, count,
/// memory), worst stall and stalled flows, final max and buckets, changes. runSimulation and
/// runReplay both end with it, so their summaries cannot drift apart.
void summarize(const sysfs::SimKernel& kernel, SimulationSummary& summary);

/// Options of one run.
struct SimulationOptions {
  std::optional<std::uint64_t> seed;  // overrides the scenario's seed
  std::ostream* csv = nullptr;        // one row per netns per scenario step (see csvHeader())
};

/// Returns the CSV header runSimulation writes.
std::string csvHeader();

/// Runs `scenario` on a fresh SimKernel with `tuner` ticking at its interval from time 0 to the
/// scenario's duration, and summarises drops, fill, memory and changes.
SimulationSummary runSimulation(const sysfs::Scenario& scenario, SimTuner& tuner,
                                const SimulationOptions& options = {});

/// Returns the memory facts ctpilot reads on the simulated machine of `scenario`: its MemTotal
/// and the nf_conntrack slab object of Linux 6.18 (256 B).
sysfs::MemoryFacts simulatedMemory(const sysfs::Scenario& scenario);

/// An expert's static setting (README "Why not just set it high?"): `max` = the entries
/// `policy`'s memory_budget of MemTotal holds at the entry size ctpilot measures
/// (memoryCapEntries, no ceiling), `buckets` = max / entries_per_bucket rounded up to whole
/// pages of bucket heads (512), as the kernel rounds. Zeros when memory is unknown.
struct StaticSetting {
  std::int64_t max = 0;
  std::int64_t buckets = 0;
};
StaticSetting staticAtBudget(const policy::Policy& policy, const sysfs::MemoryFacts& memory);

/// Returns the scenario namespaces that receive traffic but that `policy` does not watch.
std::vector<std::string> unwatchedNetns(const sysfs::Scenario& scenario, const policy::Policy& policy);
/// Returns the names in `busy` that `policy` does not watch.
std::vector<std::string> unwatchedNetns(const std::vector<std::string>& busy, const policy::Policy& policy);

}  // namespace ctpilot::controller
