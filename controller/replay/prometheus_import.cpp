// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/prometheus_import.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <spdlog/fmt/fmt.h>
#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "policy/read_file.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

using nlohmann::json;

// What a metric name means in a trace, and whose series it is.
enum class Role { Count, Max, Counter, Memory, Buckets, Ignored };
enum class Exporter { Node, Ctpilot, Either };

struct Meaning {
  Role role = Role::Ignored;
  Exporter exporter = Exporter::Node;
  std::string counter;  // for Role::Counter: the trace's counter name
};

bool knownCounter(const std::string& name) {
  return std::any_of(std::begin(kTraceCounters), std::end(kTraceCounters), [&](const char* c) { return name == c; });
}

Meaning meaningOf(const std::string& name) {
  if (name == "node_nf_conntrack_entries") return {Role::Count, Exporter::Node, {}};
  if (name == "node_nf_conntrack_entries_limit") return {Role::Max, Exporter::Node, {}};
  if (name == "node_memory_MemTotal_bytes") return {Role::Memory, Exporter::Either, {}};
  if (name == "ctpilot_conntrack_buckets") return {Role::Buckets, Exporter::Either, {}};  // README "Monitoring"
  if (name == "ctpilot_conntrack_entries") return {Role::Count, Exporter::Ctpilot, {}};
  if (name == "ctpilot_conntrack_max") return {Role::Max, Exporter::Ctpilot, {}};
  const std::string stat = "node_nf_conntrack_stat_";
  if (name.rfind(stat, 0) == 0 && knownCounter(name.substr(stat.size())))
    return {Role::Counter, Exporter::Node, name.substr(stat.size())};
  const std::string own = "ctpilot_conntrack_";
  const std::string total = "_total";
  if (name.rfind(own, 0) == 0 && name.size() > own.size() + total.size() &&
      name.compare(name.size() - total.size(), total.size(), total) == 0) {
    auto counter = name.substr(own.size(), name.size() - own.size() - total.size());
    if (knownCounter(counter)) return {Role::Counter, Exporter::Ctpilot, counter};
  }
  return {};
}

// The largest value each role accepts: nf_conntrack_max, the count and the buckets are 32-bit
// in the kernel; counters are kept exactly by a double up to 2^53; memory up to 4 PiB.
double limitOf(Role role) {
  switch (role) {
    case Role::Count:
    case Role::Max:
    case Role::Buckets: return 4294967295.0;
    case Role::Memory: return 4503599627370496.0;
    default: return 9007199254740992.0;
  }
}

Error bad(const std::string& where, const std::string& what) { return Error{Errc::Malformed, where + ": " + what}; }

// A quoted piece of the input for a message: escaped, and cut when long.
std::string shownText(const std::string& text) {
  constexpr std::size_t kShown = 80;
  const auto shown = printable(text.size() > kShown ? text.substr(0, kShown) : text);
  return "\"" + shown + (text.size() > kShown ? "...\"" : "\"");
}

// A key in a JSON path: escaped, and cut when long.
std::string keyText(const std::string& key) { return printable(key.size() > 80 ? key.substr(0, 80) + "..." : key); }

struct Point {
  std::int64_t ms;
  double value;
};

// One series as read: its labels and points, and where it was first met.
struct Stored {
  std::map<std::string, std::string> labels;
  std::string origin;  // "FILE: $.data.result[3]"
  std::vector<Point> points;
};

// Series of the fleet by (instance, name, netns); netns is empty but for ctpilot's per-netns series.
using Key = std::tuple<std::string, std::string, std::string>;

struct Collected {
  std::map<Key, Stored> series;
  std::set<std::string> ignored;
  std::set<std::string> withoutInstance;  // origins of used series that have no instance label
  std::set<std::string> instances;
  std::vector<std::string> warnings;
  int nanPoints = 0;
};

std::string labelText(const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (k == "__name__") continue;
    out += (out.size() > 1 ? "," : "") + printable(k.substr(0, 80)) + "=" + shownText(v);
  }
  return out + "}";
}

