// SPDX-License-Identifier: Apache-2.0
#pragma once
// Turns samples of one network namespace into rates: growth of the table (a robust regression
// over a window of samples), drop / early_drop / insert_failed / chaintoolong per second from
// the kernel's per-CPU 32-bit counters (wrap handled), and the time until the table is full.
// Pure: time comes in the samples, nothing here reads the clock or the kernel.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/observation.h"
#include "policy/policy.h"
#include "sysfs/stats.h"

namespace ctpilot::controller {

/// One look at one namespace: when, how many entries, and the per-CPU counters (empty when
/// statistics were unavailable).
struct Sample {
  policy::TimePoint time{};
  std::int64_t count = 0;
  std::vector<sysfs::CpuCounters> cpus;
};

/// What the estimator derives from a namespace's window of samples.
struct Estimate {
  std::size_t samples = 0;  // samples in the window
  double growthPerSec = 0;  // entries/s, Theil-Sen slope over the window; 0 with < 2 samples
  double dropsPerSec = 0;   // over the newest interval; 0 when unknown
  double earlyDropsPerSec = 0;
  double insertFailedPerSec = 0;
  double chainTooLongPerSec = 0;
  double demandPerSec = 0;              // newest interval: (count change + drop + early_drop) / s, the
                                        // growth a full table hides; 0 when counters are unknown
  bool countersKnown = false;           // false: no stats, one sample, or the CPU count changed
  std::optional<double> secondsToFull;  // count reaches max at this growth; 0 when already full;
                                        // nullopt when not growing
};

/// The fewest and most samples a window holds.
inline constexpr std::size_t kMinWindowSamples = 3;
inline constexpr std::size_t kMaxWindowSamples = 30;

/// Returns the number of samples a window keeps for `policy`: enough to span a quarter of
/// max.lookahead at the faster of controller.interval and fast_interval, within
/// [kMinWindowSamples, kMaxWindowSamples]. A quarter of the lookahead reacts to a surge well
/// before the prediction horizon while the median of pairwise slopes still ignores one or two
/// noisy samples.
std::size_t windowSamples(const policy::Policy& policy);

/// Returns the time a window spans at most: a quarter of max.lookahead. The daemon samples at
/// two paces (fast_interval near the limit), so the window is bounded in time as well as in
/// samples: at the long interval it holds the same span, fewer samples.
policy::Duration windowSpan(const policy::Policy& policy);

/// Returns the Theil-Sen slope (median of the pairwise slopes, entries/s) of count over time;
/// 0 with fewer than two samples with distinct times. One outlier in five cannot swing it.
double theilSenSlope(const std::deque<Sample>& window);

/// Returns how far a 32-bit kernel counter moved from `before` to `after`, assuming it wrapped
/// at most once in between.
std::uint32_t counterDelta(std::uint32_t before, std::uint32_t after);

/// Adds to `totals` how far each per-CPU counter moved from `before` to `after` (the same CPUs,
/// in the same order), each by counterDelta.
void addCounterDeltas(const std::vector<sysfs::CpuCounters>& before, const std::vector<sysfs::CpuCounters>& after,
                      sysfs::CounterTotals& totals);

/// Fills the counter rates of `estimate` from two samples (per second, summed over CPUs, each
/// CPU's counters subtracted as uint32), and the demand (count change + drop + early_drop per
/// second; the kernel's `insert` counter reads 0 on recent kernels). Leaves them 0 and countersKnown false when either
/// sample has no counters, the CPU count differs (a CPU came or went) or no time passed.
void counterRates(const Sample& older, const Sample& newer, Estimate& estimate);

/// Estimates from a window (oldest first) and the current nf_conntrack_max.
Estimate estimateWindow(const std::deque<Sample>& window, std::int64_t max);

/// Keeps a window of samples per namespace.
class Estimator {
 public:
  /// Creates an estimator keeping at most `window` samples per namespace (at least 2), and of
  /// those only the ones within `span` of the newest (but always kMinWindowSamples).
  explicit Estimator(std::size_t window = kMinWindowSamples, policy::Duration span = policy::Duration::max());
  /// Changes the window length and span (policy reload); trims longer windows.
  void setWindow(std::size_t window, policy::Duration span = policy::Duration::max());
  /// Adds a sample of `netns`; one at the same time as the last replaces it, one older than
  /// the last (the clock stepped back) starts the window over.
  void add(const std::string& netns, Sample sample);
  /// Forgets a namespace that vanished.
  void forget(const std::string& netns);
  /// Estimates `netns` against nf_conntrack_max `max`; an empty Estimate when never sampled.
  Estimate estimate(const std::string& netns, std::int64_t max) const;
  /// Returns the namespaces with samples.
  std::vector<std::string> known() const;

 private:
  void trim(std::deque<Sample>& samples) const;

  std::size_t window_;
  policy::Duration span_;
  std::map<std::string, std::deque<Sample>> windows_;
};

}  // namespace ctpilot::controller
