// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/recorder.h"

#include <utility>

#include "controller/estimator.h"

namespace ctpilot::controller {

Recorder::Recorder(const sysfs::KnobStore& knobs, sysfs::StatsReader& stats, Discover discover,
                   policy::NetnsSelector selector)
    : knobs_(knobs), stats_(stats), discover_(std::move(discover)), selector_(std::move(selector)) {}

void Recorder::addCounters(const std::string& netns, const sysfs::ConntrackStats& stats, TraceSample& sample) {
  auto& t = totals_[netns];
  if (!t.started) {
    // First look: start from the kernel's own sums, which is what /proc/net/stat and
    // node_exporter show; later rounds add each CPU's unwrapped increase (none in the round
    // the CPU count changes).
    t.sums = stats.totals();
    t.started = true;
  } else if (t.last.size() == stats.cpus.size()) {
    addCounterDeltas(t.last, stats.cpus, t.sums);
  }
  t.last = stats.cpus;
  for (const auto& f : sysfs::counterFields()) sample.counters[f.name] = t.sums.*f.total;
}

Result<RecordedRound> Recorder::sample(policy::TimePoint now) {
  auto netns = discover_(selector_);
  if (!netns) return netns.error();
  RecordedRound round;
  for (const auto& ns : *netns) {
    TraceSample s;
    s.time = now;
    s.netns = ns.name;
    const auto count = knobs_.read(ns, policy::Knob::Count);
    const auto max = knobs_.read(ns, policy::Knob::ConntrackMax);
    if (!count || !max) {
      round.problems.push_back("netns " + ns.name + ": " + (!count ? count.error().what : max.error().what));
      continue;
    }
    s.count = *count;
    s.max = *max;
    if (const auto buckets = knobs_.read(ns, policy::Knob::Buckets)) s.buckets = *buckets;
    if (auto stats = stats_.read(ns)) {
      addCounters(ns.name, *stats, s);
    } else {
      round.problems.push_back("netns " + ns.name + ": no statistics (" + stats.error().what + "); replay needs them");
    }
    round.samples.push_back(std::move(s));
  }
  return round;
}

Result<TraceSample> Recorder::sampleWith(const sysfs::Netns& netns, const sysfs::ConntrackStats& stats,
                                         policy::TimePoint now) {
  TraceSample s;
  s.time = now;
  s.netns = netns.name;
  const auto count = knobs_.read(netns, policy::Knob::Count);
  if (!count) return count.error();
  const auto max = knobs_.read(netns, policy::Knob::ConntrackMax);
  if (!max) return max.error();
  s.count = *count;
  s.max = *max;
  if (const auto buckets = knobs_.read(netns, policy::Knob::Buckets)) s.buckets = *buckets;
  addCounters(netns.name, stats, s);
  return s;
}

}  // namespace ctpilot::controller