// Reads one answer as SAX events into `Collected`: a state machine over the shape of a
// query_range answer, so nothing but the points kept is held, and every error names the JSON
// path it was found at.
class AnswerReader final : public nlohmann::json_sax<json> {
 public:
  AnswerReader(const std::string& file, Collected& out) : file_(file), out_(out) {}

  std::optional<Error> error;

  Result<void> finish() {
    if (error) return *error;
    if (bareMatrix_) return {};
    if (!sawObject_) return bad(file_ + ": $", "not a Prometheus API answer (no \"status\")");
    if (!status_) return bad(file_ + ": $", "not a Prometheus API answer (no \"status\")");
    if (*status_ != "success") {
      return bad(file_ + ": $.status", shownText(*status_) + ", want \"success\" (" +
                                           (errorText_ ? printable(*errorText_) : "no error text") + ")");
    }
    if (!sawData_) return bad(file_ + ": $.data", "missing");
    if (resultType_ != "matrix") {
      return bad(file_ + ": $.data.resultType",
                 (resultType_.empty() ? std::string("missing") : printable(resultType_)) +
                     ", want \"matrix\" (use /api/v1/query_range, not /api/v1/query)");
    }
    if (!sawResult_) return bad(file_ + ": $.data.result", "missing or not an array");
    return {};
  }

  bool null() override { return scalar("null"); }
  bool boolean(bool) override { return scalar("a boolean"); }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool binary(binary_t&) override { return scalar("binary"); }
  bool string(string_t& v) override;
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool start_object(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& ex) override {
    if (ex.id == 406) {  // out_of_range: a number no double holds (1e400)
      fail(whereNext(), "number " + shownText(token) + " is out of range");
    } else {
      fail(std::string(), "not JSON at byte " + std::to_string(position) + " (" + printable(shortMessage(ex.what())) +
                              "); want the answer of /api/v1/query_range");
    }
    return false;
  }

 private:
  enum class Kind { Answer, Data, Warnings, Matrix, Series, Metric, Values, Point, Skip };
  struct Frame {
    Kind kind;
    bool array;
    std::size_t count = 0;  // elements seen (arrays)
    std::string key;        // the last key (objects)
  };

  static std::string shortMessage(const std::string& what) {
    const auto colon = what.find("] ");
    return colon == std::string::npos ? what : what.substr(colon + 2);
  }

