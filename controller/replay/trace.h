// SPDX-License-Identifier: Apache-2.0
#pragma once
// A trace: what the conntrack table of one machine did over time, per sample and netns (count,
// max, buckets and the cumulative statistics counters). `ctpilot record` writes one from the
// live kernel, the Prometheus import builds one from node_exporter's history, and
// `simulate --trace` replays one. On disk it is JSON Lines, version 1 (README "Replay your own
// traffic"): a header line, then one line per sample and netns.

#include <cstddef>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "policy/observation.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "sysfs/counters.h"

namespace ctpilot::controller {

/// The trace format version this build writes and reads.
inline constexpr int kTraceVersion = 1;

// What a trace may hold (README Safety promise 13, "Replay your own traffic"): every number read
// is range-checked against these, so no figure of the replay can overflow.
/// The longest line of a ctpilot trace (a sample line is about 300 bytes).
inline constexpr std::size_t kMaxTraceLineBytes = std::size_t{64} << 10;
/// The most samples a trace may hold: about 1 GiB in memory (measured: 1,000,000 samples, 1.07 GB
/// peak RSS for the whole simulate); a week at 1 s is 604,800 per netns.
inline constexpr std::size_t kMaxTraceSamples = 1'000'000;
/// The deepest nesting of a trace line (a flat object: 1).
inline constexpr int kMaxTraceLineDepth = 4;
/// nf_conntrack_max and nf_conntrack_buckets are C ints in the kernel.
inline constexpr std::int64_t kMaxTraceLimit = policy::kTableSizeRange.max;
/// The largest counter total: 2^53, 285 years at a million inserts a second.
inline constexpr std::uint64_t kMaxTraceCounter = std::uint64_t{1} << 53;
/// The longest sampling period a trace may state: one day.
inline constexpr std::int64_t kMaxTraceIntervalMs = 86'400'000;
/// The longest netns name (a file name in /run/netns).
inline constexpr std::size_t kMaxNetnsNameBytes = 255;

/// Counter names a trace carries, as /proc/net/stat/nf_conntrack and node_exporter spell them,
/// in the order of a trace line (sysfs/counters.h).
inline constexpr auto kTraceCounters = sysfs::counterNamesInTraceOrder();

/// One look at one netns.
struct TraceSample {
  policy::TimePoint time{};
  std::string netns = "init";
  std::int64_t count = 0;
  std::int64_t max = 0;
  std::optional<std::int64_t> buckets;            // unknown in a Prometheus import
  std::map<std::string, std::uint64_t> counters;  // cumulative; a name may be absent
};

/// A whole trace, samples in time order.
struct Trace {
  std::string source = "record";                        // "record" or "prometheus"
  policy::Duration interval = std::chrono::seconds(1);  // the nominal sampling period
  std::optional<std::int64_t> memTotalBytes;            // MemTotal of the machine, when known
  std::vector<TraceSample> samples;
  std::vector<std::string> notes;     // what an import found: gaps, resets, steps
  std::vector<std::string> warnings;  // what was left out: a last line cut short
  /// Returns the namespaces in the order they first appear.
  std::vector<std::string> netns() const;
};

/// Writes the header line of a trace (version, source, interval, memory).
void writeTraceHeader(std::ostream& out, const Trace& trace);
/// Writes one sample line.
void writeTraceSample(std::ostream& out, const TraceSample& sample);
/// Checks that the numbers and the netns name of `s` are in range: 1 <= max <= kMaxTraceLimit,
/// 0 <= count <= max, buckets in 1..kMaxTraceLimit, counters <= kMaxTraceCounter, a netns name
/// of 1 to 255 bytes with no control byte or slash. Errc::Malformed saying which is not.
Result<void> checkTraceSample(const TraceSample& s);
/// Parses a JSON Lines trace as it streams in (lines of at most kMaxTraceLineBytes, at most
/// kMaxTraceSamples samples); `file` names it in errors. Errc::Malformed with "FILE:LINE: message"
/// (control bytes escaped) on the first bad line. A last line that is not JSON and has no
/// newline (the disk filled up mid-write) is left out with a warning: the trace replays as far
/// as it goes.
Result<Trace> parseTrace(std::istream& in, const std::string& file);
/// The error of a `simulate --trace` file that could not be read, as simulate says it: a file
/// that is not a regular file or too large keeps its message (Errc::Malformed); anything else
/// is Errc::Missing "cannot read FILE; check the path". Control bytes escaped.
Error traceFileError(const Error& e, const std::string& file);
/// Reads `simulate --trace` files when the first is a ctpilot trace (JSON Lines, streamed; told
/// by its first line, and then it must be the only file); std::nullopt when it is not one (then
/// they are Prometheus answers: readPrometheusAnswers in prometheus_import.h). Each file must be a regular file (a FIFO
/// or device is refused at once). Errc::Missing when absent or unreadable.
Result<std::optional<Trace>> loadCtpilotTrace(const std::vector<std::string>& files);
/// One trace from `simulate --trace` files: loadCtpilotTrace, else the Prometheus answers
/// merged into one (importPrometheus). Fleets of several instances: loadFleetTraces (fleet.h).
Result<Trace> loadTrace(const std::vector<std::string>& files);

}  // namespace ctpilot::controller
