// SPDX-License-Identifier: Apache-2.0
#include "sysfs/sim/scenario.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <set>
#include <sstream>

#include "policy/read_file.h"
#include "policy/units.h"

namespace ctpilot::sysfs {
namespace {

using namespace std::chrono_literals;

// Bounds that keep a scenario's numbers far from overflow in the simulated kernel.
constexpr SimDuration kMaxSpan = std::chrono::days(31);                 // duration, warmup, step, life
constexpr double kMaxRate = 10e6;                                       // flows per second
constexpr std::int64_t kMaxTable = policy::kTableSizeRange.max;         // max, buckets: the kernel's int
constexpr std::int64_t kMaxMemory = 1024LL << 40;                       // 1024 TiB
constexpr std::int64_t kMaxTimeoutSeconds = policy::kTimeoutRange.max;  // INT_MAX jiffies at HZ=1000

struct FlowName {
  FlowClass flow;
  const char* name;
};
constexpr FlowName kFlowNames[] = {
    {FlowClass::TcpShort, "tcp_short"},   {FlowClass::TcpLong, "tcp_long"},   {FlowClass::UdpStream, "udp_stream"},
    {FlowClass::UdpOneWay, "udp_oneway"}, {FlowClass::SynFlood, "syn_flood"},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Durations, counts, sizes and shares are read by policy/units.h, so a scenario takes the same
// spellings as a policy file (whole numbers: 30s, 256k with k = 1024, 4GiB, 5% or 0.05). What
// follows is only what scenarios add on top.

// The leading unsigned decimal number of a rate (digits and at most one '.'); returns the rest.
std::optional<double> leadingNumber(std::string_view text, std::string_view& rest) {
  std::size_t i = 0;
  bool dot = false;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || (text[i] == '.' && !dot))) {
    if (text[i] == '.') dot = true;
    ++i;
  }
  if (i == 0 || (i == 1 && dot)) return std::nullopt;
  rest = text.substr(i);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, value, std::chars_format::fixed);
  if (ec != std::errc{} || end != text.data() + i) return std::nullopt;  // e.g. 400 digits: out of range
  return value;
}

// A duration as in policy files; scenarios also take a bare 0 (e.g. "phase 0..10m").
std::optional<SimDuration> parseDur(std::string_view text) {
  if (text == "0") return SimDuration{0};
  const auto d = policy::parseDuration(text);
  if (!d) return std::nullopt;
  return std::chrono::duration_cast<SimDuration>(*d);
}

// Rates: 2000/s 120/m 3600/h, with k (1000) or M (10^6) multipliers: 20k/s. Deliberately not
// parseCount: a rate is decimal ("0.5/s") and its k is 1000 as in "conn/s", while a count's k is
// 1024 (table sizes are powers of two). Scenario files rely on both meanings.
std::optional<double> parseRate(std::string_view text) {
  std::string_view rest;
  const auto n = leadingNumber(text, rest);
  if (!n) return std::nullopt;
  double v = *n;
  if (!rest.empty() && (rest.front() == 'k' || rest.front() == 'M')) {
    v *= rest.front() == 'k' ? 1e3 : 1e6;
    rest.remove_prefix(1);
  }
  if (rest == "/m")
    v /= 60;
  else if (rest == "/h")
    v /= 3600;
  else if (rest != "/s")
    return std::nullopt;
  if (!(v <= kMaxRate)) return std::nullopt;
  return v;
}