  std::string where() const {
    std::string out = "$";
    for (const auto& f : frames_) out += f.array ? "[" + std::to_string(f.count - 1) + "]" : "." + keyText(f.key);
    return out;
  }
  std::string whereNext() const {
    std::string out = "$";
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const auto& f = frames_[i];
      const auto index = i + 1 == frames_.size() ? f.count : f.count - 1;
      out += f.array ? "[" + std::to_string(index) + "]" : "." + keyText(f.key);
    }
    return out;
  }

  bool fail(const std::string& path, const std::string& what) {
    if (!error) error = bad(path.empty() ? file_ : file_ + ": " + path, what);
    return false;
  }

  // Counts the value about to start in the enclosing array; returns the enclosing kind.
  std::optional<Kind> enter() {
    if (frames_.empty()) return std::nullopt;
    auto& top = frames_.back();
    if (top.array) ++top.count;
    return top.kind;
  }

  Kind childKind(std::optional<Kind> parent, bool array) {
    if (!parent) {
      bareMatrix_ = array;
      sawObject_ = !array;
      return array ? Kind::Matrix : Kind::Answer;
    }
    const auto& key = frames_.back().key;
    switch (*parent) {
      case Kind::Answer:
        if (key == "data" && !array) {
          sawData_ = true;
          return Kind::Data;
        }
        if (key == "warnings" && array) return Kind::Warnings;
        return Kind::Skip;
      case Kind::Data:
        if (key == "result" && array) {
          sawResult_ = true;
          return Kind::Matrix;
        }
        return Kind::Skip;
      case Kind::Matrix: return Kind::Series;
      case Kind::Series:
        if (key == "metric" && !array) {
          sawMetric_ = true;
          return Kind::Metric;
        }
        if (key == "values" && array) {
          sawValues_ = true;
          return Kind::Values;
        }
        return Kind::Skip;
      case Kind::Values: return Kind::Point;
      default: return Kind::Skip;
    }
  }

  bool open(bool array) {
    if (frames_.size() >= static_cast<std::size_t>(kPrometheusMaxDepth)) {
      return fail(where(),
                  "nested deeper than " + std::to_string(kPrometheusMaxDepth) + " levels; not a query_range answer");
    }
    const auto parent = enter();
    const auto kind = childKind(parent, array);
    if (kind == Kind::Series && array) return fail(where(), "want a series {\"metric\":{...},\"values\":[...]}");
    if (kind == Kind::Point && !array) return fail(where(), "want [unix_time, \"value\"]");
    if (parent == Kind::Metric || parent == Kind::Point || parent == Kind::Warnings)
      return badScalar(*parent, "an object or array");
    if (kind == Kind::Series) startSeries();
    if (kind == Kind::Point) point_ = {};
    frames_.push_back({kind, array, 0, {}});
    return true;
  }

  bool close() {
    const auto kind = frames_.back().kind;
    const auto elements = frames_.back().count;
    frames_.pop_back();
    if (kind == Kind::Point) return endPoint(elements);
    if (kind == Kind::Series) return endSeries();
    return true;
  }

  bool badScalar(Kind parent, const std::string& what) {
    if (parent == Kind::Metric) return fail(where(), "a label value must be a string, found " + what);
    if (parent == Kind::Point) return fail(whereParent(), "want [unix_time, \"value\"]");
    if (parent == Kind::Warnings) return fail(where(), "a warning must be a string, found " + what);
    return true;
  }

  std::string whereParent() const {
    auto copy = frames_;
    copy.pop_back();
    std::string out = "$";
    for (const auto& f : copy) out += f.array ? "[" + std::to_string(f.count - 1) + "]" : "." + keyText(f.key);
    return out;
  }

  bool scalar(const std::string& what) {
    const auto parent = enter();
    if (!parent) return fail("$", "not a Prometheus API answer (no \"status\")");
    return badScalar(*parent, what);
  }

  bool number(double v) {
    const auto parent = enter();
    if (!parent) return fail("$", "not a Prometheus API answer (no \"status\")");
    if (*parent != Kind::Point) return badScalar(*parent, "a number");
    if (frames_.back().count != 1) return fail(whereParent(), "want [unix_time, \"value\"]");
    if (!std::isfinite(v) || v < 0 || v > kPrometheusMaxTime) {
      return fail(where(), "time " + fmt::format("{}", v) + " is out of range (seconds since 1970, before 2100)");
    }
    point_.ms = std::llround(v * 1000);
    point_.haveTime = true;
    return true;
  }

  void startSeries() {
    series_ = Stored{};
    sawMetric_ = sawValues_ = false;
    seriesNan_ = 0;
  }

  bool endPoint(std::size_t elements) {
    if (elements != 2 || !point_.haveTime || !point_.haveValue) return fail(where(), "want [unix_time, \"value\"]");
    if (point_.nan) {
      ++seriesNan_;
      return true;
    }
    series_.points.push_back({point_.ms, point_.value});
    return true;
  }

  bool value(const std::string& text);
  bool endSeries();

  const std::string& file_;
  Collected& out_;
  std::vector<Frame> frames_;
  bool bareMatrix_ = false, sawObject_ = false, sawData_ = false, sawResult_ = false;
  bool sawMetric_ = false, sawValues_ = false;
  std::optional<std::string> status_, errorText_;
  std::string resultType_;
  Stored series_;
  int seriesNan_ = 0;
  struct {
    std::int64_t ms = 0;
    double value = 0;
    bool haveTime = false, haveValue = false, nan = false;
  } point_;
};

