#include "controller/replay/recorder.h"

#include <utility>

#include "controller/estimator.h"

namespace ctpilot::controller {
namespace {

struct CounterField {
  const char* name;
  std::uint32_t sysfs::CpuCounters::*field;
};

constexpr CounterField kFields[] = {
    {"insert", &sysfs::CpuCounters::insert},
    {"drop", &sysfs::CpuCounters::drop},
    {"early_drop", &sysfs::CpuCounters::earlyDrop},
    {"insert_failed", &sysfs::CpuCounters::insertFailed},
    {"found", &sysfs::CpuCounters::found},
    {"invalid", &sysfs::CpuCounters::invalid},
    {"icmp_error", &sysfs::CpuCounters::error},
    {"search_restart", &sysfs::CpuCounters::searchRestart},
    {"clash_resolve", &sysfs::CpuCounters::clashResolve},
    {"chaintoolong", &sysfs::CpuCounters::chainTooLong},
};

}  // namespace

Recorder::Recorder(const sysfs::KnobStore& knobs, sysfs::StatsReader& stats, Discover discover, policy::NetnsSelector selector)
    : knobs_(knobs), stats_(stats), discover_(std::move(discover)), selector_(std::move(selector)) {}

void Recorder::addCounters(const std::string& netns, const sysfs::ConntrackStats& stats, TraceSample& sample) {
  auto& t = totals_[netns];
  if (t.sums.empty() || t.last.size() != stats.cpus.size()) {
    // First look (or the CPU count changed): start from the kernel's own sums, which is what
    // /proc/net/stat and node_exporter show; later rounds add each CPU's unwrapped increase.
    const bool first = t.sums.empty();
    for (const auto& f : kFields) {
      std::uint64_t sum = 0;
      for (const auto& cpu : stats.cpus) sum += cpu.*(f.field);
      if (first) t.sums[f.name] = sum;
    }
  } else {
    for (std::size_t c = 0; c < stats.cpus.size(); ++c) {
      for (const auto& f : kFields) t.sums[f.name] += counterDelta(t.last[c].*(f.field), stats.cpus[c].*(f.field));
    }
  }
  t.last = stats.cpus;
  sample.counters = t.sums;
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

Result<TraceSample> Recorder::sampleWith(const sysfs::Netns& netns, const sysfs::ConntrackStats& stats, policy::TimePoint now) {
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
