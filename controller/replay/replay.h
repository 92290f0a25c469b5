// SPDX-License-Identifier: Apache-2.0
#pragma once
// Replays a trace: turns the recorded counters into demand per interval (arrivals = inserted +
// dropped; recorded departures; a lifetime for what the recording never held) and runs a tuner
// (the real controller) over the simulated kernel fed with it, in virtual time. The model and
// its assumptions: examples/scenarios/README.md, "Replaying a trace".

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "controller/replay/trace.h"
#include "controller/simulation.h"
#include "sysfs/sim/sim_kernel.h"

namespace ctpilot::controller {

/// One recorded interval of one netns: its demand and what the recording showed at its end.
struct ReplayStep {
  sysfs::SimDuration at{0};  // end of the interval, since the first sample
  sysfs::DemandStep demand;
  std::int64_t recordedCount = 0;
  std::int64_t recordedMax = 0;
  std::uint64_t recordedDrops = 0;  // since the first sample
};

/// The demand of one netns, step by step.
struct NetnsDemand {
  std::string netns;
  std::int64_t initialCount = 0;
  std::vector<ReplayStep> steps;
  sysfs::SimDuration extraLife{0};  // mean entry lifetime by Little's law: mean count / departures per second
};

/// A trace turned into demand, with what the recording itself showed.
struct ReplayDemand {
  std::vector<NetnsDemand> netns;
  sysfs::SimDuration duration{0};
  sysfs::SimDuration interval{1000};  // the trace's nominal sampling period
  std::int64_t initialMax = 0;
  std::int64_t initialBuckets = 0;
  std::vector<std::string> notes;  // counter resets, departures that had to be carried
  std::uint64_t recordedDrops = 0, recordedEarlyDrops = 0, recordedInserts = 0;
  std::int64_t recordedPeakCount = 0, recordedFinalMax = 0;
};

/// Derives the demand of `trace`; Errc::Malformed (naming the sample) when a sample lacks the
/// insert or drop counter. A counter that goes down is a reset (reboot): its new value is the
/// increase. `entryLife`, when given, replaces the lifetime estimated by Little's law.
Result<ReplayDemand> demandFromTrace(const Trace& trace, std::optional<sysfs::SimDuration> entryLife = {});

/// What one netns saw in a replay, next to its recording (at the recorded instants).
struct ReplayNetnsOutcome {
  std::uint64_t drops = 0, earlyDrops = 0;
  std::int64_t peakCount = 0;
  std::uint64_t recordedDrops = 0;
  std::int64_t recordedPeakCount = 0;
};

/// How far the replayed count was from the recorded one, at the recorded instants.
struct ReplayFidelity {
  double meanAbsCountError = 0;  // entries
  std::int64_t maxAbsCountError = 0;
  std::size_t points = 0;
  std::size_t gapsJumped = 0;                       // gaps in the recording crossed in one step (kTicksAfterInstant)
  sysfs::SimDuration jumped{0};                     // the virtual time they spanned
  std::map<std::string, ReplayNetnsOutcome> netns;  // by netns
};

/// After a recorded instant the tuner ticks at most this many times, or twice as many as the
/// trace's interval holds when that is more; the rest of a longer gap to the next instant is
/// jumped (the simulated kernel crosses it in one step). So a replay's work is bounded by the
/// trace's samples, not the time they span (two samples from 1970 and 2199).
inline constexpr std::int64_t kTicksAfterInstant = 600;

/// Options of one replay.
struct ReplayOptions {
  std::string name = "trace";  // names the run in the summary
  std::int64_t memTotalBytes = 16LL << 30;
  std::ostream* csv = nullptr;  // one row per netns per recorded instant (replayCsvHeader())
  /// The tuner ticks no more often than this: the recording's interval. A controller ticking
  /// faster than the recording would only see the same sample again, which flattens its growth
  /// estimate and bunches a whole interval's drops into one tick (README "Replay your own traffic").
  sysfs::SimDuration minTick{0};
};

/// Returns the CSV header runReplay writes.
std::string replayCsvHeader();

/// Runs `tuner` from time 0 to the end of the recording over a SimKernel fed with `demand`,
/// jumping gaps as kTicksAfterInstant says.
SimulationSummary runReplay(const ReplayDemand& demand, SimTuner& tuner, const ReplayOptions& options,
                            ReplayFidelity* fidelity = nullptr);

}  // namespace ctpilot::controller