constexpr std::size_t kMaxLabelBytes = 1024;

bool AnswerReader::string(string_t& v) {
  const auto parent = enter();
  if (!parent) return fail("$", "not a Prometheus API answer (no \"status\")");
  const auto& key = frames_.back().key;
  switch (*parent) {
    case Kind::Answer:
      if (key == "status") status_ = v;
      if (key == "error") errorText_ = v.substr(0, 500);
      return true;
    case Kind::Data:
      if (key == "resultType") resultType_ = v.substr(0, 100);
      return true;
    case Kind::Warnings: out_.warnings.push_back(printable(v.substr(0, 500))); return true;
    case Kind::Metric:
      if (v.size() > kMaxLabelBytes)
        return fail(where(), "a label value of " + std::to_string(v.size()) + " bytes (at most 1024)");
      series_.labels[key] = v;
      return true;
    case Kind::Point:
      if (frames_.back().count != 2) return fail(whereParent(), "want [unix_time, \"value\"]");
      return value(v);
    default: return badScalar(*parent, "a string");
  }
}

// A value as Prometheus writes one: decimal digits, maybe a fraction and an exponent, or NaN.
// Hexadecimal, spaces, signs and infinities are refused; so is a fraction (every series
// replayed is a count) and what exceeds its series' range (checked in endSeries).
bool AnswerReader::value(const std::string& text) {
  point_.haveValue = true;
  if (text == "NaN") {
    point_.nan = true;
    return true;
  }
  if (!text.empty() && (text[0] == '-' || text == "+Inf" || text == "Inf"))
    return fail(where(), shownText(text) + " is not a count");
  std::size_t i = 0;
  const auto digits = [&] {
    const auto start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  bool ok = digits();
  if (ok && i < text.size() && text[i] == '.') {
    ++i;
    ok = digits();
  }
  if (ok && i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    ok = digits();
  }
  if (!ok || i != text.size() || text.size() > 40) return fail(where(), shownText(text) + " is not a number");
  const double parsed = std::strtod(text.c_str(), nullptr);
  if (!std::isfinite(parsed) || parsed > limitOf(Role::Counter))
    return fail(where(), shownText(text) + " is out of range (at most 2^53)");
  if (parsed != std::floor(parsed))
    return fail(where(), shownText(text) + " is not a whole number; query the raw series, not a rate or an average");
  point_.value = parsed;
  return true;
}

bool AnswerReader::endSeries() {
  const auto at = where();
  if (!sawMetric_) return fail(at + ".metric", "missing");
  const auto name = series_.labels.find("__name__");
  if (name == series_.labels.end())
    return fail(at + ".metric.__name__", "missing: query the raw series (not an expression such as rate())");
  const auto meaning = meaningOf(name->second);
  if (meaning.role == Role::Ignored) {
    if (out_.ignored.size() < 100) out_.ignored.insert(printable(name->second.substr(0, 100)));
    return true;
  }
  if (!sawValues_) return fail(at + ".values", "missing or not an array");
  out_.nanPoints += seriesNan_;
  for (std::size_t i = 0; i < series_.points.size(); ++i) {
    if (series_.points[i].value > limitOf(meaning.role)) {
      return fail(at + ".values[" + std::to_string(i) + "][1]",
                  fmt::format("{:.0f} is out of range for {} (at most {:.0f})", series_.points[i].value, name->second,
                              limitOf(meaning.role)));
    }
  }
  const auto instance = series_.labels.count("instance") != 0U ? series_.labels.at("instance") : std::string();
  std::string netns;
  if (meaning.exporter == Exporter::Ctpilot && meaning.role != Role::Max) {
    const auto found = series_.labels.find("netns");
    if (found == series_.labels.end() || found->second.empty())
      return fail(at + ".metric.netns", "missing: ctpilot's series name their netns");
    netns = found->second;
  }
  if (instance.empty()) out_.withoutInstance.insert(file_ + ": " + at);
  out_.instances.insert(instance);
  const Key key{instance, name->second, netns};
  auto found = out_.series.find(key);
  if (found == out_.series.end()) {
    series_.origin = file_ + ": " + at;
    out_.series.emplace(key, std::move(series_));
    return true;
  }
  if (found->second.labels != series_.labels) {
    return fail(at, printable(name->second) + " of instance " + shownText(instance) +
                        (netns.empty() ? "" : " netns " + shownText(netns)) + " twice with different labels (" +
                        labelText(series_.labels) + ", and " + labelText(found->second.labels) + " at " +
                        found->second.origin + "): cannot tell which to replay; narrow the selector (job=\"...\")");
  }
  // The same series again: the next piece of a range fetched in pieces, or another file.
  auto& points = found->second.points;
  points.insert(points.end(), series_.points.begin(), series_.points.end());
  return true;
}

// A series' points in time order, one per instant (the first one read wins).
void normalize(std::vector<Point>& points) {
  std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.ms < b.ms; });
  points.erase(std::unique(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.ms == b.ms; }),
               points.end());
}

