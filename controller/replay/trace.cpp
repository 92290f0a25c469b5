// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/trace.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <streambuf>

#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "controller/replay/prometheus_import.h"
#include "policy/read_file.h"

namespace ctpilot::controller {
namespace {

using nlohmann::json;

// A value quoted in a message: at most `maxChars` characters ("..." marks a cut), control bytes
// escaped. The value nests at most as deep as parseBoundedJson let it.
std::string quoteJson(const json& value, std::size_t maxChars = 64) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > maxChars) text = text.substr(0, maxChars) + "...";
  return printable(text);
}

Error malformed(const std::string& file, std::size_t line, const std::string& what) {
  // The file's own bytes may be quoted in `what`: escaped, so they cannot drive a terminal.
  return Error{Errc::Malformed, printable(file + ":" + std::to_string(line) + ": " + what)};
}

// Reads an integer field from 0 to `most`; the message names the field and what was found.
Result<std::int64_t> integerField(const json& j, const char* key, bool required, std::int64_t fallback,
                                  std::int64_t most = std::numeric_limits<std::int64_t>::max()) {
  const auto found = j.find(key);
  if (found == j.end() || found->is_null()) {
    if (required) return Error{Errc::Malformed, std::string("no \"") + key + "\""};
    return fallback;
  }
  // An unsigned value beyond int64 reads as negative here and is refused like one.
  if (!found->is_number_integer() || found->get<std::int64_t>() < 0 || found->get<std::int64_t>() > most) {
    return Error{Errc::Malformed, std::string("\"") + key + "\" is " + quoteJson(*found) +
                                      ", want an integer from 0 to " + std::to_string(most)};
  }
  return found->get<std::int64_t>();
}

// A line of at most `most` bytes, without its newline; false at the end of the stream.
// `tooLong` is set (and the rest of the line skipped) for a longer one; `ended` says whether
// the line ended with a newline.
bool boundedLine(std::istream& in, std::string& line, std::size_t most, bool& tooLong, bool& ended) {
  line.clear();
  tooLong = false;
  ended = false;
  auto* buf = in.rdbuf();
  bool any = false;
  for (;;) {
    const auto c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) return any;
    any = true;
    if (c == '\n') {
      ended = true;
      return true;
    }
    if (line.size() < most) {
      line.push_back(static_cast<char>(c));
    } else {
      tooLong = true;
    }
  }
}

Result<Trace> parseHeader(const json& j) {
  Trace trace;
  const auto version = j.find("ctpilot_trace");
  if (version == j.end() || !version->is_number_integer()) {
    return Error{Errc::Malformed, "not a ctpilot trace: the first line has no \"ctpilot_trace\" version"};
  }
  if (version->get<int>() != kTraceVersion) {
    return Error{Errc::Malformed, "trace version " + quoteJson(*version) +
                                      " is not supported (this ctpilot reads version " + std::to_string(kTraceVersion) +
                                      ")"};
  }
  const auto interval = integerField(j, "interval_ms", /*required=*/true, 0, kMaxTraceIntervalMs);
  if (!interval) return interval.error();
  if (*interval <= 0) return Error{Errc::Malformed, "\"interval_ms\" must be positive"};
  trace.interval = std::chrono::milliseconds(*interval);
  if (j.contains("source") && j["source"].is_string())
    trace.source = printable(j["source"].get<std::string>().substr(0, 32));
  if (j.contains("mem_total_bytes")) {
    const auto mem = integerField(j, "mem_total_bytes", false, 0, std::int64_t{1} << 50);
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
  if (!parsed)
    return Error{Errc::Malformed, "\"time\" " + quoteJson(*time) + " is not an RFC 3339 time from 1970 to 2200"};
  s.time = *parsed;
  if (j.contains("netns")) {
    if (!j["netns"].is_string()) return Error{Errc::Malformed, "\"netns\" must be a name"};
    s.netns = j["netns"].get<std::string>();
  }
  const auto count = integerField(j, "count", true, 0, kMaxTraceLimit);
  if (!count) return count.error();
  const auto max = integerField(j, "max", true, 0, kMaxTraceLimit);
  if (!max) return max.error();
  s.count = *count;
  s.max = *max;
  if (j.contains("buckets") && !j["buckets"].is_null()) {
    const auto buckets = integerField(j, "buckets", true, 0, kMaxTraceLimit);
    if (!buckets) return buckets.error();
    s.buckets = *buckets;
  }
  for (const char* name : kTraceCounters) {
    if (!j.contains(name) || j[name].is_null()) continue;
    const auto value = integerField(j, name, true, 0, static_cast<std::int64_t>(kMaxTraceCounter));
    if (!value) return value.error();
    s.counters[name] = static_cast<std::uint64_t>(*value);
  }
  if (auto checked = checkTraceSample(s); !checked) return checked.error();
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
  nlohmann::ordered_json j{
      {"time", formatTime(sample.time)}, {"netns", sample.netns}, {"count", sample.count}, {"max", sample.max}};
  j["buckets"] = sample.buckets ? nlohmann::ordered_json(*sample.buckets) : nlohmann::ordered_json(nullptr);
  for (const char* name : kTraceCounters) {
    const auto found = sample.counters.find(name);
    if (found != sample.counters.end()) j[name] = found->second;
  }
  out << j.dump() << '\n';
}

Result<void> checkTraceSample(const TraceSample& s) {
  const auto& name = s.netns;
  if (name.empty() || name.size() > kMaxNetnsNameBytes) {
    return Error{Errc::Malformed, "\"netns\" must be a name of 1 to " + std::to_string(kMaxNetnsNameBytes) + " bytes"};
  }
  if (std::any_of(name.begin(), name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '/'; })) {
    return Error{Errc::Malformed,
                 "\"netns\" " + quoteJson(name) + " holds a control byte or a slash; not a netns name"};
  }
  if (s.max < 1 || s.max > kMaxTraceLimit) {
    return Error{Errc::Malformed,
                 "\"max\" is " + std::to_string(s.max) + ", want 1 to " + std::to_string(kMaxTraceLimit)};
  }
  if (s.count < 0 || s.count > s.max) {
    return Error{Errc::Malformed, "\"count\" " + std::to_string(s.count) + " is above \"max\" " +
                                      std::to_string(s.max) + "; the kernel never holds more entries than its limit"};
  }
  if (s.buckets && (*s.buckets < 1 || *s.buckets > kMaxTraceLimit)) {
    return Error{Errc::Malformed,
                 "\"buckets\" is " + std::to_string(*s.buckets) + ", want 1 to " + std::to_string(kMaxTraceLimit)};
  }
  for (const auto& [counter, value] : s.counters) {
    if (value > kMaxTraceCounter) {
      return Error{Errc::Malformed, "\"" + printable(counter) + "\" is " + std::to_string(value) + ", beyond 2^53"};
    }
  }
  return {};
}

