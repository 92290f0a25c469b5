// SPDX-License-Identifier: Apache-2.0
#include "policy/policy_file.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include <boost/program_options.hpp>

#include "policy/read_file.h"
#include "policy/result.h"
#include "policy/units.h"
#include "policy/written_path.h"

namespace po = boost::program_options;

namespace ctpilot::policy {
namespace {

constexpr std::string_view kFloorsSection = "timeout_floors";
constexpr std::array<std::string_view, 6> kSections{"controller", "max", "hashsize", "timeouts", kFloorsSection,
                                                   "metrics"};
// A policy file is a few hundred bytes; anything this large is the wrong file.
constexpr std::size_t kMaxFileBytes = 1024 * 1024;

constexpr std::string_view kDurationExamples = "(examples: 500ms, 30s, 5m, 2h, 5d)";
constexpr std::string_view kCountExamples = "(examples: 262144, 256k, 4M)";
constexpr std::string_view kRatioExamples = "(examples: 80%, 0.8)";

using Errors = std::vector<std::string>;
// Parses `value` into the policy; returns what is wrong with it (empty when it is fine).
using Apply = std::function<Errors(std::string_view value, Policy& policy)>;

struct KeySpec {
  std::string_view section;
  std::string_view key;
  Apply apply;
};

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    parts.push_back(trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += sep;
    out += part;
  }
  return out;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t bestDistance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const auto distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

namespace {

std::vector<std::string> timeoutNames() {
  std::vector<std::string> names;
  for (const auto& info : allKnobs()) {
    if (info.timeout) names.emplace_back(policyName(info.knob));
  }
  return names;
}

// Says what is wrong with a value that failed to parse: out of range when the same text with a
// small number parses (an overflow), otherwise not the expected kind.
template <class Parse>
std::string notA(std::string_view value, Parse parse, std::string_view kind, std::string_view examples,
                 std::string_view range) {
  if (value.empty()) return "no value; expected " + std::string(kind) + " " + std::string(examples);
  std::size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
  if (digits > 0 && parse("1" + std::string(value.substr(digits)))) {
    return quoted(value) + " is out of range (allowed: " + std::string(range) + ")";
  }
  return quoted(value) + " is not " + std::string(kind) + " " + std::string(examples);
}

template <class Get>
Apply durationKey(Get get, Duration lo, Duration hi) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    const auto range = formatDuration(lo) + " to " + formatDuration(hi);
    const auto parsed = parseDuration(value);
    if (!parsed) return {notA(value, parseDuration, "a duration", kDurationExamples, range)};
    if (*parsed < lo || *parsed > hi) return {quoted(value) + " is out of range (allowed: " + range + ")"};
    get(policy) = *parsed;
    return {};
  };
}

template <class Get>
Apply countKey(Get get, std::int64_t lo, std::int64_t hi) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    const auto range = std::to_string(lo) + " to " + std::to_string(hi);
    const auto parsed = parseCount(value);
    if (!parsed) return {notA(value, parseCount, "a count", kCountExamples, range)};
    if (*parsed < lo || *parsed > hi) return {quoted(value) + " is out of range (allowed: " + range + ")"};
    get(policy) = static_cast<std::remove_reference_t<decltype(get(policy))>>(*parsed);
    return {};
  };
}

// Says why a number is not a ratio: "80" above 1 most likely meant "80%".
std::string ratioOutOfRange(std::string_view value, const std::string& range) {
  const bool percent = !value.empty() && value.back() == '%';
  const auto number = percent ? value.substr(0, value.size() - 1) : value;
  const bool numeric = !number.empty() && number.find_first_not_of("0123456789.") == std::string_view::npos &&
                       number.front() != '.' && number.back() != '.' && number.find('.') == number.rfind('.');
  if (!numeric) return {};
  auto message = quoted(value) + " is out of range (allowed: " + range + ")";
  if (!percent) message += "; write " + std::string(value) + "% for a percentage";
  return message;
}

template <class Get>
Apply ratioKey(Get get, double lo, double hi) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    const auto range = formatRatio({lo}) + " to " + formatRatio({hi});
    const auto parsed = parseRatio(value);
    if (!parsed) {
      if (value.empty()) return {"no value; expected a ratio " + std::string(kRatioExamples)};
      if (auto message = ratioOutOfRange(value, range); !message.empty()) return {message};
      return {quoted(value) + " is not a ratio " + std::string(kRatioExamples)};
    }
    if (parsed->value < lo || parsed->value > hi) return {quoted(value) + " is out of range (allowed: " + range + ")"};
    get(policy) = *parsed;
    return {};
  };
}

template <class Get>
Apply sizeKey(Get get, std::int64_t lo, std::int64_t hi) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    const auto range = formatSize(lo) + " to " + formatSize(hi);
    const auto parsed = parseSize(value);
    if (!parsed) return {notA(value, parseSize, "a size", "(examples: 16MiB, 1GiB)", range)};
    if (*parsed < lo || *parsed > hi) return {quoted(value) + " is out of range (allowed: " + range + ")"};
    get(policy) = *parsed;
    return {};
  };
}