// Walks a sorted series forward: the value at `t`, if it has one.
class Cursor {
 public:
  explicit Cursor(const std::vector<Point>* points) : points_(points) {}
  const double* at(std::int64_t t) {
    if (points_ == nullptr) return nullptr;
    while (i_ < points_->size() && (*points_)[i_].ms < t) ++i_;
    return i_ < points_->size() && (*points_)[i_].ms == t ? &(*points_)[i_].value : nullptr;
  }

 private:
  const std::vector<Point>* points_;
  std::size_t i_ = 0;
};

// The typical distance between two points of a series (the median), in ms; 0 with one point.
std::int64_t stepOf(const std::vector<std::int64_t>& times) {
  std::vector<std::int64_t> diffs;
  for (std::size_t i = 1; i < times.size(); ++i) diffs.push_back(times[i] - times[i - 1]);
  if (diffs.empty()) return 0;
  std::nth_element(diffs.begin(), diffs.begin() + static_cast<std::ptrdiff_t>(diffs.size() / 2), diffs.end());
  return diffs[diffs.size() / 2];
}

std::int64_t stepOf(const std::vector<Point>& points) {
  std::vector<std::int64_t> times;
  times.reserve(points.size());
  for (const auto& p : points) times.push_back(p.ms);
  return stepOf(times);
}

std::string seconds(std::int64_t ms) {
  return policy::formatDuration(std::chrono::duration_cast<policy::Duration>(std::chrono::milliseconds(ms)));
}

// The series of one instance by (name, netns).
using InstanceSeries = std::map<std::pair<std::string, std::string>, const Stored*>;

const std::vector<Point>* find(const InstanceSeries& s, const std::string& name, const std::string& netns = {}) {
  const auto found = s.find({name, netns});
  return found == s.end() ? nullptr : &found->second->points;
}

// What one netns' samples are made of: the count, the limit, the counters by trace name.
struct Sources {
  std::string netns;
  const std::vector<Point>* count = nullptr;
  const std::vector<Point>* max = nullptr;
  std::map<std::string, const std::vector<Point>*> counters;
  const std::vector<Point>* buckets = nullptr;
  const std::vector<Point>* memory = nullptr;
  std::string countName, maxName;
};

