// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/fleet.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include <spdlog/fmt/fmt.h>

#include "controller/simulation.h"
#include "controller/written_file.h"
#include "policy/decide.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

// Worst first: replayed drops, then recorded drops, then the replayed peak fill.
bool worse(const FleetRow& a, const FleetRow& b) {
  if (a.replayedDrops != b.replayedDrops) return a.replayedDrops > b.replayedDrops;
  if (a.recordedDrops != b.recordedDrops) return a.recordedDrops > b.recordedDrops;
  const auto fill = [](const FleetRow& r) {
    return r.peakMax > 0 ? static_cast<double>(r.peakEntries) / static_cast<double>(r.peakMax) : 0.0;
  };
  if (fill(a) != fill(b)) return fill(a) > fill(b);
  return std::tie(a.instance, a.netns) < std::tie(b.instance, b.netns);
}

// The highest limit the policy allows on this instance (its ceiling, or what memory_budget holds).
std::int64_t ceilingOf(const policy::Policy& policy, std::int64_t initialMax, std::int64_t memTotalBytes) {
  policy::Observation obs;
  obs.max = initialMax;
  obs.baselineMax = initialMax;
  obs.memTotalBytes = memTotalBytes;
  return policy::effectiveCeiling(policy, obs);
}

struct Replayed {
  std::vector<FleetRow> rows;
  std::vector<std::string> notes;
};

