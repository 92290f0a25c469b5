#include "controller/replay/prometheus_import.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

using nlohmann::json;

// One series: its values by time (ms since the epoch) and where it came from.
struct Series {
  std::string origin;  // "FILE: $.data.result[3]"
  std::map<std::int64_t, double> values;
};

// What a metric name means in a trace.
enum class Role { Count, Max, Counter, Memory, Buckets, Ignored };

Role roleOf(const std::string& name, std::string* counter) {
  if (name == "node_nf_conntrack_entries") return Role::Count;
  if (name == "node_nf_conntrack_entries_limit") return Role::Max;
  if (name == "node_memory_MemTotal_bytes") return Role::Memory;
  const std::string stat = "node_nf_conntrack_stat_";
  if (name.rfind(stat, 0) == 0) {
    *counter = name.substr(stat.size());
    for (const char* known : kTraceCounters) {
      if (*counter == known) return Role::Counter;
    }
    return Role::Ignored;
  }
  if (name == "ctpilot_conntrack_buckets") return Role::Buckets;  // ctpilot's own metrics (README "Monitoring")
  return Role::Ignored;
}

Error bad(const std::string& where, const std::string& what) { return Error{Errc::Malformed, where + ": " + what}; }

// Reads one [time, "value"] pair; NaN values (Prometheus writes "NaN") are skipped.
Result<std::optional<std::pair<std::int64_t, double>>> parsePoint(const json& point, const std::string& where) {
  if (!point.is_array() || point.size() != 2 || !point[0].is_number() || !point[1].is_string()) {
    return bad(where, "want [unix_time, \"value\"], found " + point.dump());
  }
  const auto& text = point[1].get_ref<const std::string&>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return bad(where + "[1]", "\"" + text + "\" is not a number");
  if (std::isnan(value)) return std::optional<std::pair<std::int64_t, double>>{};
  if (value < 0 || std::isinf(value)) return bad(where + "[1]", "\"" + text + "\" is not a count");
  const auto ms = static_cast<std::int64_t>(std::llround(point[0].get<double>() * 1000));
  return std::optional<std::pair<std::int64_t, double>>{{ms, value}};
}

struct Collected {
  std::map<std::string, Series> byName;  // metric name -> series
  std::set<std::string> instances;
  std::set<std::string> ignored;
  int nanPoints = 0;
};

// Finds the matrix in an answer: $.data.result of the HTTP API, or the bare array that
// `promtool query range -o json` prints. Sets `base` to its JSON path.
Result<const json*> matrixOf(const json& j, const std::string& file, std::string& base) {
  base = "$";
  if (j.is_array()) return &j;
  if (!j.is_object() || !j.contains("status")) return bad(file + ": $", "not a Prometheus API answer (no \"status\")");
  if (j["status"] != "success") {
    return bad(file + ": $.status", j["status"].dump() + ", want \"success\" (" + j.value("error", std::string("no error text")) + ")");
  }
  if (!j.contains("data") || !j["data"].is_object()) return bad(file + ": $.data", "missing");
  const auto& data = j["data"];
  if (data.value("resultType", std::string()) != "matrix") {
    return bad(file + ": $.data.resultType", data.value("resultType", std::string("missing")) +
                                                ", want \"matrix\" (use /api/v1/query_range, not /api/v1/query)");
  }
  if (!data.contains("result") || !data["result"].is_array()) return bad(file + ": $.data.result", "missing or not an array");
  base = "$.data.result";
  return &data["result"];
}

