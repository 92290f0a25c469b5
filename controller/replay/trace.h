#pragma once
// A trace: what the conntrack table of one machine did over time, per sample and netns (count,
// max, buckets and the cumulative statistics counters). `ctpilot record` writes one from the
// live kernel, the Prometheus import builds one from node_exporter's history, and
// `simulate --trace` replays one. On disk it is JSON Lines, version 1 (README "Replay your own
// traffic"): a header line, then one line per sample and netns.

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

namespace ctpilot::controller {

/// The trace format version this build writes and reads.
inline constexpr int kTraceVersion = 1;

/// Counter names a trace carries, as /proc/net/stat/nf_conntrack and node_exporter spell them.
inline constexpr const char* kTraceCounters[] = {"insert", "drop", "early_drop", "insert_failed", "found",
                                                "invalid", "icmp_error", "search_restart", "clash_resolve",
                                                "chaintoolong"};

/// One look at one netns.
struct TraceSample {
  policy::TimePoint time{};
  std::string netns = "init";
  std::int64_t count = 0;
  std::int64_t max = 0;
  std::optional<std::int64_t> buckets;               // unknown in a Prometheus import
  std::map<std::string, std::uint64_t> counters;     // cumulative; a name may be absent
};

/// A whole trace, samples in time order.
struct Trace {
  std::string source = "record";                     // "record" or "prometheus"
  policy::Duration interval = std::chrono::seconds(1);  // the nominal sampling period
  std::optional<std::int64_t> memTotalBytes;          // MemTotal of the machine, when known
  std::vector<TraceSample> samples;
  std::vector<std::string> notes;                    // what an import found: gaps, resets, steps
  /// Returns the namespaces in the order they first appear.
  std::vector<std::string> netns() const;
};

/// Writes the header line of a trace (version, source, interval, memory).
void writeTraceHeader(std::ostream& out, const Trace& trace);
/// Writes one sample line.
void writeTraceSample(std::ostream& out, const TraceSample& sample);
/// Parses a JSON Lines trace; `file` names it in errors. Errc::Malformed with "FILE:LINE: message"
/// on the first bad line (a torn last line included: a trace is not a journal).
Result<Trace> parseTrace(std::istream& in, const std::string& file);
/// Reads a trace file: a ctpilot trace (JSON Lines), or one or more Prometheus range-query answers
/// (see prometheus_import.h), told apart by their first byte. Errc::Missing when unreadable.
Result<Trace> loadTrace(const std::vector<std::string>& files);

}  // namespace ctpilot::controller