Result<Replayed> replayInstance(const InstanceTrace& it, const policy::Policy& policy, const FleetOptions& options,
                                const std::string& csvPath) {
  Replayed out;
  const auto name = it.instance.empty() ? std::string("-") : printable(it.instance);
  for (const auto& note : it.trace.notes) out.notes.push_back(name + ": " + printable(note));
  auto demand = demandFromTrace(it.trace, options.entryLife);
  if (!demand) return Error{Errc::Malformed, name + ": " + printable(demand.error().what)};
  for (const auto& note : demand->notes) out.notes.push_back(name + ": " + printable(note));
  for (const auto& ns : unwatchedNetns(it.trace.netns(), policy)) {
    out.notes.push_back(name + ": netns " + printable(ns) +
                        " is not watched by the policy (set [controller] netns = all to watch it)");
  }
  // Written like every file ctpilot writes (README Safety promise 13); any failure stops the run.
  std::optional<WrittenStream> csv;
  if (!csvPath.empty()) {
    auto opened = openWrittenStream(csvPath, ExistingFile::Truncate);
    if (!opened) {
      return Error{Errc::Io, opened.error().code == Errc::Malformed ? printable(opened.error().what)
                                                                    : "cannot write " + printable(csvPath)};
    }
    csv = std::move(*opened);
  }
  CtpilotTuner tuner(policy);
  ReplayOptions replayOptions;
  replayOptions.name = name;
  if (it.trace.memTotalBytes) replayOptions.memTotalBytes = *it.trace.memTotalBytes;
  replayOptions.csv = csv ? &csv->out() : nullptr;
  replayOptions.minTick = std::chrono::duration_cast<sysfs::SimDuration>(it.trace.interval);
  ReplayFidelity fidelity;
  const auto s = runReplay(*demand, tuner, replayOptions, &fidelity);
  if (csv && !csv->close()) return Error{Errc::Io, "writing " + printable(csvPath) + " failed"};
  const auto changes = tuner.explainedChanges().size();
  const auto ceiling = ceilingOf(policy, demand->initialMax, replayOptions.memTotalBytes);
  for (const auto& d : demand->netns) {
    FleetRow row;
    row.instance = name;
    row.netns = printable(d.netns);
    row.origin = it.origin.empty() ? it.trace.source : it.origin;
    row.samples = d.steps.size() + 1;
    const auto found = fidelity.netns.find(d.netns);
    if (found != fidelity.netns.end()) {
      row.recordedDrops = found->second.recordedDrops;
      row.replayedDrops = found->second.drops;
      row.replayedEarlyDrops = found->second.earlyDrops;
      row.recordedPeakEntries = found->second.recordedPeakCount;
      row.peakEntries = found->second.peakCount;
    }
    row.initialMax = demand->initialMax;
    row.peakMax = s.peakMax;
    row.effectiveCeiling = ceiling;
    row.peakMemoryBytes = s.peakMemoryBytes;
    row.changes = changes;
    row.worstStallMs = s.worstStallMs;
    row.meanCountError = fidelity.meanAbsCountError;
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace

Result<FleetTraces> loadFleetTraces(const std::vector<std::string>& files) {
  auto trace = loadCtpilotTrace(files);
  if (!trace) return trace.error();
  if (*trace) {
    FleetTraces fleet;
    fleet.instances.push_back({"", "record", std::move(**trace)});
    return fleet;
  }
  const auto answers = readPrometheusAnswers(files);
  if (!answers) return answers.error();
  return importPrometheusFleet(*answers);
}

std::string csvFileName(const std::string& instance) {
  std::string out;
  for (const char c : instance.empty() ? std::string("trace") : instance.substr(0, 200)) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  if (out.find_first_not_of('.') == std::string::npos) out = "_" + out;
  return out + ".csv";
}

Result<FleetReport> replayFleet(const FleetTraces& fleet, const policy::Policy& policy, const FleetOptions& options) {
  FleetReport report;
  report.warnings = fleet.warnings;
  report.instances = fleet.instances.size();
  std::map<std::string, int> csvNames;
  if (!options.csvDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.csvDir, ec);
    if (ec || !std::filesystem::is_directory(options.csvDir)) {
      return Error{Errc::Io,
                   "cannot create the directory " + printable(options.csvDir) + " for --csv (" + ec.message() + ")"};
    }
  }
  std::size_t done = 0;
  for (const auto& it : fleet.instances) {
    std::string csvPath;
    if (!options.csvDir.empty()) {
      auto name = csvFileName(it.instance);
      if (const int seen = csvNames[name]++; seen > 0)
        name = name.substr(0, name.size() - 4) + "-" + std::to_string(seen + 1) + ".csv";
      csvPath = (std::filesystem::path(options.csvDir) / name).string();
    }
    auto replayed = replayInstance(it, policy, options, csvPath);
    if (!replayed) {
      if (replayed.error().code == Errc::Io) return replayed.error();
      report.warnings.push_back("instance " + (it.instance.empty() ? std::string("-") : printable(it.instance)) +
                                " not replayed: " + replayed.error().what);
    } else {
      for (auto& row : replayed->rows) report.rows.push_back(std::move(row));
      for (auto& note : replayed->notes) report.notes.push_back(std::move(note));
    }
    if (options.progress) options.progress(++done, fleet.instances.size());
  }
  std::stable_sort(report.rows.begin(), report.rows.end(), worse);
  return report;
}

namespace {

// The fleet totals, the same for the table and --json: drops summed over rows, instance-wide
// figures (changes, worst stall, at ceiling) once per instance.
struct FleetTotals {
  std::uint64_t recorded = 0;
  std::uint64_t replayed = 0;
  std::size_t changes = 0;
  double stall = 0;
  std::vector<std::string> droppingRows;       // instance or instance/netns, as the table labels them
  std::vector<std::string> droppingInstances;  // sorted, each once
  std::vector<std::string> atCeiling;
};

std::string rowLabel(const FleetRow& row) {
  return row.netns == "init" ? row.instance : row.instance + "/" + row.netns;
}

FleetTotals fleetTotals(const FleetReport& r) {
  FleetTotals t;
  std::map<std::string, std::size_t> counted;
  for (const auto& row : r.rows) {
    t.recorded += row.recordedDrops;
    t.replayed += row.replayedDrops;
    if (counted[row.instance]++ == 0) {
      t.changes += row.changes;
      t.stall = std::max(t.stall, row.worstStallMs);
      if (row.atCeiling()) t.atCeiling.push_back(row.instance);
    }
    if (row.stillDropping()) {
      t.droppingRows.push_back(rowLabel(row));
      t.droppingInstances.push_back(row.instance);
    }
  }
  std::sort(t.droppingInstances.begin(), t.droppingInstances.end());
  t.droppingInstances.erase(std::unique(t.droppingInstances.begin(), t.droppingInstances.end()),
                            t.droppingInstances.end());
  return t;
}

}  // namespace

std::string fleetTable(const FleetReport& r) {
  std::size_t width = 8;
  for (const auto& row : r.rows)
    width = std::max(width, row.instance.size() + (row.netns == "init" ? 0 : row.netns.size() + 1));
  width = std::min<std::size_t>(width, 48);
  std::string out = fmt::format("{:<{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>16}  {:>11}  {:>7}  {:>10}\n", "instance",
                                width, "rec. drops", "drops", "rec. peak", "peak entries", "peak max", "peak memory",
                                "changes", "worst stall");
  for (const auto& row : r.rows) {
    const auto limit = fmt::format("{}{}", row.peakMax, row.atCeiling() ? " (ceil)" : "");
    out += fmt::format("{:<{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>16}  {:>11}  {:>7}  {:>8.1f}ms\n", rowLabel(row),
                       width, row.recordedDrops, row.replayedDrops, row.recordedPeakEntries, row.peakEntries, limit,
                       policy::formatBytes(row.peakMemoryBytes), row.changes, row.worstStallMs);
  }
  const auto t = fleetTotals(r);
  out += fmt::format(
      "\nfleet         {} instance(s), {} row(s): recorded drops {}, replayed drops {}, changes {}, worst stall {:.1f} "
      "ms\n",
      r.instances, r.rows.size(), t.recorded, t.replayed, t.changes, t.stall);
  const auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& n : names) text += (text.empty() ? "" : ", ") + n;
    return names.empty() ? std::string("none") : fmt::format("{} ({})", names.size(), text);
  };
  out += "still dropping " + list(t.droppingRows) + "\n";
  out += "at ceiling    " + list(t.atCeiling) + " (nf_conntrack_max reached the highest the policy allows)\n";
  return out;
}