const char* hashModeName(HashsizePolicy::Mode mode) {
  switch (mode) {
    case HashsizePolicy::Mode::Presize: return "presize";
    case HashsizePolicy::Mode::Follow: return "follow";
    case HashsizePolicy::Mode::Fixed: return "fixed";
  }
  return "presize";
}

template <class Get>
Apply boolKey(Get get) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    static const std::set<std::string_view> kTrue{"true", "yes", "on"};
    static const std::set<std::string_view> kFalse{"false", "no", "off"};
    if (kTrue.count(value) != 0U) {
      get(policy) = true;
    } else if (kFalse.count(value) != 0U) {
      get(policy) = false;
    } else {
      return {quoted(value) + " is not a boolean (allowed: true, false, yes, no, on, off)"};
    }
    return {};
  };
}

template <class Get, class Enum>
Apply choiceKey(Get get, std::vector<std::pair<std::string_view, Enum>> choices) {
  return [=](std::string_view value, Policy& policy) -> Errors {
    std::vector<std::string> names;
    for (const auto& [name, mode] : choices) {
      if (name == value) {
        get(policy) = mode;
        return {};
      }
      names.emplace_back(name);
    }
    return {quoted(value) + " is not a mode (allowed: " + join(names, ", ") + ")"};
  };
}


Errors applyNetns(std::string_view value, Policy& policy) {
  if (value.empty()) return {"no value; expected init, all, or a comma-separated list of names from /run/netns"};
  if (value == "init" || value == "all") {
    policy.controller.netns = {value == "init" ? NetnsSelector::Mode::Init : NetnsSelector::Mode::All, {}};
    return {};
  }
  Errors errors;
  std::vector<std::string> names;
  for (const auto& name : splitList(value)) {
    if (name.empty()) {
      errors.push_back("empty name in " + quoted(value) + "; separate names with single commas");
    } else if (name == "all") {
      errors.push_back("\"all\" cannot be combined with names; write netns = all alone");
    } else if (!isPlainNetnsName(name)) {
      errors.push_back(quoted(name) +
                       " is not a plain namespace name (letters, digits, \".\", \"_\", \"-\"; at most 255 characters; "
                       "not \".\" or \"..\")");
    } else if (std::find(names.begin(), names.end(), name) != names.end()) {
      errors.push_back(quoted(name) + " is listed twice");
    } else {
      names.push_back(name);
    }
  }
  if (errors.empty()) policy.controller.netns = {NetnsSelector::Mode::Named, names};
  return errors;
}

Errors applyFactor(std::string_view value, Policy& policy) {
  constexpr double kLo = 0.1;
  constexpr double kHi = 0.95;
  const auto parsed = parseRatio(value);
  if (!parsed) {
    if (value.empty()) return {"no value; expected a factor between 0.1 and 0.95 (examples: 0.5, 50%)"};
    if (ratioOutOfRange(value, "").empty()) return {quoted(value) + " is not a factor (examples: 0.5, 50%)"};
  }
  if (!parsed || parsed->value < kLo || parsed->value > kHi) {
    return {quoted(value) + " is out of range (allowed: 0.1 to 0.95; each step multiplies a timeout by it)"};
  }
  policy.timeouts.factor = parsed->value;
  return {};
}

std::string unknownTimeout(std::string_view name) {
  auto message = quoted(name) + " is not a conntrack timeout";
  if (const auto suggestion = closest(name, timeoutNames()); !suggestion.empty()) {
    return message + "; did you mean " + suggestion + "?";
  }
  return message + " (examples: tcp_timeout_time_wait, udp_timeout_stream)";
}

// A list of distinct timeouts (`order`, `shed`) into `target`.
Errors applyTimeoutList(std::string_view value, std::vector<Knob>& target, const char* key) {
  Errors errors;
  std::vector<Knob> order;
  if (!value.empty()) {
    for (const auto& name : splitList(value)) {
      const auto knob = knobByName(name);
      if (name.empty()) {
        errors.push_back("empty name in " + quoted(value) + "; separate timeouts with single commas");
      } else if (!knob) {
        errors.push_back(unknownTimeout(name));
      } else if (!isTimeout(*knob)) {
        errors.push_back(quoted(name) + " is not a timeout; " + key + " lists timeouts such as " +
                         (std::string_view(key) == "shed" ? "udp_timeout" : "tcp_timeout_time_wait"));
      } else if (std::find(order.begin(), order.end(), *knob) != order.end()) {
        errors.push_back(quoted(name) + " is listed twice");
      } else {
        order.push_back(*knob);
      }
    }
  }
  if (errors.empty()) target = order;
  return errors;
}