// "A..B" -> (A, B); "A" -> (A, A).
std::pair<std::string_view, std::string_view> splitRange(std::string_view text) {
  const auto dots = text.find("..");
  if (dots == std::string_view::npos) return {text, text};
  return {text.substr(0, dots), text.substr(dots + 2)};
}

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  ScenarioLoad run(std::string_view text) {
    std::size_t pos = 0;
    int lineNo = 0;
    while (pos <= text.size()) {
      const auto nl = text.find('\n', pos);
      const auto raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      ++lineNo;
      line_ = lineNo;
      auto content = raw;
      if (const auto hash = content.find('#'); hash != std::string_view::npos) content = content.substr(0, hash);
      content = trim(content);
      if (!content.empty()) statement(content);
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    finish();
    return std::move(load_);
  }

 private:
  void problem(const std::string& message) { problemAt(line_, message); }
  void problemAt(int line, const std::string& message) {
    // The file's own bytes are quoted in messages; a control byte among them stays inert.
    load_.problems.push_back(printable(file_ + ":" + std::to_string(line) + ": " + message));
  }

  void statement(std::string_view content) {
    const auto w = words(content);
    const std::string key(w[0]);
    auto& s = load_.scenario;
    if (!firstSeen(key)) return;
    auto one = [&]() -> std::optional<std::string_view> {
      if (w.size() != 2) {
        problem("'" + key + "' takes one value, e.g. " + example(key));
        return std::nullopt;
      }
      return w[1];
    };
    if (key == "name") {
      if (auto v = one(); v && !validName(*v))
        problem("name '" + std::string(*v) + "' may contain only letters, digits, '-', '_' and '.'");
      else if (v)
        s.name = std::string(*v);
    } else if (key == "description") {
      s.description = std::string(trim(content.substr(key.size())));
    } else if (key == "duration" || key == "step" || key == "warmup") {
      if (auto v = one()) spanStatement(key, *v);
    } else if (key == "seed" || key == "max" || key == "buckets" || key == "memory" || key == "cpus") {
      if (auto v = one()) machineStatement(key, *v);
    } else if (key == "netns") {
      if (auto v = one()) {
        const std::string name(*v);
        if (!validName(name))
          problem("netns name '" + name + "' may contain only letters, digits, '-', '_' and '.'");
        else if (std::find(s.netns.begin(), s.netns.end(), name) != s.netns.end()) {
          if (name != "init") problem("netns '" + name + "' is declared twice");
        } else
          s.netns.push_back(name);
      }
    } else if (key == "timeout") {
      timeoutStatement(w);
    } else if (key == "phase") {
      phaseStatement(w);
    } else {
      problem("unknown statement '" + key +
              "' (expected name, description, duration, step, warmup, seed, max, buckets, memory, cpus, netns, timeout "
              "or phase)");
    }
  }

  // A statement that sets one value may be given once: a second one is a mistake, not an update.
  bool firstSeen(const std::string& key) {
    static const std::set<std::string> kOnce{"name", "description", "duration", "step",   "warmup",
                                             "seed", "max",         "buckets",  "memory", "cpus"};
    if (kOnce.count(key) == 0) return true;
    const auto [it, inserted] = seen_.emplace(key, line_);
    if (!inserted) problem("'" + key + "' is given twice (first on line " + std::to_string(it->second) + "); keep one");
    return inserted;
  }

  // duration, step, warmup: bounded so that simulated time stays far from overflow.
  void spanStatement(const std::string& key, std::string_view v) {
    auto& s = load_.scenario;
    const auto d = parseDur(v);
    const bool positive = key != "warmup";
    if (!d || (positive ? d->count() <= 0 : d->count() < 0)) {
      problem(key + " '" + std::string(v) + "' is not a " + (positive ? "positive " : "") +
              "duration (examples: 500ms, 30s, 10m, 24h)");
    } else if (*d > kMaxSpan) {
      problem(key + " '" + std::string(v) + "' is longer than " + policy::formatDuration(kMaxSpan) +
              ", the longest a simulation may span");
    } else {
      (key == "duration" ? s.duration : key == "step" ? s.step : s.warmup) = *d;
    }
    if (key == "duration") durationLine_ = line_;
  }

  // seed, max, buckets, memory, cpus.
  void machineStatement(const std::string& key, std::string_view v) {
    auto& s = load_.scenario;
    const std::string text(v);
    if (key == "seed") {
      const auto n = policy::parseCount(v);
      if (!n || v.find_first_not_of("0123456789") != std::string_view::npos)
        problem("seed '" + text + "' is not a non-negative integer");
      else
        s.seed = static_cast<std::uint64_t>(*n);
    } else if (key == "max" || key == "buckets") {
      const auto n = policy::parseCount(v);
      if (!n || *n <= 0)
        problem(key + " '" + text + "' is not a positive count (examples: 65536, 256k, 1M)");
      else if (*n > kMaxTable)
        problem(key + " '" + text + "' is above " + std::to_string(kMaxTable) + ", the kernel's largest");
      else
        (key == "max" ? s.max : s.buckets) = *n;
    } else if (key == "memory") {
      const auto n = policy::parseSize(v);
      if (!n || *n <= 0)
        problem("memory '" + text + "' is not a size (examples: 2GiB, 512MiB)");
      else if (*n > kMaxMemory)
        problem("memory '" + text + "' is above 1024TiB");
      else
        s.memTotalBytes = *n;
    } else {
      const auto n = policy::parseCount(v);
      if (!n || *n < 1 || *n > 256)
        problem("cpus '" + text + "' is not a count between 1 and 256");
      else
        s.cpus = static_cast<int>(*n);
    }
  }

  static std::string example(const std::string& key) {
    if (key == "duration") return "'duration 30m'";
    if (key == "step") return "'step 1s'";
    if (key == "warmup") return "'warmup 10m'";
    if (key == "seed") return "'seed 42'";
    if (key == "max") return "'max 65536'";
    if (key == "buckets") return "'buckets 16384'";
    if (key == "memory") return "'memory 4GiB'";
    if (key == "netns") return "'netns gw'";
    if (key == "cpus") return "'cpus 2'";
    return "'name flash-crowd'";
  }

  void timeoutStatement(const std::vector<std::string_view>& w) {
    if (w.size() != 4) {
      problem("'timeout' takes a netns, a timeout name and a value, e.g. 'timeout init tcp_timeout_time_wait 120s'");
      return;
    }
    const auto knob = policy::knobByName(w[2]);
    if (!knob || !policy::isTimeout(*knob)) {
      problem("'" + std::string(w[2]) + "' is not a conntrack timeout (e.g. tcp_timeout_time_wait, udp_timeout)");
      return;
    }
    auto d = parseDur(w[3]);
    // A bare number is seconds, as the kernel writes timeouts.
    if (!d && w[3].find_first_not_of("0123456789") == std::string_view::npos) d = parseDur(std::string(w[3]) + "s");
    if (!d || d->count() % 1000 != 0 || d->count() <= 0 || d->count() / 1000 > kMaxTimeoutSeconds) {
      problem("timeout value '" + std::string(w[3]) + "' is not a whole number of seconds up to " +
              std::to_string(kMaxTimeoutSeconds) + " (examples: 120, 120s, 2m)");
      return;
    }
    for (const auto& given : load_.scenario.timeouts) {
      if (given.netns == w[1] && given.knob == *knob) {
        problem("timeout " + std::string(w[1]) + " " + std::string(w[2]) + " is given twice; keep one");
        return;
      }
    }
    load_.scenario.timeouts.push_back({std::string(w[1]), *knob, d->count() / 1000});
    netnsUses_.push_back({line_, std::string(w[1])});
  }

  void phaseStatement(const std::vector<std::string_view>& w) {
    if (w.size() < 3) {
      problem(
          "'phase' takes START..END, a flow class and key=value settings, e.g. 'phase 0s..10m tcp_short rate=2000/s "
          "life=5s'");
      return;
    }
    ScenarioPhase phase;
    phase.line = line_;
    bool ok = phaseSpan(w[1], phase);
    ok = phaseFlow(w[2], phase) && ok;
    phase.netns = load_.scenario.netns.size() > 1 ? load_.scenario.netns[1] : "init";
    bool haveRate = false;
    bool netnsGiven = false;
    for (std::size_t i = 3; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      if (eq == std::string_view::npos) {
        problem("phase setting '" + std::string(w[i]) + "' is not key=value");
        ok = false;
        continue;
      }
      const std::string key(w[i].substr(0, eq));
      const bool good = phaseSetting(key, w[i].substr(eq + 1), phase);
      haveRate = haveRate || (key == "rate" && good);
      netnsGiven = netnsGiven || key == "netns";
      ok = good && ok;
    }
    if (!haveRate) {
      problem("phase needs a rate, e.g. rate=2000/s");
      ok = false;
    }
    if (phase.abandon + phase.rst > 1) {
      problem("abandon and rst add up to more than 100%");
      ok = false;
    }
    if (netnsGiven) netnsUses_.push_back({line_, phase.netns});
    if (ok) load_.scenario.phases.push_back(phase);
  }

  // START..END of a phase.
  bool phaseSpan(std::string_view range, ScenarioPhase& phase) {
    const auto [from, to] = splitRange(range);
    const auto start = parseDur(from);
    const auto end = parseDur(to);
    if (from == to || !start || !end) {
      problem("phase time '" + std::string(range) + "' is not START..END (e.g. 0s..10m)");
      return false;
    }
    if (*end <= *start) {
      problem("phase " + std::string(range) + " ends before it starts");
      return false;
    }
    phase.start = *start;
    phase.end = *end;
    return true;
  }

  // The flow class, which also gives the phase its default life.
  bool phaseFlow(std::string_view name, ScenarioPhase& phase) {
    const auto flow = flowClassByName(name);
    if (!flow) {
      problem("unknown flow class '" + std::string(name) +
              "' (expected tcp_short, tcp_long, udp_stream, udp_oneway or syn_flood)");
      return false;
    }
    phase.flow = *flow;
    phase.life = defaultLife(*flow);
    return true;
  }

  // One key=value setting of a phase; false (said) when it is not one.
  bool phaseSetting(const std::string& key, std::string_view value, ScenarioPhase& phase) {
    if (key == "rate") return phaseRate(value, phase);
    if (key == "life" || key == "peak") return phaseTime(key, value, phase);
    if (key == "netns") {
      phase.netns = std::string(value);
      return true;
    }
    if (key == "shape") {
      if (value == "linear")
        phase.shape = ScenarioPhase::Shape::Linear;
      else if (value == "diurnal")
        phase.shape = ScenarioPhase::Shape::Diurnal;
      else {
        problem("shape '" + std::string(value) + "' is not linear or diurnal");
        return false;
      }
      return true;
    }
    if (key == "abandon" || key == "rst") {
      const auto r = policy::parseRatio(value);
      if (!r) {
        problem(key + " '" + std::string(value) + "' is not a share (examples: 5%, 0.05)");
        return false;
      }
      (key == "abandon" ? phase.abandon : phase.rst) = r->value;
      return true;
    }
    problem("unknown phase setting '" + key + "' (expected rate, life, netns, shape, peak, abandon or rst)");
    return false;
  }

  // rate=R or a ramp rate=A..B.
  bool phaseRate(std::string_view value, ScenarioPhase& phase) {
    const auto [a, b] = splitRange(value);
    const auto ra = parseRate(a);
    const auto rb = parseRate(b);
    if (!ra || !rb) {
      problem("rate '" + std::string(value) +
              "' is not a rate or ramp up to 10M/s (examples: 2000/s, 120/m, 2k/s..20k/s)");
      return false;
    }
    phase.rateFrom = *ra;
    phase.rateTo = *rb;
    return true;
  }

  // life=D (up to 31d) or peak=D (a time of day).
  bool phaseTime(const std::string& key, std::string_view value, ScenarioPhase& phase) {
    const auto d = parseDur(value);
    if (key == "life") {
      if (!d || *d > kMaxSpan) {
        problem("life '" + std::string(value) + "' is not a duration up to 31d (examples: 5s, 10m)");
        return false;
      }
      phase.life = *d;
      return true;
    }
    if (!d || *d >= std::chrono::hours(24)) {
      problem("peak '" + std::string(value) + "' is not a time of day (examples: 21h, 1230m)");
      return false;
    }
    phase.peak = *d;
    return true;
  }

  void finish() {
    auto& s = load_.scenario;
    for (const auto& [line, name] : netnsUses_) {
      if (std::find(s.netns.begin(), s.netns.end(), name) == s.netns.end()) {
        problemAt(line, "netns '" + name + "' is not declared; add 'netns " + name + "' above");
      }
    }
    for (const auto& phase : s.phases) {
      if (phase.end > s.duration) {
        problemAt(phase.line, "phase ends at " + std::to_string(phase.end.count() / 1000) +
                                  "s, after the scenario's duration (" + std::to_string(s.duration.count() / 1000) +
                                  "s)");
      }
    }
    if (s.phases.empty() && load_.problems.empty())
      problemAt(0, "no phase: a scenario needs at least one 'phase' line");
    if (s.step > s.duration) problemAt(durationLine_, "step is longer than the duration");
  }

  std::string file_;
  int line_ = 0;
  int durationLine_ = 0;
  std::map<std::string, int> seen_;  // statements given once, by the line they were on
  std::vector<std::pair<int, std::string>> netnsUses_;
  ScenarioLoad load_;
};

}  // namespace

