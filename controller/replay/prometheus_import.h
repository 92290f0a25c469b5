// SPDX-License-Identifier: Apache-2.0
#pragma once
// Builds traces from Prometheus history: the JSON answers of the HTTP API's
// /api/v1/query_range (resultType "matrix"), or the bare matrix that `promtool query range -o
// json` prints, holding the conntrack series of one instance or of a whole fleet, in one answer
// or several (several files, or one long range fetched in pieces). Series are grouped by their
// `instance` label; node_exporter's node_nf_conntrack_* series give a trace of netns "init",
// ctpilot's own ctpilot_conntrack_* series (per `netns`) take precedence where an instance has
// them. Nothing is interpolated: instants missing from a required series are left out, gaps
// and differing steps are reported in Trace::notes.
//
// Every answer is hostile input (README "Replay your own traffic"): it is read with a SAX
// parser (memory grows with the points kept, not with the text), nested at most
// kPrometheusMaxDepth levels, at most kPrometheusMaxAnswerBytes long; every time stamp and
// value is range-checked; an error is one line naming the file and the JSON path, with control
// bytes escaped.

#include <cstddef>
#include <string>
#include <vector>

#include "controller/replay/trace.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// The deepest nesting an answer may have (a query_range answer has 6 levels).
inline constexpr int kPrometheusMaxDepth = 16;
/// The largest answer read, in bytes (a week at 15 s of every conntrack series of 50 gateways
/// is about 60 MB).
inline constexpr std::size_t kPrometheusMaxAnswerBytes = std::size_t{512} << 20;
/// The latest time stamp accepted, in seconds since the epoch (2100-01-01T00:00:00Z).
inline constexpr double kPrometheusMaxTime = 4102444800.0;

/// One query_range answer: the file (or URL) it came from and its text.
struct PrometheusAnswer {
  std::string file;
  std::string text;
};

/// Reads each file whole as a saved range-query answer: a regular file (a FIFO or device is
/// refused at once) of at most kPrometheusMaxAnswerBytes. Errc::Missing when one is absent or
/// unreadable, Errc::Malformed when it is not a regular file or too large.
Result<std::vector<PrometheusAnswer>> readPrometheusAnswers(const std::vector<std::string>& files);

/// The trace of one instance of a fleet.
struct InstanceTrace {
  std::string instance;  // the `instance` label; empty when the series have none
  std::string origin;    // "node_exporter" or "ctpilot" (whose series were replayed)
  Trace trace;
};

/// A fleet's traces, sorted by instance, and what the answers said beside the data.
struct FleetTraces {
  std::vector<InstanceTrace> instances;
  std::vector<std::string> warnings;  // Prometheus' own `warnings` (a partial answer), escaped
};

/// Reads the answers into one trace per instance. Errc::Malformed with "FILE: $.json.path:
/// message" for a bad answer, an instance without a required series, series that cannot be
/// grouped (no `instance` label beside series that have one; one metric twice for an instance
/// with other labels differing, e.g. two jobs), or no conntrack series at all.
Result<FleetTraces> importPrometheusFleet(const std::vector<PrometheusAnswer>& answers);

/// Reads the answers into the trace of their one instance; series of several instances are
/// refused (Errc::Malformed) with the list of instances.
Result<Trace> importPrometheus(const std::vector<PrometheusAnswer>& answers);

}  // namespace ctpilot::controller