Errors applyOrder(std::string_view value, Policy& policy) {
  return applyTimeoutList(value, policy.timeouts.order, "order");
}

Errors applyShed(std::string_view value, Policy& policy) {
  return applyTimeoutList(value, policy.timeouts.shed, "shed");
}

Errors applyTraceFile(std::string_view value, Policy& policy) {
  if (!value.empty() && value.front() != '/') return {quoted(value) + " is not an absolute path (example: /var/log/ctpilot/trace.jsonl); leave it empty for no trace"};
  for (const char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return {"the path holds a control character"};
  }
  policy.controller.traceFile = std::string(value);
  return {};
}

Errors applyTraceMaxSize(std::string_view value, Policy& policy) {
  constexpr std::int64_t kLo = std::int64_t{1} << 20;
  constexpr std::int64_t kHi = std::int64_t{16} << 30;
  const auto parsed = parseSize(value);
  if (!parsed) return {quoted(value) + " is not a size (examples: 64MiB, 1GiB)"};
  if (*parsed < kLo || *parsed > kHi) return {quoted(value) + " is out of range (allowed: 1MiB to 16GiB)"};
  policy.controller.traceMaxBytes = *parsed;
  return {};
}

Errors applyTextfile(std::string_view value, Policy& policy) {
  if (value.empty() || value.front() != '/' || value.back() == '/') {
    return {quoted(value) + " is not an absolute file path (example: /var/lib/prometheus/node-exporter/ctpilot.prom)"};
  }
  if (!value.ends_with(".prom")) {
    return {quoted(value) + ": node_exporter's textfile collector reads only files ending in .prom"};
  }
  policy.metrics.textfile = std::string(value);
  return {};
}

// ADDRESS:PORT with a numeric address: 127.0.0.1:9641, [::1]:9641.
Errors applyListen(std::string_view value, Policy& policy) {
  const auto colon = value.rfind(':');
  const std::string usage = quoted(value) + " is not ADDRESS:PORT (examples: 127.0.0.1:9641, [::1]:9641)";
  if (colon == std::string_view::npos || colon == 0) return {usage};
  std::string host(value.substr(0, colon));
  const auto portText = value.substr(colon + 1);
  int family = AF_INET;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return {usage};
    host = host.substr(1, host.size() - 2);
    family = AF_INET6;
  }
  std::array<unsigned char, sizeof(in6_addr)> addr{};
  if (inet_pton(family, host.c_str(), addr.data()) != 1) {
    return {quoted(host) + " is not a numeric " + (family == AF_INET ? "IPv4" : "IPv6") +
            " address (examples: 127.0.0.1:9641, [::1]:9641)"};
  }
  int port = 0;
  const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc{} || end != portText.data() + portText.size() || port < 1 || port > 65535) {
    return {quoted(std::string(portText)) + " is not a port (1 to 65535)"};
  }
  policy.metrics.listenHost = host;
  policy.metrics.listenPort = port;
  return {};
}

