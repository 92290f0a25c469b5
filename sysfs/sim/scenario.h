// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scenarios for the simulated kernel: which flows arrive where, how fast and for how long.
// Scenarios are data: a small line-based file format (examples/scenarios/README.md).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/knob.h"
#include "policy/result.h"

namespace ctpilot::sysfs {

using SimDuration = std::chrono::milliseconds;

/// The kinds of flows the simulated kernel knows; each has its own entry life cycle.
enum class FlowClass : std::uint8_t {
  TcpShort,   // assured; lives, then closes into TIME_WAIT (or CLOSE after a RST)
  TcpLong,    // assured, long established; closes into TIME_WAIT
  UdpStream,  // assured (replies); expires after udp_timeout_stream once idle
  UdpOneWay,  // never assured (no reply); expires after udp_timeout; early-droppable
  SynFlood,   // never assured, SYN_SENT; expires after tcp_timeout_syn_sent; early-droppable
};

/// Returns the scenario name of `flow` ("tcp_short", "udp_oneway", ...).
const char* flowClassName(FlowClass flow);
/// Finds a flow class by scenario name; nullopt when unknown.
std::optional<FlowClass> flowClassByName(std::string_view name);
/// Tells whether entries of `flow` become ASSURED (and so cannot be early-dropped).
bool flowAssured(FlowClass flow);
/// Returns the mean lifetime used when a phase gives none (0 for one-packet flows).
SimDuration defaultLife(FlowClass flow);

/// One source of flows: arrivals between `start` and `end` at a rate that ramps or follows a day.
struct ScenarioPhase {
  enum class Shape { Linear, Diurnal };
  int line = 0;  // where it was written, for messages
  std::string netns = "init";
  FlowClass flow = FlowClass::TcpShort;
  SimDuration start{0};
  SimDuration end{0};
  double rateFrom = 0;  // flows per second at start (Linear) or at the trough (Diurnal)
  double rateTo = 0;    // flows per second at end (Linear) or at the peak (Diurnal)
  Shape shape = Shape::Linear;
  SimDuration peak = std::chrono::hours(21);  // Diurnal: time of day of the peak (24 h period)
  SimDuration life{0};                        // mean lifetime (exponential); 0: one packet
  double abandon = 0;  // share of TCP/UDP-stream flows that end without a close (idle until timeout)
  double rst = 0;      // share of TCP flows that end with a RST (CLOSE timeout)
  /// Returns the arrival rate in flows per second at scenario time `t` (0 outside the phase).
  double rateAt(SimDuration t) const;
};

/// An initial timeout value for one namespace.
struct ScenarioTimeout {
  std::string netns;
  policy::Knob knob;
  std::int64_t seconds = 0;
};

/// A whole scenario: the machine, the namespaces and the traffic.
struct Scenario {
  std::string name;
  std::string description;
  SimDuration duration = std::chrono::minutes(10);
  SimDuration step = std::chrono::seconds(1);  // CSV row period
  SimDuration warmup{0};                       // traffic of time 0 run before the clock starts
  std::uint64_t seed = 1;
  std::int64_t max = 262144;                // initial nf_conntrack_max
  std::int64_t buckets = 262144;            // initial nf_conntrack_buckets
  std::int64_t memTotalBytes = 16LL << 30;  // MemTotal of the simulated machine
  int cpus = 2;
  std::vector<std::string> netns{"init"};  // "init" first, then declared names
  std::vector<ScenarioTimeout> timeouts;
  std::vector<ScenarioPhase> phases;
};

/// A parsed scenario, or every problem found ("FILE:LINE: message").
struct ScenarioLoad {
  Scenario scenario;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

/// Parses scenario text; `file` names it in problems. Reports every problem, not just the first.
ScenarioLoad parseScenario(std::string_view text, const std::string& file);

/// Reads and parses a scenario file; an unreadable file is one problem ("FILE: cannot read").
ScenarioLoad loadScenarioFile(const std::string& path);

/// Resolves a scenario argument: an existing file path is used as is; otherwise NAME is looked up
/// as NAME.scenario in each of `dirs` in order. Errc::Missing naming the places searched.
Result<std::string> resolveScenario(const std::string& nameOrPath, const std::vector<std::string>& dirs);

/// Lists the scenario names (file stems) found in `dirs`, sorted, without duplicates.
std::vector<std::string> listScenarios(const std::vector<std::string>& dirs);

}  // namespace ctpilot::sysfs