// One sample per instant of the count where the limit and the insert and drop counters have a
// value too (insert only when the series exists: ctpilot may run where it stays 0).
void buildSamples(const Sources& src, Trace& trace) {
  Cursor max(src.max), buckets(src.buckets), memory(src.memory);
  std::map<std::string, Cursor> counters;
  for (const auto& [name, points] : src.counters) counters.emplace(name, Cursor(points));
  int leftOut = 0;
  for (const auto& p : *src.count) {
    const auto* m = max.at(p.ms);
    const auto* drop = counters.at("drop").at(p.ms);
    const auto* insert = counters.count("insert") != 0U ? counters.at("insert").at(p.ms) : nullptr;
    if (m == nullptr || drop == nullptr || (insert == nullptr && src.counters.count("insert") != 0U)) {
      ++leftOut;
      continue;
    }
    TraceSample s;
    s.time =
        policy::TimePoint(std::chrono::duration_cast<policy::TimePoint::duration>(std::chrono::milliseconds(p.ms)));
    s.netns = src.netns;
    s.count = std::llround(p.value);
    s.max = std::llround(*m);
    for (auto& [name, cursor] : counters) {
      if (const auto* v = cursor.at(p.ms)) s.counters[name] = static_cast<std::uint64_t>(std::llround(*v));
    }
    if (src.counters.count("insert") == 0U) s.counters["insert"] = 0;
    if (const auto* b = buckets.at(p.ms)) s.buckets = std::llround(*b);
    if (const auto* mem = memory.at(p.ms)) trace.memTotalBytes = std::llround(*mem);
    trace.samples.push_back(std::move(s));
  }
  if (leftOut > 0) {
    trace.notes.push_back(std::to_string(leftOut) + " instant(s) of " + src.countName +
                          (src.netns == "init" ? "" : " in netns " + printable(src.netns)) +
                          " left out: the limit or a required counter has no value there");
  }
}

// Notes the steps of the series when they differ.
void noteSteps(const std::vector<std::pair<std::string, const std::vector<Point>*>>& used, Trace& trace) {
  std::map<std::int64_t, std::vector<std::string>> names;
  for (const auto& [name, points] : used) names[stepOf(*points)].push_back(name);
  if (names.size() <= 1) return;
  std::string text = "steps differ:";
  for (const auto& [step, list] : names) {
    text += " " + seconds(step) + " (";
    for (std::size_t i = 0; i < list.size(); ++i) text += (i ? ", " : "") + list[i];
    text += ")";
  }
  trace.notes.push_back(text + "; replaying only the instants every required series has");
}

// Sets the nominal interval to the typical step; a longer distance is a gap, reported.
void noteGaps(Trace& trace) {
  std::vector<std::int64_t> times;
  for (const auto& s : trace.samples)
    times.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(s.time.time_since_epoch()).count());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  const auto step = stepOf(times);
  trace.interval = std::chrono::milliseconds(std::max<std::int64_t>(1, step));
  int gaps = 0;
  for (std::size_t i = 1; i < times.size(); ++i) {
    if (times[i] - times[i - 1] <= step + step / 2) continue;
    if (++gaps > 10) continue;
    trace.notes.push_back("gap of " + seconds(times[i] - times[i - 1]) + " after " +
                          formatTime(policy::TimePoint(std::chrono::milliseconds(times[i - 1]))) +
                          ": no samples; its counter increase is replayed as one step, nothing is interpolated");
  }
  if (gaps > 10) trace.notes.push_back(std::to_string(gaps - 10) + " more gap(s)");
}

constexpr const char* kNodeRequired[] = {"node_nf_conntrack_entries", "node_nf_conntrack_entries_limit",
                                         "node_nf_conntrack_stat_insert", "node_nf_conntrack_stat_drop"};

// node_exporter's series: the initial netns. Empty string when complete, else what is missing.
std::string nodeSources(const InstanceSeries& s, Sources& src) {
  for (const char* required : kNodeRequired) {
    if (find(s, required) == nullptr) return required;
  }
  src.netns = policy::kInitNetns;
  src.count = find(s, "node_nf_conntrack_entries");
  src.max = find(s, "node_nf_conntrack_entries_limit");
  src.countName = "node_nf_conntrack_entries";
  for (const char* c : kTraceCounters) {
    if (const auto* p = find(s, std::string("node_nf_conntrack_stat_") + c)) src.counters[c] = p;
  }
  return {};
}