const std::vector<KeySpec>& keySpecs() {
  using Mode = TimeoutsPolicy::Mode;
  using HashMode = HashsizePolicy::Mode;
  static const std::vector<KeySpec> kSpecs{
      {"controller", "interval", durationKey([](Policy& p) -> auto& { return p.controller.interval; }, 100ms, 1h)},
      {"controller", "fast_interval",
       durationKey([](Policy& p) -> auto& { return p.controller.fastInterval; }, 100ms, 1h)},
      {"controller", "fast_fill", ratioKey([](Policy& p) -> auto& { return p.controller.fastFill; }, 0.01, 0.99)},
      {"controller", "netns", applyNetns},
      {"controller", "dry_run", boolKey([](Policy& p) -> auto& { return p.controller.dryRun; })},
      {"controller", "rollback_on_exit", boolKey([](Policy& p) -> auto& { return p.controller.rollbackOnExit; })},
      {"controller", "max_changes", countKey([](Policy& p) -> auto& { return p.controller.maxChanges; }, 1, 1000)},
      {"controller", "change_window",
       durationKey([](Policy& p) -> auto& { return p.controller.changeWindow; }, 1min, 24h)},
      {"controller", "trace_file", applyTraceFile},
      {"controller", "trace_max_size", applyTraceMaxSize},
      {"controller", "on_external",
       choiceKey([](Policy& p) -> auto& { return p.controller.onExternal; },
                 std::vector<std::pair<std::string_view, ControllerPolicy::OnExternal>>{
                     {"yield", ControllerPolicy::OnExternal::Yield}, {"adopt", ControllerPolicy::OnExternal::Adopt}})},
      {"max", "enabled", boolKey([](Policy& p) -> auto& { return p.max.enabled; })},
      {"max", "ceiling", countKey([](Policy& p) -> auto& { return p.max.ceiling; }, 1024, 2147483647)},
      {"max", "memory_budget", ratioKey([](Policy& p) -> auto& { return p.max.memoryBudget; }, 0.0001, 0.75)},
      {"max", "high_water", ratioKey([](Policy& p) -> auto& { return p.max.highWater; }, 0.10, 0.99)},
      {"max", "lookahead", durationKey([](Policy& p) -> auto& { return p.max.lookahead; }, 0s, 1h)},
      {"max", "target_fill", ratioKey([](Policy& p) -> auto& { return p.max.targetFill; }, 0.10, 0.95)},
      {"max", "cooldown", durationKey([](Policy& p) -> auto& { return p.max.cooldown; }, 1s, 1h)},
      {"max", "margin", countKey([](Policy& p) -> auto& { return p.max.margin; }, 0, 1024 * 1024)},
      {"hashsize", "mode",
       choiceKey([](Policy& p) -> auto& { return p.hashsize.mode; },
                 std::vector<std::pair<std::string_view, HashMode>>{
                     {"presize", HashMode::Presize}, {"follow", HashMode::Follow}, {"fixed", HashMode::Fixed}})},
      {"hashsize", "entries_per_bucket",
       countKey([](Policy& p) -> auto& { return p.hashsize.entriesPerBucket; }, 1, 64)},
      {"hashsize", "min_interval", durationKey([](Policy& p) -> auto& { return p.hashsize.minInterval; }, 1min, 168h)},
      {"hashsize", "max_memory",
       sizeKey([](Policy& p) -> auto& { return p.hashsize.maxMemory; }, 64LL * 1024, 4LL * 1024 * 1024 * 1024)},
      {"hashsize", "max_stall", durationKey([](Policy& p) -> auto& { return p.hashsize.maxStall; }, 0ms, 10s)},
      {"hashsize", "emergency_may_stall",
       boolKey([](Policy& p) -> auto& { return p.hashsize.emergencyMayStall; })},
      {"timeouts", "mode",
       choiceKey([](Policy& p) -> auto& { return p.timeouts.mode; },
                 std::vector<std::pair<std::string_view, Mode>>{{"shorten", Mode::Shorten}, {"off", Mode::Off}})},
      {"timeouts", "shorten_at", ratioKey([](Policy& p) -> auto& { return p.timeouts.shortenAt; }, 0.50, 0.99)},
      {"timeouts", "factor", applyFactor},
      {"timeouts", "relax_below", ratioKey([](Policy& p) -> auto& { return p.timeouts.relaxBelow; }, 0.05, 0.95)},
      {"timeouts", "relax_after", durationKey([](Policy& p) -> auto& { return p.timeouts.relaxAfter; }, 1min, 24h)},
      {"timeouts", "cooldown", durationKey([](Policy& p) -> auto& { return p.timeouts.cooldown; }, 1s, 1h)},
      {"timeouts", "order", applyOrder},
      {"timeouts", "shed", applyShed},
      {"timeouts", "shed_cooldown", durationKey([](Policy& p) -> auto& { return p.timeouts.shedCooldown; }, 1s, 1h)},
      {"metrics", "textfile", applyTextfile},
      {"metrics", "listen", applyListen},
  };
  return kSpecs;
}