const char* flowClassName(FlowClass flow) {
  for (const auto& f : kFlowNames) {
    if (f.flow == flow) return f.name;
  }
  return "?";
}

std::optional<FlowClass> flowClassByName(std::string_view name) {
  for (const auto& f : kFlowNames) {
    if (name == f.name) return f.flow;
  }
  return std::nullopt;
}

bool flowAssured(FlowClass flow) { return flow != FlowClass::UdpOneWay && flow != FlowClass::SynFlood; }

SimDuration defaultLife(FlowClass flow) {
  switch (flow) {
    case FlowClass::TcpShort: return 5s;
    case FlowClass::TcpLong: return 10min;
    case FlowClass::UdpStream: return 60s;
    case FlowClass::UdpOneWay:
    case FlowClass::SynFlood: return 0s;
  }
  return 0s;
}

double ScenarioPhase::rateAt(SimDuration t) const {
  if (t < start || t >= end) return 0;
  if (shape == Shape::Diurnal) {
    // Peak at `peak` each day, trough twelve hours away: a smooth day curve.
    constexpr double kDay = 86400e3;
    const double phase = 2 * std::numbers::pi * static_cast<double>((t - peak).count()) / kDay;
    return rateFrom + (rateTo - rateFrom) * (1 + std::cos(phase)) / 2;
  }
  const double span = static_cast<double>((end - start).count());
  const double x = static_cast<double>((t - start).count()) / span;
  return rateFrom + (rateTo - rateFrom) * x;
}

