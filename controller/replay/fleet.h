// SPDX-License-Identifier: Apache-2.0
#pragma once
// A policy reviewed on a whole fleet: every instance's trace (files given to `simulate
// --trace`, or answers fetched from Prometheus) replayed under the same policy, and the answer
// as one table, one JSON document or one CSV per instance (README "Replay a whole fleet").

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/replay/prometheus_import.h"
#include "controller/replay/replay.h"
#include "policy/policy.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// Reads `simulate --trace` files: one ctpilot trace (a fleet of one, instance "") or
/// Prometheus answers (one trace per instance), as loadCtpilotTrace and readPrometheusAnswers
/// (trace.h) read them; Errc::Missing when one cannot be read, Errc::Malformed for bad content.
Result<FleetTraces> loadFleetTraces(const std::vector<std::string>& files);

/// One row of the fleet answer: one netns of one instance.
struct FleetRow {
  std::string instance;  // printable
  std::string netns;     // printable
  std::string origin;    // whose series were replayed: "record", "node_exporter", "ctpilot"
  std::size_t samples = 0;
  std::uint64_t recordedDrops = 0, replayedDrops = 0, replayedEarlyDrops = 0;
  std::int64_t recordedPeakEntries = 0, peakEntries = 0;
  // Of the whole instance (the limit and the hash are global):
  std::int64_t initialMax = 0, peakMax = 0, effectiveCeiling = 0;
  std::int64_t peakMemoryBytes = 0;
  std::size_t changes = 0;
  double worstStallMs = 0;
  double meanCountError = 0;
  bool stillDropping() const { return replayedDrops > 0; }
  /// Within 1% of the effective ceiling: the controller keeps the limit a little under it.
  bool atCeiling() const { return static_cast<double>(peakMax) >= 0.99 * static_cast<double>(effectiveCeiling); }
};

/// The fleet answer: rows worst first, and what was said on the way.
struct FleetReport {
  std::string policySource;
  std::vector<FleetRow> rows;
  std::size_t instances = 0;
  std::vector<std::string> warnings;  // Prometheus' warnings, instances not replayed
  std::vector<std::string> notes;     // "INSTANCE: note" from the imports and replays
};

/// How a fleet is replayed.
struct FleetOptions {
  std::optional<sysfs::SimDuration> entryLife;
  std::string csvDir;  // one CSV per instance when not empty (created when missing)
  std::function<void(std::size_t done, std::size_t total)> progress;
};

/// Replays every instance under `policy`; rows worst first (replayed drops, then recorded
/// drops, then peak fill). Errc::Io when the CSV directory cannot be written.
Result<FleetReport> replayFleet(const FleetTraces& fleet, const policy::Policy& policy, const FleetOptions& options);

/// The table: one line per row, then the fleet totals and the instances still dropping or at
/// their ceiling.
std::string fleetTable(const FleetReport& report);

/// The same as one JSON document (README "Replay a whole fleet" gives its shape).
nlohmann::ordered_json fleetJson(const FleetReport& report);

/// A file name for an instance's CSV: its label with anything but [A-Za-z0-9._-] as '_'.
std::string csvFileName(const std::string& instance);

}  // namespace ctpilot::controller