const KeySpec* findSpec(std::string_view section, std::string_view key) {
  for (const auto& spec : keySpecs()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

std::vector<std::string> keysOf(std::string_view section) {
  std::vector<std::string> keys;
  for (const auto& spec : keySpecs()) {
    if (spec.section == section) keys.emplace_back(spec.key);
  }
  return keys;
}

// The sections that have `key`, for "belongs in [max]".
std::vector<std::string> sectionsWith(std::string_view key) {
  std::vector<std::string> sections;
  for (const auto& spec : keySpecs()) {
    if (spec.key == key) sections.push_back("[" + std::string(spec.section) + "]");
  }
  return sections;
}

std::string unknownKeyMessage(std::string_view section, std::string_view key) {
  if (const auto elsewhere = sectionsWith(key); !elsewhere.empty()) {
    return "unknown key in [" + std::string(section) + "]; " + std::string(key) + " belongs in " + join(elsewhere, " or ");
  }
  const auto keys = keysOf(section);
  if (const auto suggestion = closest(key, keys); !suggestion.empty()) {
    return "unknown key; did you mean " + suggestion + "?";
  }
  return "unknown key (keys in [" + std::string(section) + "]: " + join(keys, ", ") + ")";
}

bool knownSection(std::string_view name) {
  return std::find(kSections.begin(), kSections.end(), name) != kSections.end();
}

// One `key = value` line as our own scan saw it; Program_options does not keep line numbers.
struct Entry {
  std::string section;
  std::string key;
  int line = 0;
};

struct Scan {
  std::vector<Entry> entries;
  std::string sanitized;  // comments and bad lines removed: what Program_options reads
};

// Where the scan is: the current section and whether it is one we know.
struct ScanState {
  std::string section;
  bool sectionKnown = false;
  bool sectionSeen = false;
};

using LineProblem = std::function<void(std::string)>;

// Reads a "[section]" line; returns what Program_options should see for it.
std::string scanSection(std::string_view line, ScanState& state, const LineProblem& problem) {
  state.sectionSeen = true;
  if (line.back() != ']' || line.size() < 3) {
    problem(quoted(line) + " is not a section header; write [section] on a line of its own");
    state.section.clear();
    state.sectionKnown = false;
    return "\n";
  }
  state.section = trim(line.substr(1, line.size() - 2));
  state.sectionKnown = knownSection(state.section);
  if (state.sectionKnown) return "[" + state.section + "]\n";
  std::vector<std::string> names(kSections.begin(), kSections.end());
  auto message = "[" + state.section + "]: unknown section";
  if (const auto suggestion = closest(state.section, names); !suggestion.empty()) {
    message += "; did you mean [" + suggestion + "]?";
  } else {
    message += " (sections: [controller], [max], [hashsize], [timeouts], [timeout_floors], [metrics])";
  }
  problem(message);
  return "\n";
}

// Reads a "key = value" line (comment already removed); returns what Program_options should
// see for it and records the entry with its line number.
std::string scanKey(const std::string& line, int number, const ScanState& state, Scan& scan,
                    const LineProblem& problem) {
  const auto equals = line.find('=');
  if (equals == std::string::npos) {
    problem(quoted(line) + " is neither \"key = value\" nor \"[section]\"");
    return "\n";
  }
  const auto key = trim(std::string_view(line).substr(0, equals));
  const auto value = trim(std::string_view(line).substr(equals + 1));
  if (key.empty()) {
    problem(quoted(line) + ": missing key before \"=\"");
    return "\n";
  }
  if (!state.sectionSeen) {
    const auto sections = sectionsWith(key);
    problem(key + ": key outside any section; put it under " +
            (sections.empty() ? std::string("a section such as [controller]") : join(sections, " or ")));
    return "\n";
  }
  if (!state.sectionKnown) return "\n";  // reported once, at the section header
  scan.entries.push_back({state.section, key, number});
  return key + " = " + value + "\n";
}

// Reads the text line by line: finds sections and keys with their line numbers, reports lines
// that are neither, and drops comments. Program_options only knows "#" comments, and only at the
// start of a value; policy files use "; " too, and "# " after a value, so strip both here.
Scan scanLines(std::string_view text, const std::string& file, std::vector<PolicyProblem>& problems) {
  Scan scan;
  ScanState state;
  int number = 0;
  std::size_t start = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") start = 3;  // UTF-8 byte-order mark from some editors
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    auto raw = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    const auto comment = raw.find_first_of("#;");
    const auto line = trim(raw.substr(0, comment));
    const LineProblem problem = [&](std::string message) { problems.push_back({file, number, std::move(message)}); };
    if (line.empty()) {
      scan.sanitized += "\n";
    } else if (line.front() == '[') {
      scan.sanitized += scanSection(line, state, problem);
    } else {
      scan.sanitized += scanKey(line, number, state, scan, problem);
    }
  }
  return scan;
}

std::string prefix(std::string_view section, std::string_view key) {
  return "[" + std::string(section) + "] " + std::string(key) + ": ";
}

}  // namespace

std::string PolicyProblem::str() const {
  // The file's own bytes are quoted in messages; a control byte among them stays inert.
  return ctpilot::printable(file + ":" + std::to_string(line) + ": " + message);
}

namespace {

// What parsePolicy learns about one file as it goes, for the checks that span keys.
struct FileParse {
  const std::string& file;
  PolicyLoad& load;
  std::map<std::string, int> lines;    // "max.ceiling" -> line where it is set
  std::set<std::string> failed;        // keys whose value was reported as bad
  std::map<Knob, int> floorLines;      // floors the file sets -> line
  std::map<Knob, std::int64_t> floors; // the valid ones, in seconds