Result<Trace> parseTrace(std::istream& in, const std::string& file) {
  std::string line;
  std::size_t number = 0;
  std::optional<Trace> trace;
  bool tooLong = false;
  bool ended = false;
  while (boundedLine(in, line, kMaxTraceLineBytes, tooLong, ended)) {
    ++number;
    if (tooLong)
      return malformed(file, number, "longer than " + std::to_string(kMaxTraceLineBytes) + " bytes; not a trace line");
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    // No deep recursion (nesting checked before parsing), no exception (1e400).
    auto j = parseBoundedJson(line, kMaxTraceLineDepth);
    if (!j && !ended && trace) {
      // The writer stopped mid-line (a full disk, a crash): what came before is a trace.
      trace->warnings.push_back(printable(file + ":" + std::to_string(number) + ": the last line is cut short (" +
                                          std::to_string(line.size()) +
                                          " bytes and no newline: written when the disk was full?); replaying the " +
                                          std::to_string(trace->samples.size()) + " samples before it"));
      break;
    }
    if (!j) return malformed(file, number, j.error().what);
    if (!j->is_object()) return malformed(file, number, "not a JSON object");
    if (!trace) {
      auto header = parseHeader(*j);
      if (!header) return malformed(file, number, header.error().what);
      trace = std::move(*header);
      continue;
    }
    auto sample = parseSample(*j);
    if (!sample) return malformed(file, number, sample.error().what);
    if (!trace->samples.empty() && sample->time < trace->samples.back().time) {
      return malformed(file, number,
                       "time goes backwards (" + formatTime(sample->time) + " after " +
                           formatTime(trace->samples.back().time) + ")");
    }
    if (trace->samples.size() == kMaxTraceSamples) {
      return malformed(file, number,
                       "more than " + std::to_string(kMaxTraceSamples) +
                           " samples; replay a part of it (split it, or record at a longer interval)");
    }
    trace->samples.push_back(std::move(*sample));
  }
  if (!trace)
    return Error{Errc::Malformed, printable(file) + ": empty; a trace starts with a {\"ctpilot_trace\":1,...} line"};
  if (trace->samples.size() < 2)
    return Error{Errc::Malformed, printable(file) + ": fewer than two samples; record for longer"};
  return std::move(*trace);
}

namespace {

// Reads a file descriptor as a stream, a buffer at a time: a trace is parsed as it is read.
class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd) : fd_(fd) {}

 protected:
  int_type underflow() override {
    ssize_t n = 0;
    do {
      n = ::read(fd_, buffer_.data(), buffer_.size());
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return traits_type::eof();
    setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  int fd_;
  std::array<char, 65536> buffer_{};
};

}  // namespace

Error traceFileError(const Error& e, const std::string& file) {
  if (e.code == Errc::Malformed) return Error{Errc::Malformed, printable(e.what)};
  return Error{Errc::Missing, printable("cannot read " + file + "; check the path")};
}

Result<std::optional<Trace>> loadCtpilotTrace(const std::vector<std::string>& files) {
  if (files.empty()) return Error{Errc::Missing, "no trace file given"};
  auto first = openRegularFile(files.front());
  if (!first) return traceFileError(first.error(), files.front());
  // A ctpilot trace names itself on its first line; anything else is taken for Prometheus JSON.
  std::array<char, 4096> head{};
  ssize_t got = 0;
  do {
    got = ::pread(first->get(), head.data(), head.size(), 0);
  } while (got < 0 && errno == EINTR);
  const std::string_view start(head.data(), got > 0 ? static_cast<std::size_t>(got) : 0);
  if (start.substr(0, start.find('\n')).find("\"ctpilot_trace\"") == std::string_view::npos)
    return std::optional<Trace>{};
  if (files.size() > 1)
    return Error{Errc::Malformed,
                 printable(files[1]) + ": a ctpilot trace is one file; several files are for Prometheus answers"};
  FdStreambuf buffer(first->get());
  std::istream in(&buffer);
  auto trace = parseTrace(in, files.front());
  if (!trace) return trace.error();
  return std::optional<Trace>(std::move(*trace));
}

Result<Trace> loadTrace(const std::vector<std::string>& files) {
  auto trace = loadCtpilotTrace(files);
  if (!trace) return trace.error();
  if (*trace) return std::move(**trace);
  const auto answers = readPrometheusAnswers(files);
  if (!answers) return answers.error();
  return importPrometheus(*answers);
}

}  // namespace ctpilot::controller
