// SPDX-License-Identifier: Apache-2.0
#pragma once
// Samples the live kernel into trace samples for `ctpilot record`: per watched netns the count,
// nf_conntrack_max, nf_conntrack_buckets and the statistics counters as 64-bit totals (each
// CPU's 32-bit counter unwrapped). It reads through a const KnobStore: it cannot write a knob.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "controller/replay/trace.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"

namespace ctpilot::controller {

/// What one round of sampling gave.
struct RecordedRound {
  std::vector<TraceSample> samples;
  std::vector<std::string> problems;  // a netns that could not be read: "netns r1: ..."
};

/// Samples the watched namespaces into trace samples, keeping 64-bit counter totals per netns.
class Recorder {
 public:
  using Discover = std::function<Result<std::vector<sysfs::Netns>>(const policy::NetnsSelector&)>;
  /// Creates a recorder of the namespaces `selector` names (discovered again at each round).
  Recorder(const sysfs::KnobStore& knobs, sysfs::StatsReader& stats, Discover discover, policy::NetnsSelector selector);
  /// Samples every watched netns at `now`. Errc from discovery when no netns can be listed; a
  /// netns whose count or limit cannot be read is left out of the round and named in problems.
  Result<RecordedRound> sample(policy::TimePoint now);
  /// Builds the sample of `netns` at `now` from statistics read elsewhere (the daemon's own read);
  /// Errc from reading the count or the limit.
  Result<TraceSample> sampleWith(const sysfs::Netns& netns, const sysfs::ConntrackStats& stats, policy::TimePoint now);

 private:
  struct Totals {
    bool started = false;
    std::vector<sysfs::CpuCounters> last;
    sysfs::CounterTotals sums;
  };
  // Adds each CPU's unwrapped increase to the netns' totals and copies them into `sample`.
  void addCounters(const std::string& netns, const sysfs::ConntrackStats& stats, TraceSample& sample);

  const sysfs::KnobStore& knobs_;
  sysfs::StatsReader& stats_;
  Discover discover_;
  policy::NetnsSelector selector_;
  std::map<std::string, Totals> totals_;  // netns name -> running totals
};

}  // namespace ctpilot::controller
