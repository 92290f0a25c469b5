#include "controller/replay/trace.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "controller/replay/prometheus_import.h"

namespace ctpilot::controller {
namespace {

using nlohmann::json;

Error malformed(const std::string& file, std::size_t line, const std::string& what) {
  return Error{Errc::Malformed, file + ":" + std::to_string(line) + ": " + what};
}

// Reads a non-negative integer field; the message names the field and what was found.
Result<std::int64_t> integerField(const json& j, const char* key, bool required, std::int64_t fallback) {
  const auto found = j.find(key);
  if (found == j.end() || found->is_null()) {
    if (required) return Error{Errc::Malformed, std::string("no \"") + key + "\""};
    return fallback;
  }
  if (!found->is_number_integer() || found->get<std::int64_t>() < 0) {
    return Error{Errc::Malformed, std::string("\"") + key + "\" is " + found->dump() + ", want a non-negative integer"};
  }
  return found->get<std::int64_t>();
}

Result<Trace> parseHeader(const json& j) {
  Trace trace;
  const auto version = j.find("ctpilot_trace");
  if (version == j.end() || !version->is_number_integer()) {
    return Error{Errc::Malformed, "not a ctpilot trace: the first line has no \"ctpilot_trace\" version"};
  }
  if (version->get<int>() != kTraceVersion) {
    return Error{Errc::Malformed, "trace version " + version->dump() + " is not supported (this ctpilot reads version " +
                                      std::to_string(kTraceVersion) + ")"};
  }
  const auto interval = integerField(j, "interval_ms", /*required=*/true, 0);
  if (!interval) return interval.error();
  if (*interval <= 0) return Error{Errc::Malformed, "\"interval_ms\" must be positive"};
  trace.interval = std::chrono::milliseconds(*interval);
  if (j.contains("source") && j["source"].is_string()) trace.source = j["source"].get<std::string>();
  if (j.contains("mem_total_bytes")) {
    const auto mem = integerField(j, "mem_total_bytes", false, 0);
    if (!mem) return mem.error();
    trace.memTotalBytes = *mem;
  }
  return trace;
}

Result<TraceSample> parseSample(const json& j) {
  TraceSample s;
  const auto time = j.find("time");
  if (time == j.end() || !time->is_string()) return Error{Errc::Malformed, "no \"time\" (RFC 3339 UTC)"};
  const auto parsed = parseTime(time->get<std::string>());
  if (!parsed) return Error{Errc::Malformed, "\"time\" " + time->dump() + " is not an RFC 3339 time"};
  s.time = *parsed;
  if (j.contains("netns")) {
    if (!j["netns"].is_string() || j["netns"].get<std::string>().empty()) return Error{Errc::Malformed, "\"netns\" must be a name"};
    s.netns = j["netns"].get<std::string>();
  }
  const auto count = integerField(j, "count", true, 0);
  if (!count) return count.error();
  const auto max = integerField(j, "max", true, 0);
  if (!max) return max.error();
  s.count = *count;
  s.max = *max;
  if (j.contains("buckets") && !j["buckets"].is_null()) {
    const auto buckets = integerField(j, "buckets", true, 0);
    if (!buckets) return buckets.error();
    s.buckets = *buckets;
  }
  for (const char* name : kTraceCounters) {
    if (!j.contains(name) || j[name].is_null()) continue;
    const auto value = integerField(j, name, true, 0);
    if (!value) return value.error();
    s.counters[name] = static_cast<std::uint64_t>(*value);
  }
  return s;
}

}  // namespace

std::vector<std::string> Trace::netns() const {
  std::vector<std::string> out;
  for (const auto& s : samples) {
    if (std::find(out.begin(), out.end(), s.netns) == out.end()) out.push_back(s.netns);
  }
  return out;
}

void writeTraceHeader(std::ostream& out, const Trace& trace) {
  json j{{"ctpilot_trace", kTraceVersion},
         {"source", trace.source},
         {"interval_ms", std::chrono::duration_cast<std::chrono::milliseconds>(trace.interval).count()}};
  if (trace.memTotalBytes) j["mem_total_bytes"] = *trace.memTotalBytes;
  out << j.dump() << '\n';
}

void writeTraceSample(std::ostream& out, const TraceSample& sample) {
  // ordered_json keeps the documented field order, which makes traces easy to read and diff.
  nlohmann::ordered_json j{{"time", formatTime(sample.time)}, {"netns", sample.netns}, {"count", sample.count}, {"max", sample.max}};
  j["buckets"] = sample.buckets ? nlohmann::ordered_json(*sample.buckets) : nlohmann::ordered_json(nullptr);
  for (const char* name : kTraceCounters) {
    const auto found = sample.counters.find(name);
    if (found != sample.counters.end()) j[name] = found->second;
  }
  out << j.dump() << '\n';
}

Result<Trace> parseTrace(std::istream& in, const std::string& file) {
  std::string line;
  std::size_t number = 0;
  std::optional<Trace> trace;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      return malformed(file, number, std::string("not JSON (") + e.what() + ")");
    }
    if (!j.is_object()) return malformed(file, number, "not a JSON object");
    if (!trace) {
      auto header = parseHeader(j);
      if (!header) return malformed(file, number, header.error().what);
      trace = std::move(*header);
      continue;
    }
    auto sample = parseSample(j);
    if (!sample) return malformed(file, number, sample.error().what);
    if (!trace->samples.empty() && sample->time < trace->samples.back().time) {
      return malformed(file, number, "time goes backwards (" + formatTime(sample->time) + " after " +
                                         formatTime(trace->samples.back().time) + ")");
    }
    trace->samples.push_back(std::move(*sample));
  }
  if (!trace) return Error{Errc::Malformed, file + ": empty; a trace starts with a {\"ctpilot_trace\":1,...} line"};
  if (trace->samples.size() < 2) return Error{Errc::Malformed, file + ": fewer than two samples; record for longer"};
  return std::move(*trace);
}

Result<Trace> loadTrace(const std::vector<std::string>& files) {
  if (files.empty()) return Error{Errc::Missing, "no trace file given"};
  std::vector<std::string> texts;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) return Error{Errc::Missing, "cannot read " + file + "; check the path"};
    std::stringstream text;
    text << in.rdbuf();
    texts.push_back(text.str());
  }
  // A ctpilot trace names itself on its first line; anything else is taken for Prometheus JSON.
  const auto firstLine = texts.front().substr(0, texts.front().find('\n'));
  if (firstLine.find("\"ctpilot_trace\"") != std::string::npos) {
    if (files.size() > 1) return Error{Errc::Malformed, files[1] + ": a ctpilot trace is one file; several files are for Prometheus answers"};
    std::istringstream in(texts.front());
    return parseTrace(in, files.front());
  }
  std::vector<PrometheusAnswer> answers;
  for (std::size_t i = 0; i < files.size(); ++i) answers.push_back({files[i], texts[i]});
  return importPrometheus(answers);
}

}  // namespace ctpilot::controller
