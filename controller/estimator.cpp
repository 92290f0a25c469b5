// SPDX-License-Identifier: Apache-2.0
#include "controller/estimator.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace ctpilot::controller {
namespace {

double secondsBetween(policy::TimePoint a, policy::TimePoint b) { return std::chrono::duration<double>(b - a).count(); }

double median(std::vector<double>& values) {
  const auto mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

}  // namespace

std::size_t windowSamples(const policy::Policy& policy) {
  const auto& c = policy.controller;
  const auto interval = std::max<std::int64_t>(std::min(c.interval, c.fastInterval).count(), 1);
  const auto span = policy.max.lookahead.count() / 4;
  const auto samples = static_cast<std::size_t>(std::max<std::int64_t>(span / interval, 0)) + 1;
  return std::clamp(samples, kMinWindowSamples, kMaxWindowSamples);
}

policy::Duration windowSpan(const policy::Policy& policy) { return policy.max.lookahead / 4; }

double theilSenSlope(const std::deque<Sample>& window) {
  if (window.size() < 2) return 0;
  // A count that did not move makes every pairwise slope 0: skip the n^2/2 of them (each watched
  // namespace pays this every tick, and most of them sit still).
  const auto first = window.front().count;
  if (std::all_of(window.begin(), window.end(), [first](const Sample& s) { return s.count == first; })) return 0;
  std::vector<double> slopes;
  slopes.reserve(window.size() * (window.size() - 1) / 2);
  for (std::size_t i = 0; i < window.size(); ++i) {
    for (std::size_t j = i + 1; j < window.size(); ++j) {
      const double dt = secondsBetween(window[i].time, window[j].time);
      if (dt <= 0) continue;
      slopes.push_back(static_cast<double>(window[j].count - window[i].count) / dt);
    }
  }
  if (slopes.empty()) return 0;
  return median(slopes);
}

std::uint32_t counterDelta(std::uint32_t before, std::uint32_t after) {
  // Unsigned subtraction is modulo 2^32: exactly the distance travelled by a counter that
  // wrapped once.
  return static_cast<std::uint32_t>(after - before);
}

void addCounterDeltas(const std::vector<sysfs::CpuCounters>& before, const std::vector<sysfs::CpuCounters>& after,
                      sysfs::CounterTotals& totals) {
  for (std::size_t cpu = 0; cpu < after.size() && cpu < before.size(); ++cpu) {
    for (const auto& f : sysfs::counterFields())
      totals.*f.total += counterDelta(before[cpu].*f.perCpu, after[cpu].*f.perCpu);
  }
}

void counterRates(const Sample& older, const Sample& newer, Estimate& estimate) {
  estimate.countersKnown = false;
  estimate.dropsPerSec = estimate.earlyDropsPerSec = estimate.insertFailedPerSec = estimate.chainTooLongPerSec = 0;
  estimate.demandPerSec = 0;
  const double dt = secondsBetween(older.time, newer.time);
  // A CPU that came online starts its counters at zero and one that went away takes its counts
  // with it: the difference of the sums would be meaningless, so start over.
  if (older.cpus.empty() || older.cpus.size() != newer.cpus.size() || dt <= 0) return;
  sysfs::CounterTotals moved;
  addCounterDeltas(older.cpus, newer.cpus, moved);
  const std::uint64_t drop = moved.drop;
  const std::uint64_t earlyDrop = moved.earlyDrop;
  const std::uint64_t insertFailed = moved.insertFailed;
  const std::uint64_t chainTooLong = moved.chainTooLong;
  estimate.countersKnown = true;
  estimate.dropsPerSec = static_cast<double>(drop) / dt;
  estimate.earlyDropsPerSec = static_cast<double>(earlyDrop) / dt;
  estimate.insertFailedPerSec = static_cast<double>(insertFailed) / dt;
  estimate.chainTooLongPerSec = static_cast<double>(chainTooLong) / dt;
  // Each drop is an entry refused and each early_drop an entry evicted for a new one: with the
  // count's own change they are what the table would have grown without the limit.
  const double grown = static_cast<double>(newer.count - older.count) + static_cast<double>(drop + earlyDrop);
  estimate.demandPerSec = std::max(0.0, grown / dt);
}

Estimate estimateWindow(const std::deque<Sample>& window, std::int64_t max) {
  Estimate estimate;
  estimate.samples = window.size();
  if (window.empty()) return estimate;
  estimate.growthPerSec = theilSenSlope(window);
  // Counters are exact, so they need no smoothing; the newest interval says whether the kernel
  // is dropping now, and stops saying so as soon as it stops.
  if (window.size() >= 2) counterRates(window[window.size() - 2], window.back(), estimate);
  const auto count = window.back().count;
  if (max > 0 && count >= max) {
    estimate.secondsToFull = 0.0;
  } else if (estimate.growthPerSec > 0 && max > 0) {
    estimate.secondsToFull = static_cast<double>(max - count) / estimate.growthPerSec;
  }
  return estimate;
}

Estimator::Estimator(std::size_t window, policy::Duration span)
    : window_(std::max<std::size_t>(window, 2)), span_(span) {}

void Estimator::setWindow(std::size_t window, policy::Duration span) {
  window_ = std::max<std::size_t>(window, 2);
  span_ = span;
  for (auto& [name, samples] : windows_) trim(samples);
}

void Estimator::trim(std::deque<Sample>& samples) const {
  while (samples.size() > window_) samples.pop_front();
  // Bounded in time too, so that samples taken at the long interval do not stretch the window.
  while (samples.size() > kMinWindowSamples && samples.back().time - samples.front().time > span_) {
    samples.pop_front();
  }
}

void Estimator::add(const std::string& netns, Sample sample) {
  auto& samples = windows_[netns];
  // Two samples at the same instant would make a zero-length interval: keep the newer one. A
  // wall clock that stepped backwards (NTP) makes the old samples meaningless: start over.
  if (!samples.empty() && sample.time == samples.back().time) samples.pop_back();
  if (!samples.empty() && sample.time < samples.back().time) samples.clear();
  samples.push_back(std::move(sample));
  trim(samples);
}

void Estimator::forget(const std::string& netns) { windows_.erase(netns); }

Estimate Estimator::estimate(const std::string& netns, std::int64_t max) const {
  const auto found = windows_.find(netns);
  if (found == windows_.end()) return {};
  return estimateWindow(found->second, max);
}

std::vector<std::string> Estimator::known() const {
  std::vector<std::string> names;
  for (const auto& [name, samples] : windows_) names.push_back(name);
  return names;
}

}  // namespace ctpilot::controller
