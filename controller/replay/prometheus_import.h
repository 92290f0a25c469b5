#pragma once
// Builds a trace from Prometheus history: the JSON answers of the HTTP API's
// /api/v1/query_range (resultType "matrix") holding node_exporter's node_nf_conntrack_entries,
// node_nf_conntrack_entries_limit and node_nf_conntrack_stat_* series for one instance, in one
// answer or several; or the bare matrix that `promtool query range -o json` prints. Nothing is interpolated: instants missing from a required series are left
// out, gaps and differing steps are reported in Trace::notes.

#include <string>
#include <vector>

#include "controller/replay/trace.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// One query_range answer: the file it came from and its text.
struct PrometheusAnswer {
  std::string file;
  std::string text;
};

/// Merges the answers into a trace of netns "init" (node_exporter sees its own netns). Needs
/// entries, entries_limit, stat_insert and stat_drop; other stat_* counters,
/// node_memory_MemTotal_bytes and ctpilot_conntrack_buckets are used when present. Errc::Malformed with "FILE: $.json.path:
/// message" for a bad answer, a missing required series or series of several instances.
Result<Trace> importPrometheus(const std::vector<PrometheusAnswer>& answers);

}  // namespace ctpilot::controller