// ctpilot's series, one Sources per netns; empty string when usable, else what is missing.
std::string ctpilotSources(const InstanceSeries& s, std::vector<Sources>& out) {
  if (find(s, "ctpilot_conntrack_max") == nullptr) return "ctpilot_conntrack_max";
  for (const auto& [key, stored] : s) {
    if (key.first != "ctpilot_conntrack_entries") continue;
    Sources src;
    src.netns = key.second;
    src.count = &stored->points;
    src.max = find(s, "ctpilot_conntrack_max");
    src.countName = "ctpilot_conntrack_entries";
    for (const char* c : kTraceCounters) {
      if (const auto* p = find(s, std::string("ctpilot_conntrack_") + c + "_total", key.second)) src.counters[c] = p;
    }
    if (src.counters.count("drop") == 0U)
      return "ctpilot_conntrack_drop_total{netns=\"" + printable(key.second) + "\"}";
    out.push_back(std::move(src));
  }
  return out.empty() ? "ctpilot_conntrack_entries" : std::string();
}

Result<Trace> instanceTrace(const std::string& instance, const InstanceSeries& s, std::string& origin) {
  std::vector<Sources> sources;
  Trace trace;
  trace.source = "prometheus";
  const bool hasCtpilot =
      find(s, "ctpilot_conntrack_max") != nullptr ||
      std::any_of(s.begin(), s.end(), [](const auto& e) { return e.first.first == "ctpilot_conntrack_entries"; });
  std::string missing = hasCtpilot ? ctpilotSources(s, sources) : "ctpilot_conntrack_entries";
  origin = "ctpilot";
  if (!missing.empty()) {
    if (hasCtpilot)
      trace.notes.push_back("ctpilot's series are incomplete (no " + missing + "): replaying node_exporter's");
    sources.clear();
    Sources node;
    const auto nodeMissing = nodeSources(s, node);
    if (!nodeMissing.empty()) {
      return Error{
          Errc::Malformed,
          "no " + (hasCtpilot ? missing + " or " : std::string()) + nodeMissing + " series" +
              (instance.empty() ? "" : " for instance " + shownText(instance)) +
              "; query {__name__=~\"node_nf_conntrack_.*\",instance=\"...\"} (README \"Replay your own traffic\")"};
    }
    sources.push_back(std::move(node));
    origin = "node_exporter";
  }
  std::vector<std::pair<std::string, const std::vector<Point>*>> used;
  for (auto& src : sources) {
    src.buckets = find(s, "ctpilot_conntrack_buckets");
    src.memory = find(s, "node_memory_MemTotal_bytes");
    used.emplace_back(src.countName, src.count);
    for (const auto& [name, points] : src.counters) used.emplace_back(name, points);
    buildSamples(src, trace);
  }
  used.emplace_back(sources.front().max == find(s, "ctpilot_conntrack_max") ? "ctpilot_conntrack_max"
                                                                            : "node_nf_conntrack_entries_limit",
                    sources.front().max);
  noteSteps(used, trace);
  std::stable_sort(trace.samples.begin(), trace.samples.end(),
                   [](const TraceSample& a, const TraceSample& b) { return a.time < b.time; });
  if (trace.samples.size() < 2)
    return Error{Errc::Malformed, "fewer than two instants where every required series has a value; widen the range"};
  noteGaps(trace);
  if (!trace.samples.front().buckets) {
    trace.notes.push_back(
        "nf_conntrack_buckets is not in node_exporter's metrics: the replay assumes buckets = nf_conntrack_max");
  }
  return trace;
}

Result<void> readAnswer(const PrometheusAnswer& answer, Collected& c) {
  if (answer.text.size() > kPrometheusMaxAnswerBytes) {
    return bad(answer.file, std::to_string(answer.text.size()) + " bytes, more than the " +
                                std::to_string(kPrometheusMaxAnswerBytes >> 20) +
                                " MiB an answer may have; query a shorter range");
  }
  AnswerReader reader(answer.file, c);
  json::sax_parse(answer.text, &reader);
  return reader.finish();
}

}  // namespace