  void problem(int line, std::string message) { load.problems.push_back({file, line, std::move(message)}); }
  int lineOf(const std::string& name) const {
    const auto found = lines.find(name);
    return found == lines.end() ? 0 : found->second;
  }
};

// Hands the scanned lines to Program_options' config-file parser; nullopt (with the problem
// recorded) when it disagrees with the scan, which would be a bug rather than a user error.
std::optional<std::vector<po::option>> readOptions(const Scan& scan, FileParse& parse) {
  po::options_description known;
  for (const auto& spec : keySpecs()) {
    known.add_options()((std::string(spec.section) + "." + std::string(spec.key)).c_str(), po::value<std::string>());
  }
  std::vector<po::option> options;
  try {
    std::istringstream in(scan.sanitized);
    options = po::parse_config_file(in, known, /*allow_unregistered=*/true).options;
  } catch (const po::error& e) {
    parse.problem(0, std::string("cannot parse: ") + e.what());
    return std::nullopt;
  }
  if (options.size() != scan.entries.size()) {
    parse.problem(0, "cannot parse: the file's lines and its options do not match");
    return std::nullopt;
  }
  return options;
}

// Checks one [timeout_floors] line: a known timeout, set once, whole seconds from 1s up to the
// kernel default.
void applyFloor(const Entry& entry, const std::string& value, FileParse& parse) {
  auto problem = [&](const std::string& message) {
    parse.problem(entry.line, prefix(entry.section, entry.key) + message);
  };
  const auto knob = knobByName(entry.key);
  if (!knob) return problem(unknownTimeout(entry.key));
  if (!isTimeout(*knob)) return problem("not a timeout; floors apply only to timeouts such as tcp_timeout_time_wait");
  if (const auto first = parse.floorLines.find(*knob); first != parse.floorLines.end()) {
    return problem("duplicate floor for " + std::string(policyName(*knob)) + "; first set on line " +
                   std::to_string(first->second) + ", keep one");
  }
  parse.floorLines[*knob] = entry.line;
  const auto maxFloor = std::chrono::seconds(kernelDefault(*knob));
  const auto range = "1s to " + formatDuration(maxFloor) + ", the kernel default";
  const auto parsed = parseDuration(value);
  if (!parsed) {
    problem(notA(value, parseDuration, "a duration", kDurationExamples, range));
  } else if (parsed->count() % 1000 != 0) {
    problem(quoted(value) + " is not whole seconds; the kernel keeps timeouts in seconds");
  } else if (*parsed < 1s) {
    problem(quoted(value) + " is below 1s; a timeout of 0 would drop entries at once");
  } else if (*parsed > maxFloor) {
    problem(quoted(value) + " is above the kernel default " + formatDuration(maxFloor) +
            "; a floor must be at or below the value the kernel starts with");
  } else {
    parse.floors[*knob] = std::chrono::duration_cast<std::chrono::seconds>(*parsed).count();
  }
}

// Applies one "key = value" line to the policy, or records why it cannot.
void applyEntry(const Entry& entry, const po::option& option, FileParse& parse) {
  const std::string value = option.value.empty() ? std::string() : option.value.front();
  const auto name = entry.section + "." + entry.key;
  auto problem = [&](const std::string& message) {
    parse.problem(entry.line, prefix(entry.section, entry.key) + message);
  };
  if (option.string_key != name) {
    return parse.problem(entry.line, "cannot parse: option " + option.string_key + " is out of step");
  }
  if (entry.section == kFloorsSection) return applyFloor(entry, value, parse);
  if (option.unregistered) return problem(unknownKeyMessage(entry.section, entry.key));
  if (const auto first = parse.lines.find(name); first != parse.lines.end()) {
    return problem("duplicate key; first set on line " + std::to_string(first->second) + ", keep one");
  }
  parse.lines[name] = entry.line;
  const auto errors = findSpec(entry.section, entry.key)->apply(value, parse.load.policy);
  if (!errors.empty()) parse.failed.insert(name);
  for (const auto& message : errors) problem(message);
}

// Reports `low` >= `high` at the line of the key the file sets (the later one if both), unless
// one of them was already reported as bad or neither is in the file (the defaults agree).
void checkBelow(FileParse& parse, const std::string& section, const std::string& low, const std::string& lowText,
                const std::string& high, const std::string& highText, bool ok, const std::string& why) {
  if (ok || parse.failed.count(section + "." + low) != 0U || parse.failed.count(section + "." + high) != 0U) return;
  const int lowLine = parse.lineOf(section + "." + low);
  const int highLine = parse.lineOf(section + "." + high);
  if (lowLine == 0 && highLine == 0) return;
  if (lowLine >= highLine) {
    parse.problem(lowLine, prefix(section, low) + lowText + " must be below " + high + " (" + highText + ")" + why);
  } else {
    parse.problem(highLine, prefix(section, high) + highText + " must be above " + low + " (" + lowText + ")" + why);
  }
}

// Checks the pairs of keys that must agree, and that every timeout to shorten has a floor.
void checkAgreement(FileParse& parse) {
  const Policy& policy = parse.load.policy;
  const auto& c = policy.controller;
  if (c.fastInterval > c.interval && parse.failed.count("controller.fast_interval") == 0U &&
      parse.failed.count("controller.interval") == 0U) {
    const int line = std::max(parse.lineOf("controller.fast_interval"), parse.lineOf("controller.interval"));
    parse.problem(line, prefix("controller", "fast_interval") + formatDuration(c.fastInterval) +
                            " must not be above interval (" + formatDuration(c.interval) +
                            "); fast_interval = interval samples at one rate");
  }
  const auto& m = policy.max;
  checkBelow(parse, "max", "target_fill", formatRatio(m.targetFill), "high_water", formatRatio(m.highWater),
             m.targetFill.value < m.highWater.value,
             "; fill after a raise must be under the level that triggers the next one");
  const auto& t = policy.timeouts;
  checkBelow(parse, "timeouts", "relax_below", formatRatio(t.relaxBelow), "shorten_at", formatRatio(t.shortenAt),
             t.relaxBelow.value < t.shortenAt.value,
             "; otherwise timeouts would be shortened and relaxed at the same fill");
  checkBelow(parse, "max", "margin", formatCount(m.margin), "ceiling", formatCount(m.ceiling), m.margin < m.ceiling, "");
  const int orderLine = parse.lineOf("timeouts.order");
  for (const auto knob : t.order) {
    if (t.floors.count(knob) == 0U) {
      parse.problem(orderLine, prefix("timeouts", "order") + std::string(policyName(knob)) + " has no floor; add \"" +
                                   std::string(policyName(knob)) + " = <duration>\" to [timeout_floors]");
    }
  }
  const int shedLine = parse.lineOf("timeouts.shed");
  for (const auto knob : t.shed) {
    const std::string name(policyName(knob));
    if (t.floors.count(knob) == 0U) {
      parse.problem(shedLine, prefix("timeouts", "shed") + name + " has no floor; add \"" + name +
                                  " = <duration>\" to [timeout_floors]");
    }
  }
  if (t.mode == TimeoutsPolicy::Mode::Shorten && t.order.empty() && orderLine != 0) {
    parse.problem(orderLine, prefix("timeouts", "order") +
                                 "empty while mode = shorten; list the timeouts to shorten, or set mode = off");
  }
}

// Refuses a written path that names the state directory, /, /proc, /sys, /dev, or the other
// written path (README Safety promise 13), at the line that sets it.
void checkWrittenPaths(FileParse& parse, const std::string& stateDir) {
  const Policy& policy = parse.load.policy;
  const std::array<std::pair<const char*, const std::string*>, 2> written = {
      {{"controller.trace_file", &policy.controller.traceFile}, {"metrics.textfile", &policy.metrics.textfile}}};
  for (const auto& [name, path] : written) {
    if (path->empty() || parse.failed.count(name) != 0U) continue;
    if (const auto why = forbiddenWritePath(*path, stateDir)) {
      const std::string key(name);
      const auto dot = key.find('.');
      parse.problem(parse.lineOf(key), prefix(key.substr(0, dot), key.substr(dot + 1)) + quoted(*path) + " " + *why);
    }
  }
  if (parse.failed.count("controller.trace_file") != 0U || parse.failed.count("metrics.textfile") != 0U) return;
  if (const auto why = collidingWritePaths(policy.controller.traceFile, policy.metrics.textfile)) {
    parse.problem(std::max(parse.lineOf("controller.trace_file"), parse.lineOf("metrics.textfile")), *why);
  }
}

}  // namespace