nlohmann::ordered_json fleetJson(const FleetReport& r) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) {
    rows.push_back({{"instance", row.instance},
                    {"netns", row.netns},
                    {"origin", row.origin},
                    {"samples", row.samples},
                    {"recorded_drops", row.recordedDrops},
                    {"replayed_drops", row.replayedDrops},
                    {"replayed_early_drops", row.replayedEarlyDrops},
                    {"recorded_peak_entries", row.recordedPeakEntries},
                    {"peak_entries", row.peakEntries},
                    {"initial_max", row.initialMax},
                    {"peak_max", row.peakMax},
                    {"effective_ceiling", row.effectiveCeiling},
                    {"peak_memory_bytes", row.peakMemoryBytes},
                    {"changes", row.changes},
                    {"worst_stall_ms", row.worstStallMs},
                    {"mean_count_error", row.meanCountError},
                    {"still_dropping", row.stillDropping()},
                    {"at_ceiling", row.atCeiling()}});
  }
  const auto t = fleetTotals(r);
  nlohmann::ordered_json out;
  out["policy"] = r.policySource;
  out["instances"] = r.instances;
  out["rows"] = rows;
  out["totals"] = {{"recorded_drops", t.recorded},
                   {"replayed_drops", t.replayed},
                   {"changes", t.changes},
                   {"worst_stall_ms", t.stall}};
  out["still_dropping"] = t.droppingInstances;
  out["at_ceiling"] = t.atCeiling;
  out["warnings"] = r.warnings;
  out["notes"] = r.notes;
  return out;
}

}  // namespace ctpilot::controller
