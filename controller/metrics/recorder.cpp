// SPDX-License-Identifier: Apache-2.0
#include <limits>
#include <set>
#include <utility>

#include "controller/estimator.h"
#include "controller/metrics/snapshot.h"
#include "policy/decide.h"

namespace ctpilot::controller::metrics {
namespace {

std::string knobLabel(policy::Knob knob) { return std::string(policy::kernelName(knob)); }

void countChanges(MetricsSnapshot& snapshot, const std::vector<policy::KnobRef>& refs, const char* outcome) {
  for (const auto& ref : refs) ++snapshot.changes[{knobLabel(ref.knob), ref.netns, outcome}];
}

// Every knob read this tick has its changes counted from 0 for each outcome, so that
// increase() and rate() see the first change, and a fleet shows what it plans before anything
// happens. The zeros of knobs no longer read go (a namespace deleted); counts above 0 stay.
void zeroChanges(MetricsSnapshot& snapshot, const std::map<policy::KnobRef, std::string>& knobStates) {
  std::set<std::pair<std::string, std::string>> read;
  for (const auto& [ref, state] : knobStates) {
    read.emplace(knobLabel(ref.knob), ref.netns);
    for (const char* outcome : kChangeOutcomes)
      snapshot.changes.try_emplace({knobLabel(ref.knob), ref.netns, outcome}, 0);
  }
  std::erase_if(snapshot.changes, [&](const auto& kv) {
    return kv.second == 0 && !read.contains({std::get<0>(kv.first), std::get<1>(kv.first)});
  });
}

}  // namespace

MetricsRecorder::MetricsRecorder() {
  snapshot_.version = buildVersion();
  snapshot_.revision = buildRevision();
}

CounterTotals MetricsRecorder::advance(const std::string& netns, const std::vector<sysfs::CpuCounters>& cpus) {
  auto& total = totals_[netns];
  const auto last = lastCpus_.find(netns);
  if (last == lastCpus_.end() || last->second.size() != cpus.size()) {
    // First look, or a CPU came or went: start from the kernel's own sums (a counter reset to
    // Prometheus if they are lower).
    total = sysfs::sumCounters(cpus);
  } else {
    // The kernel's counters are 32-bit per CPU and wrap; add what each moved.
    addCounterDeltas(last->second, cpus, total);
  }
  lastCpus_[netns] = cpus;
  return total;
}

void MetricsRecorder::record(const TickReport& report, const policy::Policy& policy, double endSeconds,
                             double durationSeconds, bool dryRun) {
  auto& s = snapshot_;
  s.sampled = report.sampled;
  s.lastTickSeconds = endSeconds;
  s.lastTickDurationSeconds = durationSeconds;
  s.dryRun = dryRun;
  if (!report.sampled) return;  // keep showing the last reading; last_tick says how old it is

  const auto& obs = report.observation;
  s.max = obs.max;
  s.buckets = obs.buckets;
  s.effectiveCeiling = policy::effectiveCeiling(policy, obs);
  s.netns.clear();
  for (const auto& n : obs.netns) {
    NetnsMetrics m;
    m.netns = n.netns;
    m.entries = n.count;
    m.fill = obs.max > 0 ? static_cast<double>(n.count) / static_cast<double>(obs.max) : 0.0;
    m.growthPerSec = n.growthPerSec;
    const auto estimate = report.estimates.find(n.netns);
    const bool toFull = estimate != report.estimates.end() && estimate->second.secondsToFull.has_value();
    m.secondsToFull = toFull ? *estimate->second.secondsToFull : std::numeric_limits<double>::infinity();
    if (const auto cpus = report.counters.find(n.netns); cpus != report.counters.end() && !cpus->second.empty()) {
      m.countersKnown = true;
      m.counters = advance(n.netns, cpus->second);
    }
    for (const auto& [knob, seconds] : n.timeouts) m.timeouts[knobLabel(knob)] = seconds;
    s.netns.push_back(std::move(m));
  }
  // Forget the counters of namespaces no longer watched.
  std::erase_if(lastCpus_, [&](const auto& kv) { return !report.counters.contains(kv.first); });
  std::erase_if(totals_, [&](const auto& kv) { return !report.counters.contains(kv.first); });

  s.knobs.clear();
  for (const auto& [ref, state] : report.knobStates) s.knobs.push_back({knobLabel(ref.knob), ref.netns, state});

  std::vector<policy::KnobRef> refs;
  for (const auto& outcome : report.applied) refs.push_back(outcome.action.ref);
  countChanges(s, refs, "applied");
  refs.clear();
  for (const auto& outcome : report.failed) refs.push_back(outcome.action.ref);
  countChanges(s, refs, "failed");
  refs.clear();
  for (const auto& action : report.planned) refs.push_back(action.ref);
  countChanges(s, refs, "planned");
  zeroChanges(s, report.knobStates);
  for (const auto& note : report.plan.notes) {
    if (note.held) ++s.held[std::string(policy::reasonCode(note.why.code))];
  }
}

}  // namespace ctpilot::controller::metrics