PolicyLoad parsePolicy(std::string_view text, const std::string& file, const std::string& stateDir) {
  PolicyLoad load;
  FileParse parse{file, load, {}, {}, {}, {}};
  const Scan scan = scanLines(text, file, load.problems);
  const auto options = readOptions(scan, parse);
  if (!options) return load;
  for (std::size_t i = 0; i < options->size(); ++i) applyEntry(scan.entries[i], (*options)[i], parse);
  for (const auto& [knob, seconds] : parse.floors) load.policy.timeouts.floors[knob] = seconds;
  checkAgreement(parse);
  checkWrittenPaths(parse, stateDir);
  std::stable_sort(load.problems.begin(), load.problems.end(),
                   [](const PolicyProblem& a, const PolicyProblem& b) { return a.line < b.line; });
  return load;
}

PolicyLoad loadPolicyFile(const std::string& path, const std::string& stateDir) {
  // A FIFO or device named as the policy (check-policy FIFO, a reload on SIGHUP) is refused
  // at once, never waited on; a file beyond the bound is not a policy (README Safety promise 13).
  auto text = readRegularFile(path, kMaxFileBytes);
  if (!text) {
    // "read PATH: cause" or "PATH is ...": the problem's FILE:0: prefix names the file already.
    auto why = text.error().what;
    for (const auto& lead : {"read " + path + ": ", path + " is "}) {
      if (why.starts_with(lead)) {
        why = why.substr(lead.size());
        break;
      }
    }
    return PolicyLoad{{}, {{path, 0, "cannot read policy: " + why}}};
  }
  return parsePolicy(*text, path, stateDir);
}

