// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/replay.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "controller/journal/journal.h"

namespace ctpilot::controller {
namespace {

// How far a cumulative counter moved; a decrease is a reset (reboot, or node_exporter's sum
// over CPUs after a CPU went away): the new value is what it counted since.
std::uint64_t increase(const TraceSample& a, const TraceSample& b, const char* name, std::vector<std::string>& notes) {
  const auto before = a.counters.find(name);
  const auto after = b.counters.find(name);
  if (before == a.counters.end() || after == b.counters.end()) return 0;
  if (after->second >= before->second) return after->second - before->second;
  notes.push_back(std::string("counter reset at ") + formatTime(b.time) + " in netns " + b.netns + ": " + name + " " +
                  std::to_string(before->second) + " -> " + std::to_string(after->second) +
                  " (a reboot?); counting its new value as the increase");
  return after->second;
}

// Adds `v` (at most kMaxTraceCounter) to a running total that stops at 2^62: a trace of
// counters that reset at every sample cannot overflow it.
void addCapped(std::int64_t& sum, std::int64_t v) { sum = std::min<std::int64_t>(sum + v, std::int64_t{1} << 62); }

// The raw movements of one interval, from two consecutive samples.
struct Movement {
  std::int64_t inserts = 0, drops = 0, evictions = 0, departures = 0;
};

// Derives every interval's movements; `countSeconds` and `leaving` feed Little's law.
std::vector<Movement> movements(const std::vector<const TraceSample*>& samples, std::vector<std::string>& notes,
                                double& countSeconds, std::int64_t& leaving) {
  // Recent kernels keep the insert counter at 0 (measured on 6.18): the rise of the count
  // then stands in for it.
  bool insertCounted = false;
  for (const auto* s : samples)
    insertCounted = insertCounted || s->counters.at("insert") != samples.front()->counters.at("insert");
  if (!insertCounted) {
    notes.push_back(
        "netns " + samples.front()->netns +
        ": the insert counter did not move (recent kernels keep it at 0; Linux 6.18 does): "
        "arrivals are inferred from the rise of the count and early_drop, a lower bound when entries also timed out");
  }
  std::vector<Movement> out;
  std::int64_t carried = 0;  // departures that came out negative (count and counters read apart)
  for (std::size_t i = 1; i < samples.size(); ++i) {
    const auto& a = *samples[i - 1];
    const auto& b = *samples[i];
    Movement m;
    m.inserts = static_cast<std::int64_t>(increase(a, b, "insert", notes));
    m.drops = static_cast<std::int64_t>(increase(a, b, "drop", notes));
    m.evictions = static_cast<std::int64_t>(increase(a, b, "early_drop", notes));
    // Without an insert counter, what came in is at least the rise of the count plus what
    // replaced evicted entries; what timed out is then the fall of the count.
    if (!insertCounted) m.inserts = std::max<std::int64_t>(0, b.count - a.count) + m.evictions;
    // The table went from a.count to b.count: what came in minus what was evicted minus what timed out.
    const auto left = a.count + m.inserts - m.evictions - b.count - carried;
    carried = left < 0 ? std::min<std::int64_t>(-left, static_cast<std::int64_t>(kMaxTraceCounter)) : 0;
    m.departures = std::max<std::int64_t>(0, left);
    addCapped(leaving, m.departures + m.evictions);
    countSeconds +=
        0.5 * static_cast<double>(a.count + b.count) * std::chrono::duration<double>(b.time - a.time).count();
    out.push_back(m);
  }
  if (carried > 0) {
    notes.push_back("netns " + samples.front()->netns + ": the count ended " + std::to_string(carried) +
                    " above what the counters explain (count and counters are read apart)");
  }
  return out;
}

Result<NetnsDemand> netnsDemand(const std::vector<const TraceSample*>& samples, policy::TimePoint start,
                                std::vector<std::string>& notes, ReplayDemand& out) {
  for (const auto* s : samples) {
    if (s->counters.count("insert") == 0U || s->counters.count("drop") == 0U) {
      return Error{Errc::Malformed, "sample at " + formatTime(s->time) + " in netns " + s->netns +
                                        " has no insert or drop counter; the replay needs both"};
    }
  }
  NetnsDemand d;
  d.netns = samples.front()->netns;
  d.initialCount = samples.front()->count;
  double countSeconds = 0;  // integral of count over time, entry-seconds
  std::int64_t leaving = 0;
  const auto moves = movements(samples, notes, countSeconds, leaving);
  // Little's law: entries stay on average (mean count) / (entries leaving per second).
  const double seconds = std::chrono::duration<double>(samples.back()->time - samples.front()->time).count();
  const double life = leaving > 0 ? countSeconds / static_cast<double>(leaving) : seconds;
  d.extraLife = sysfs::SimDuration(std::llround(std::max(life, 0.001) * 1000));
  std::int64_t allDrops = 0, allEvictions = 0;
  for (const auto& m : moves) {
    addCapped(allDrops, m.drops);
    addCapped(allEvictions, m.evictions);
  }
  const auto share = [](std::int64_t evictions, std::int64_t drops, double otherwise) {
    return drops + evictions > 0 ? static_cast<double>(evictions) / static_cast<double>(drops + evictions) : otherwise;
  };
  const double overallShare = share(allEvictions, allDrops, 0);
  std::uint64_t cumulativeDrops = 0;
  for (std::size_t i = 0; i < moves.size(); ++i) {
    const auto& m = moves[i];
    const auto& b = *samples[i + 1];
    ReplayStep step;
    step.at = std::chrono::duration_cast<sysfs::SimDuration>(b.time - start);
    step.demand = {.arrivals = m.inserts + m.drops,
                   .recordedInserts = m.inserts,
                   .departures = m.departures,
                   .recordedEvictions = m.evictions,
                   .evictShare = share(m.evictions, m.drops, overallShare),
                   .extraLife = d.extraLife};
    cumulativeDrops += static_cast<std::uint64_t>(m.drops);
    step.recordedCount = b.count;
    step.recordedMax = b.max;
    step.recordedDrops = cumulativeDrops;
    out.recordedPeakCount = std::max(out.recordedPeakCount, b.count);
    d.steps.push_back(step);
  }
  out.recordedDrops += static_cast<std::uint64_t>(allDrops);
  out.recordedEarlyDrops += static_cast<std::uint64_t>(allEvictions);
  for (const auto& m : moves) out.recordedInserts += static_cast<std::uint64_t>(m.inserts);
  return d;
}

void writeRow(std::ostream& out, const sysfs::SimKernel& kernel, const std::string& netns, const ReplayStep& step) {
  const auto totals = kernel.totals(netns);
  out << step.at.count() / 1000 << '.' << (step.at.count() % 1000) / 100 << ',' << netns << ',' << kernel.count(netns)
      << ',' << kernel.max() << ',' << kernel.buckets() << ',' << totals.drop << ',' << totals.earlyDrop << ','
      << totals.insertFailed << ',' << step.recordedCount << ',' << step.recordedMax << ',' << step.recordedDrops
      << '\n';
}

}  // namespace

Result<ReplayDemand> demandFromTrace(const Trace& trace, std::optional<sysfs::SimDuration> entryLife) {
  ReplayDemand demand;
  if (trace.samples.size() < 2) return Error{Errc::Malformed, "fewer than two samples"};
  const auto start = trace.samples.front().time;
  demand.duration = std::chrono::duration_cast<sysfs::SimDuration>(trace.samples.back().time - start);
  demand.interval = std::max(sysfs::SimDuration(1), std::chrono::duration_cast<sysfs::SimDuration>(trace.interval));
  demand.initialMax = trace.samples.front().max;
  demand.initialBuckets = trace.samples.front().buckets.value_or(trace.samples.front().max);
  demand.recordedFinalMax = trace.samples.back().max;
  for (std::size_t i = 1; i < trace.samples.size(); ++i) {
    const auto& a = trace.samples[i - 1];
    const auto& b = trace.samples[i];
    if (a.max != b.max) {
      // Whoever changed it (an operator, ctpilot itself), the replay's limit is the policy's.
      demand.notes.push_back("nf_conntrack_max changed in the recording (" + std::to_string(a.max) + " -> " +
                             std::to_string(b.max) + " at " + formatTime(b.time) +
                             "); the replay starts from the first sample's and leaves the limit to the policy");
      break;
    }
  }
  for (const auto& name : trace.netns()) {
    std::vector<const TraceSample*> samples;
    for (const auto& s : trace.samples) {
      if (s.netns == name) samples.push_back(&s);
    }
    if (samples.size() < 2) {
      demand.notes.push_back("netns " + name + " has one sample only; not replayed");
      continue;
    }
    auto d = netnsDemand(samples, start, demand.notes, demand);
    if (!d) return d.error();
    if (entryLife) {
      d->extraLife = *entryLife;
      for (auto& step : d->steps) step.demand.extraLife = *entryLife;
    }
    demand.recordedPeakCount = std::max(demand.recordedPeakCount, samples.front()->count);
    demand.netns.push_back(std::move(*d));
  }
  return demand;
}

std::string replayCsvHeader() {
  return "time_s,netns,count,max,buckets,drop,early_drop,insert_failed,recorded_count,recorded_max,recorded_drop";
}

namespace {

// The machine a replay runs on: the first sample's limit and buckets, the recorded namespaces.
sysfs::Scenario replayScenario(const ReplayDemand& demand, const ReplayOptions& options) {
  sysfs::Scenario scenario;
  scenario.name = options.name;
  scenario.description = "recorded traffic";
  scenario.duration = demand.duration;
  scenario.max = demand.initialMax;
  scenario.buckets = demand.initialBuckets;
  scenario.memTotalBytes = options.memTotalBytes;
  scenario.netns.clear();
  scenario.netns.emplace_back(policy::kInitNetns);
  for (const auto& d : demand.netns) {
    if (d.netns != policy::kInitNetns) scenario.netns.push_back(d.netns);
  }
  return scenario;
}

std::set<sysfs::SimDuration> recordedInstants(const ReplayDemand& demand) {
  std::set<sysfs::SimDuration> instants;
  for (const auto& d : demand.netns) {
    for (const auto& s : d.steps) instants.insert(s.at);
  }
  return instants;
}

// Feeds every step that ends at `t`, comparing the replayed count with the recorded one.
void feedSteps(const ReplayDemand& demand, sysfs::SimDuration t, std::vector<std::size_t>& next,
               sysfs::SimKernel& kernel, const ReplayOptions& options, double& errorSum, ReplayFidelity& fid) {
  for (std::size_t n = 0; n < demand.netns.size(); ++n) {
    const auto& d = demand.netns[n];
    while (next[n] < d.steps.size() && d.steps[next[n]].at == t) {
      const auto& step = d.steps[next[n]++];
      kernel.feed(d.netns, step.demand);
      const auto error = std::llabs(kernel.count(d.netns) - step.recordedCount);
      errorSum += static_cast<double>(error);
      fid.maxAbsCountError = std::max<std::int64_t>(fid.maxAbsCountError, error);
      ++fid.points;
      auto& outcome = fid.netns[d.netns];
      const auto totals = kernel.totals(d.netns);
      outcome.drops = totals.drop;
      outcome.earlyDrops = totals.earlyDrop;
      outcome.peakCount = std::max(outcome.peakCount, kernel.count(d.netns));
      outcome.recordedDrops = step.recordedDrops;
      outcome.recordedPeakCount = std::max(outcome.recordedPeakCount, std::max(step.recordedCount, d.initialCount));
      if (options.csv != nullptr) writeRow(*options.csv, kernel, d.netns, step);
    }
  }
}

}  // namespace

// long: the replay loop with its gap jump and tick pacing in one place, as runSimulation reads
SimulationSummary runReplay(const ReplayDemand& demand, SimTuner& tuner, const ReplayOptions& options,
                            ReplayFidelity* fidelity) {
  const auto scenario = replayScenario(demand, options);
  auto kernel = sysfs::SimKernel::fromScenario(scenario);
  for (const auto& d : demand.netns) kernel->seedRecorded(d.netns, d.initialCount);
  SimulationSummary summary;
  summary.scenario = options.name;
  summary.tuner = tuner.name();
  summary.duration = demand.duration;
  summary.initialMax = kernel->max();
  summary.initialBuckets = kernel->buckets();
  summary.peakMax = kernel->max();

  // Every recorded instant, and the tuner's ticks, in time order.
  const std::set<sysfs::SimDuration> instants = recordedInstants(demand);
  std::vector<std::size_t> next(demand.netns.size(), 0);
  const auto epoch = simulationEpoch();
  tuner.start(*kernel, scenario, epoch);
  // A tuner's pace may change after each tick; never faster than the recording's interval.
  const auto pace = [&] { return std::max({sysfs::SimDuration(1), tuner.interval(), options.minTick}); };
  auto interval = pace();
  if (options.csv != nullptr) *options.csv << replayCsvHeader() << '\n';
  double errorSum = 0;
  ReplayFidelity fid;
  sysfs::SimDuration nextTick{0};
  // README Safety promise 13: the work is bounded by the samples, not the time they span.
  const std::int64_t ticksAfterInstant =
      std::max<std::int64_t>(kTicksAfterInstant, 2 * (demand.interval / interval + 1));
  std::int64_t ticksSinceInstant = 0;
  auto instant = instants.begin();
  for (;;) {
    const auto nextInstant = instant == instants.end() ? sysfs::SimDuration::max() : *instant;
    if (nextTick < nextInstant && ticksSinceInstant >= ticksAfterInstant && nextInstant <= demand.duration) {
      // A gap in the recording: nothing happens in it but expiry; cross it in one step, the
      // tuner's next tick the first at or after the next instant.
      ++fid.gapsJumped;
      fid.jumped += nextInstant - nextTick;
      nextTick += ((nextInstant - nextTick + interval - sysfs::SimDuration(1)) / interval) * interval;
      kernel->leap(nextInstant);
    }
    const auto t = std::min(nextTick, nextInstant);
    if (t > demand.duration) break;
    kernel->advance(t);
    if (t == nextInstant) {
      feedSteps(demand, t, next, *kernel, options, errorSum, fid);
      ++instant;
      ticksSinceInstant = 0;
    }
    if (t == nextTick) {
      tuner.tick(*kernel, epoch + t);
      interval = pace();
      nextTick += interval;
      ++ticksSinceInstant;
    }
    summary.peakMax = std::max(summary.peakMax, kernel->max());
  }
  fid.meanAbsCountError = fid.points > 0 ? errorSum / static_cast<double>(fid.points) : 0;
  if (fidelity != nullptr) *fidelity = fid;
  summarize(*kernel, summary);
  return summary;
}

}  // namespace ctpilot::controller