ScenarioLoad parseScenario(std::string_view text, const std::string& file) {
  auto load = Parser(file).run(text);
  if (load.scenario.name.empty()) load.scenario.name = std::filesystem::path(file).stem().string();
  return load;
}

ScenarioLoad loadScenarioFile(const std::string& path) {
  // A scenario is a page of text: a FIFO or a huge file is refused, never waited on or slurped.
  constexpr std::size_t kMaxScenarioBytes = std::size_t{1} << 20;
  auto text = readRegularFile(path, kMaxScenarioBytes);
  if (!text) {
    ScenarioLoad load;
    load.problems.push_back(text.error().code == Errc::Missing
                                ? printable(path) + ": cannot read the scenario file; check the path"
                                : printable(text.error().what));
    return load;
  }
  return parseScenario(*text, path);
}

Result<std::string> resolveScenario(const std::string& nameOrPath, const std::vector<std::string>& dirs) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(nameOrPath, ec)) return nameOrPath;
  const bool looksLikePath = nameOrPath.find('/') != std::string::npos || nameOrPath.ends_with(".scenario");
  if (!looksLikePath && validName(nameOrPath)) {
    for (const auto& dir : dirs) {
      const auto candidate = (std::filesystem::path(dir) / (nameOrPath + ".scenario")).string();
      if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    }
  }
  std::string searched;
  for (const auto& dir : dirs) searched += (searched.empty() ? "" : ", ") + dir;
  if (looksLikePath) return Error{Errc::Missing, "scenario file " + nameOrPath + " not found"};
  const auto names = listScenarios(dirs);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  return Error{Errc::Missing, "no scenario named '" + nameOrPath + "' in " +
                                  (searched.empty() ? "(no directory)" : searched) +
                                  (known.empty() ? "" : "; known: " + known) + "; or give a file path"};
}

std::vector<std::string> listScenarios(const std::vector<std::string>& dirs) {
  std::set<std::string> names;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".scenario") names.insert(entry.path().stem().string());
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace ctpilot::sysfs