namespace {

const char* boolText(bool b) { return b ? "true" : "false"; }

void formatController(std::ostream& out, const ControllerPolicy& c) {
  std::string netns;
  switch (c.netns.mode) {
    case NetnsSelector::Mode::Init: netns = "init"; break;
    case NetnsSelector::Mode::All: netns = "all"; break;
    case NetnsSelector::Mode::Named: netns = join(c.netns.names, ", "); break;
  }
  out << "[controller]\n"
      << "# sampling period, watched namespaces, and how often one knob may change\n"
      << "interval = " << formatDuration(c.interval) << "\n"
      << "fast_interval = " << formatDuration(c.fastInterval) << "\n"
      << "fast_fill = " << formatRatio(c.fastFill) << "\n"
      << "netns = " << netns << "\n"
      << "dry_run = " << boolText(c.dryRun) << "\n"
      << "rollback_on_exit = " << boolText(c.rollbackOnExit) << "\n"
      << "max_changes = " << c.maxChanges << "\n"
      << "change_window = " << formatDuration(c.changeWindow) << "\n"
      << (c.traceFile.empty() ? "trace_file =" : "trace_file = " + c.traceFile) << "\n"
      << "trace_max_size = " << formatSize(c.traceMaxBytes) << "\n"
      << "on_external = " << (c.onExternal == ControllerPolicy::OnExternal::Adopt ? "adopt" : "yield") << "\n";
}

void formatMax(std::ostream& out, const MaxPolicy& m) {
  out << "\n[max]\n"
      << "# nf_conntrack_max: when to raise it and how far\n"
      << "enabled = " << boolText(m.enabled) << "\n"
      << "ceiling = " << formatCount(m.ceiling) << "\n"
      << "memory_budget = " << formatRatio(m.memoryBudget) << "\n"
      << "high_water = " << formatRatio(m.highWater) << "\n"
      << "lookahead = " << formatDuration(m.lookahead) << "\n"
      << "target_fill = " << formatRatio(m.targetFill) << "\n"
      << "cooldown = " << formatDuration(m.cooldown) << "\n"
      << "margin = " << formatCount(m.margin) << "\n";
}

void formatHashsize(std::ostream& out, const HashsizePolicy& h) {
  out << "\n[hashsize]\n"
      << "# nf_conntrack_buckets: ceiling / entries_per_bucket, resized only while the stall fits max_stall\n"
      << "mode = " << hashModeName(h.mode) << "\n"
      << "entries_per_bucket = " << h.entriesPerBucket << "\n"
      << "min_interval = " << formatDuration(h.minInterval) << "\n"
      << "max_memory = " << formatSize(h.maxMemory) << "\n"
      << "max_stall = " << formatDuration(h.maxStall) << "\n"
      << "emergency_may_stall = " << boolText(h.emergencyMayStall) << "\n";
}

void formatTimeouts(std::ostream& out, const TimeoutsPolicy& t) {
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), t.factor);
  const std::string factor = ec == std::errc{} ? std::string(buf.data(), end) : std::to_string(t.factor);
  std::vector<std::string> order;
  for (const auto knob : t.order) order.emplace_back(policyName(knob));
  std::vector<std::string> shed;
  for (const auto knob : t.shed) shed.emplace_back(policyName(knob));
  out << "\n[timeouts]\n"
      << "# the last resort: shorten timeouts at the ceiling, relax them when pressure passes\n"
      << "mode = " << (t.mode == TimeoutsPolicy::Mode::Shorten ? "shorten" : "off") << "\n"
      << "shorten_at = " << formatRatio(t.shortenAt) << "\n"
      << "factor = " << factor << "\n"
      << "relax_below = " << formatRatio(t.relaxBelow) << "\n"
      << "relax_after = " << formatDuration(t.relaxAfter) << "\n"
      << "cooldown = " << formatDuration(t.cooldown) << "\n"
      << "order = " << join(order, ", ") << "\n"
      << "# shed the timeouts of flows that never saw a reply first, and earlier (empty: never)\n"
      << (shed.empty() ? std::string("shed =") : "shed = " + join(shed, ", ")) << "\n"
      << "shed_cooldown = " << formatDuration(t.shedCooldown) << "\n";
  out << "\n[timeout_floors]\n"
      << "# shortening never takes a timeout below its floor\n";
  for (const auto& [knob, seconds] : t.floors) {
    out << policyName(knob) << " = " << formatDuration(std::chrono::seconds(seconds)) << "\n";
  }
}

void formatMetrics(std::ostream& out, const MetricsPolicy& mt) {
  const bool v6 = mt.listenHost.find(':') != std::string::npos;
  out << "\n[metrics]\n"
      << "# Prometheus text format: a file for node_exporter, and/or GET /metrics (each off unless set)\n";
  if (!mt.textfile.empty()) out << "textfile = " << mt.textfile << "\n";
  if (!mt.listenHost.empty()) {
    out << "listen = " << (v6 ? "[" + mt.listenHost + "]" : mt.listenHost) << ":" << mt.listenPort << "\n";
  }
}

}  // namespace

std::string formatPolicy(const Policy& policy) {
  std::ostringstream out;
  formatController(out, policy.controller);
  formatMax(out, policy.max);
  formatHashsize(out, policy.hashsize);
  formatTimeouts(out, policy.timeouts);
  formatMetrics(out, policy.metrics);
  return out.str();
}

bool isPlainNetnsName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace ctpilot::policy