Result<bool> collectAnswer(const PrometheusAnswer& answer, Collected& out) {
  json j;
  try {
    j = json::parse(answer.text);
  } catch (const json::parse_error& e) {
    return bad(answer.file, std::string("not JSON (") + e.what() + "); want the answer of /api/v1/query_range");
  }
  std::string base;
  const auto matrix = matrixOf(j, answer.file, base);
  if (!matrix) return matrix.error();
  const auto& result = **matrix;
  for (std::size_t i = 0; i < result.size(); ++i) {
    const std::string where = answer.file + ": " + base + "[" + std::to_string(i) + "]";
    const auto& series = result[i];
    if (!series.is_object() || !series.contains("metric") || !series["metric"].is_object()) return bad(where + ".metric", "missing");
    const auto& metric = series["metric"];
    if (!metric.contains("__name__") || !metric["__name__"].is_string()) {
      return bad(where + ".metric.__name__", "missing: query the raw series (not an expression such as rate())");
    }
    const auto name = metric["__name__"].get<std::string>();
    std::string counter;
    if (roleOf(name, &counter) == Role::Ignored) {
      out.ignored.insert(name);
      continue;
    }
    if (metric.contains("instance") && metric["instance"].is_string()) out.instances.insert(metric["instance"].get<std::string>());
    if (out.byName.count(name) != 0U) {
      return bad(where, name + " appears twice (also at " + out.byName[name].origin +
                            "); narrow the query to one instance and job");
    }
    if (!series.contains("values") || !series["values"].is_array()) return bad(where + ".values", "missing or not an array");
    Series s{where, {}};
    const auto& values = series["values"];
    for (std::size_t v = 0; v < values.size(); ++v) {
      auto point = parsePoint(values[v], where + ".values[" + std::to_string(v) + "]");
      if (!point) return point.error();
      if (!*point) {
        ++out.nanPoints;
        continue;
      }
      s.values[(*point)->first] = (*point)->second;
    }
    out.byName.emplace(name, std::move(s));
  }
  return true;
}

// The typical distance between two points of a series (the median), in ms; 0 with one point.
std::int64_t stepOf(const Series& s) {
  std::vector<std::int64_t> diffs;
  std::int64_t last = -1;
  for (const auto& [t, v] : s.values) {
    if (last >= 0) diffs.push_back(t - last);
    last = t;
  }
  if (diffs.empty()) return 0;
  std::nth_element(diffs.begin(), diffs.begin() + static_cast<std::ptrdiff_t>(diffs.size() / 2), diffs.end());
  return diffs[diffs.size() / 2];
}

std::string seconds(std::int64_t ms) {
  return policy::formatDuration(std::chrono::duration_cast<policy::Duration>(std::chrono::milliseconds(ms)));
}

// Notes the steps of the series when they differ, and the instants left out for want of a value.
void noteSteps(const Collected& c, Trace& trace) {
  std::map<std::int64_t, std::vector<std::string>> names;
  for (const auto& [name, s] : c.byName) names[stepOf(s)].push_back(name);
  if (names.size() > 1) {
    std::string text = "steps differ:";
    for (const auto& [step, list] : names) {
      text += " " + seconds(step) + " (";
      for (std::size_t i = 0; i < list.size(); ++i) text += (i ? ", " : "") + list[i];
      text += ")";
    }
    trace.notes.push_back(text + "; replaying only the instants every required series has");
  }
}

}  // namespace