Result<FleetTraces> importPrometheusFleet(const std::vector<PrometheusAnswer>& answers) {
  Collected c;
  for (const auto& answer : answers) {
    if (auto ok = readAnswer(answer, c); !ok) return ok.error();
  }
  const std::string files = answers.empty() ? std::string("(no answer)")
                            : answers.size() == 1
                                ? answers.front().file
                                : answers.front().file + " (and " + std::to_string(answers.size() - 1) + " more)";
  if (c.series.empty()) {
    return bad(files + ": $.data.result",
               "no node_nf_conntrack_* or ctpilot_conntrack_* series (the selector matched nothing?); "
               "query {__name__=~\"node_nf_conntrack_.*\",instance=\"...\"} (README \"Replay your own traffic\")");
  }
  if (!c.withoutInstance.empty() && c.instances.size() > 1) {
    return bad(*c.withoutInstance.begin(),
               "a series without an \"instance\" label beside series of " + std::to_string(c.instances.size() - 1) +
                   " instance(s): cannot tell whose it is; query raw series, keeping their labels");
  }
  std::map<std::string, InstanceSeries> byInstance;
  for (auto& [key, stored] : c.series) {
    normalize(stored.points);
    byInstance[std::get<0>(key)][{std::get<1>(key), std::get<2>(key)}] = &stored;
  }
  FleetTraces fleet;
  fleet.warnings = c.warnings;
  std::optional<Error> firstError;
  for (const auto& [instance, series] : byInstance) {
    InstanceTrace it;
    it.instance = instance;
    auto trace = instanceTrace(instance, series, it.origin);
    if (!trace) {
      // One gateway without a usable series does not hide the rest of the fleet: said, not replayed.
      if (!firstError) firstError = bad(files + ": $.data.result", trace.error().what);
      if (byInstance.size() > 1)
        fleet.warnings.push_back("instance " + printable(instance) + " not replayed: " + trace.error().what);
      continue;
    }
    it.trace = std::move(*trace);
    if (c.nanPoints > 0 && byInstance.size() == 1)
      it.trace.notes.push_back(std::to_string(c.nanPoints) + " NaN value(s) left out");
    if (!c.ignored.empty()) {
      std::string list;
      for (const auto& name : c.ignored) list += (list.empty() ? "" : ", ") + name;
      it.trace.notes.push_back("ignored series: " + list);
    }
    fleet.instances.push_back(std::move(it));
  }
  if (fleet.instances.empty()) return *firstError;
  if (c.nanPoints > 0 && byInstance.size() > 1)
    fleet.warnings.push_back(std::to_string(c.nanPoints) + " NaN value(s) left out");
  return fleet;
}

Result<Trace> importPrometheus(const std::vector<PrometheusAnswer>& answers) {
  auto fleet = importPrometheusFleet(answers);
  if (!fleet) return fleet.error();
  if (fleet->instances.size() > 1) {
    std::string list;
    for (const auto& i : fleet->instances) list += (list.empty() ? "" : ", ") + printable(i.instance);
    const std::string files = answers.size() == 1
                                  ? answers.front().file
                                  : answers.front().file + " (and " + std::to_string(answers.size() - 1) + " more)";
    return bad(files, "series of " + std::to_string(fleet->instances.size()) + " instances (" + list +
                          "); query one gateway: {__name__=~\"node_nf_conntrack_.*\",instance=\"...\"}");
  }
  return std::move(fleet->instances.front().trace);
}

Result<std::vector<PrometheusAnswer>> readPrometheusAnswers(const std::vector<std::string>& files) {
  std::vector<PrometheusAnswer> answers;
  for (const auto& file : files) {
    auto text = readRegularFile(file, kPrometheusMaxAnswerBytes, "; give a trace or a saved Prometheus answer");
    if (!text) return traceFileError(text.error(), file);
    answers.push_back({printable(file), std::move(*text)});
  }
  return answers;
}

}  // namespace ctpilot::controller