namespace {

// Refuses series of several instances and answers without a required series.
Result<bool> checkSeries(const Collected& c, const std::string& files) {
  if (c.instances.size() > 1) {
    std::string list;
    for (const auto& i : c.instances) list += (list.empty() ? "" : ", ") + i;
    return bad(files, "series of " + std::to_string(c.instances.size()) + " instances (" + list +
                          "); query one gateway: {__name__=~\"node_nf_conntrack_.*\",instance=\"...\"}");
  }
  for (const char* required : {"node_nf_conntrack_entries", "node_nf_conntrack_entries_limit", "node_nf_conntrack_stat_insert",
                               "node_nf_conntrack_stat_drop"}) {
    if (c.byName.count(required) == 0U) {
      return bad(files + ": $.data.result", std::string("no ") + required +
                                                " series; query {__name__=~\"node_nf_conntrack_.*\",instance=\"...\"} (README \"Replay your own traffic\")");
    }
  }
  return true;
}

// One sample per instant of node_nf_conntrack_entries where limit, insert and drop have a value too.
void buildSamples(const Collected& c, Trace& trace) {
  const auto& count = c.byName.at("node_nf_conntrack_entries");
  const auto& max = c.byName.at("node_nf_conntrack_entries_limit");
  const auto& insert = c.byName.at("node_nf_conntrack_stat_insert");
  const auto& drop = c.byName.at("node_nf_conntrack_stat_drop");
  int leftOut = 0;
  for (const auto& [t, value] : count.values) {
    if (max.values.count(t) == 0U || insert.values.count(t) == 0U || drop.values.count(t) == 0U) {
      ++leftOut;
      continue;
    }
    TraceSample s;
    s.time = policy::TimePoint(std::chrono::duration_cast<policy::TimePoint::duration>(std::chrono::milliseconds(t)));
    s.count = std::llround(value);
    s.max = std::llround(max.values.at(t));
    for (const auto& [name, series] : c.byName) {
      std::string counter;
      const auto role = roleOf(name, &counter);
      const auto found = series.values.find(t);
      if (found == series.values.end()) continue;
      if (role == Role::Counter) s.counters[counter] = static_cast<std::uint64_t>(std::llround(found->second));
      if (role == Role::Buckets) s.buckets = std::llround(found->second);
      if (role == Role::Memory) trace.memTotalBytes = std::llround(found->second);
    }
    trace.samples.push_back(std::move(s));
  }
  if (leftOut > 0) {
    trace.notes.push_back(std::to_string(leftOut) +
                          " instant(s) of node_nf_conntrack_entries left out: limit, stat_insert or stat_drop has no value there");
  }
}

// Sets the nominal interval to the typical step; a longer distance is a gap, reported.
void noteGaps(Trace& trace) {
  Series kept{"", {}};
  for (const auto& s : trace.samples) kept.values[std::chrono::duration_cast<std::chrono::milliseconds>(s.time.time_since_epoch()).count()] = 0;
  const auto step = stepOf(kept);
  trace.interval = std::chrono::milliseconds(std::max<std::int64_t>(1, step));
  std::int64_t last = -1;
  for (const auto& [t, unused] : kept.values) {
    if (last >= 0 && t - last > step + step / 2) {
      trace.notes.push_back("gap of " + seconds(t - last) + " after " + formatTime(policy::TimePoint(std::chrono::milliseconds(last))) +
                            ": no samples; its counter increase is replayed as one step, nothing is interpolated");
    }
    last = t;
  }
}

}  // namespace

Result<Trace> importPrometheus(const std::vector<PrometheusAnswer>& answers) {
  Collected c;
  for (const auto& answer : answers) {
    auto ok = collectAnswer(answer, c);
    if (!ok) return ok.error();
  }
  const std::string files = answers.size() == 1 ? answers.front().file
                                                 : answers.front().file + " (and " + std::to_string(answers.size() - 1) + " more)";
  if (auto ok = checkSeries(c, files); !ok) return ok.error();
  Trace trace;
  trace.source = "prometheus";
  noteSteps(c, trace);
  buildSamples(c, trace);
  if (c.nanPoints > 0) trace.notes.push_back(std::to_string(c.nanPoints) + " NaN value(s) left out");
  if (!c.ignored.empty()) {
    std::string list;
    for (const auto& name : c.ignored) list += (list.empty() ? "" : ", ") + name;
    trace.notes.push_back("ignored series: " + list);
  }
  if (trace.samples.size() < 2) return bad(files, "fewer than two instants where every required series has a value; widen the range");
  noteGaps(trace);
  if (!trace.samples.front().buckets) {
    trace.notes.push_back("nf_conntrack_buckets is not in node_exporter's metrics: the replay assumes buckets = nf_conntrack_max");
  }
  return trace;
}

}  // namespace ctpilot::controller
