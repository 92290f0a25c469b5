// SPDX-License-Identifier: Apache-2.0
#include "policy/policy_keys.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <type_traits>

#include "policy/policy_file.h"
#include "policy/units.h"

namespace ctpilot::policy {

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

namespace {

using Errors = std::vector<std::string>;
using Apply = PolicyKey::Parse;
using Text = std::optional<std::string>;

constexpr std::string_view kDurationExamples = "(examples: 500ms, 30s, 5m, 2h, 5d)";
constexpr std::string_view kCountExamples = "(examples: 262144, 256k, 4M)";
constexpr std::string_view kRatioExamples = "(examples: 80%, 0.8)";

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

// The kinds of value below take `get`, a generic lambda that names the policy's field
// (`[](auto& p) -> auto& { return p.max.ceiling; }`): the key reads into it and prints from it.

// A kind of number: its README unit, how messages name it, how it reads and prints, and how
// messages write the ends of its range.
template <class T>
struct NumberKind {
  std::string_view unit;      // "duration"
  std::string_view article;   // "a duration"
  std::string_view examples;  // "(examples: 500ms, 30s, 5m, 2h, 5d)"
  std::optional<T> (*read)(std::string_view);
  std::string (*write)(T);
  std::string (*bound)(T);
};

const NumberKind<Duration> kDuration{"duration",    "a duration",   kDurationExamples,
                                     parseDuration, formatDuration, formatDuration};
const NumberKind<std::int64_t> kCount{"count",    "a count",   kCountExamples,
                                      parseCount, formatCount, [](std::int64_t n) { return std::to_string(n); }};
const NumberKind<std::int64_t> kSize{"size", "a size", "(examples: 16MiB, 1GiB)", parseSize, formatSize, formatSize};

template <class T, class Get>
PolicyKey numberKey(KeyName name, const NumberKind<T>& kind, Get get, std::type_identity_t<T> lo,
                    std::type_identity_t<T> hi) {
  Apply parse = [=](std::string_view value, Policy& policy) -> Errors {
    const auto range = kind.bound(lo) + " to " + kind.bound(hi);
    const auto parsed = kind.read(value);
    if (!parsed) return {notA(value, kind.read, kind.article, kind.examples, range)};
    if (*parsed < lo || *parsed > hi) return {quoted(value) + " is out of range (allowed: " + range + ")"};
    get(policy) = static_cast<std::remove_reference_t<decltype(get(policy))>>(*parsed);
    return {};
  };
  return {name.section, name.key, kind.unit, parse,
          [=](const Policy& policy) -> Text { return kind.write(get(policy)); }};
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
PolicyKey ratioKey(KeyName name, Get get, double lo, double hi) {
  Apply parse = [=](std::string_view value, Policy& policy) -> Errors {
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
  return {name.section, name.key, "ratio", parse,
          [=](const Policy& policy) -> Text { return formatRatio(get(policy)); }};
}

template <class Get>
PolicyKey boolKey(KeyName name, Get get) {
  Apply parse = [=](std::string_view value, Policy& policy) -> Errors {
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
  return {name.section, name.key, "boolean", parse,
          [=](const Policy& policy) -> Text { return std::string(get(policy) ? "true" : "false"); }};
}

// A mode: one of `choices`, each a name and the value it stands for.
template <class Get, class Enum>
PolicyKey choiceKey(KeyName name, Get get, std::vector<std::pair<std::string_view, Enum>> choices) {
  Apply parse = [=](std::string_view value, Policy& policy) -> Errors {
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
  return {name.section, name.key, "", parse, [=](const Policy& policy) -> Text {
            for (const auto& [name, mode] : choices) {
              if (mode == get(policy)) return std::string(name);
            }
            return std::string(choices.front().first);
          }};
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

// A list of distinct timeouts (`order`, `shed`) into `target`.
Errors applyTimeoutList(std::string_view value, std::vector<Knob>& target, std::string_view key) {
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
        errors.push_back(quoted(name) + " is not a timeout; " + std::string(key) + " lists timeouts such as " +
                         (key == keys::kShed.key ? "udp_timeout" : "tcp_timeout_time_wait"));
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
  return applyTimeoutList(value, policy.timeouts.order, keys::kOrder.key);
}

Errors applyShed(std::string_view value, Policy& policy) {
  return applyTimeoutList(value, policy.timeouts.shed, keys::kShed.key);
}

Errors applyTraceFile(std::string_view value, Policy& policy) {
  if (!value.empty() && value.front() != '/')
    return {quoted(value) +
            " is not an absolute path (example: /var/log/ctpilot/trace.jsonl); leave it empty for no trace"};
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

Text formatNetns(const Policy& policy) {
  const auto& netns = policy.controller.netns;
  switch (netns.mode) {
    case NetnsSelector::Mode::Init: return "init";
    case NetnsSelector::Mode::All: return "all";
    case NetnsSelector::Mode::Named: return join(netns.names, ", ");
  }
  return "all";
}

Text formatFactor(const Policy& policy) {
  const double factor = policy.timeouts.factor;
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), factor);
  return ec == std::errc{} ? std::string(buf.data(), end) : std::to_string(factor);
}

std::string knobList(const std::vector<Knob>& knobs) {
  std::vector<std::string> names;
  names.reserve(knobs.size());
  for (const auto knob : knobs) names.emplace_back(policyName(knob));
  return join(names, ", ");
}

// A metrics key that is off is left out of the printed policy (it has no value that means off).
Text formatTextfile(const Policy& policy) {
  if (policy.metrics.textfile.empty()) return std::nullopt;
  return policy.metrics.textfile;
}

Text formatListen(const Policy& policy) {
  const auto& m = policy.metrics;
  if (m.listenHost.empty()) return std::nullopt;
  const bool v6 = m.listenHost.find(':') != std::string::npos;
  return (v6 ? "[" + m.listenHost + "]" : m.listenHost) + ":" + std::to_string(m.listenPort);
}

}  // namespace

const std::vector<PolicySection>& policySections() {
  static const std::vector<PolicySection> kSections{
      {"controller", "sampling period, watched namespaces, and how often one knob may change"},
      {"max", "nf_conntrack_max: when to raise it and how far"},
      {"hashsize", "nf_conntrack_buckets: ceiling / entries_per_bucket, resized only while the stall fits max_stall"},
      {"timeouts", "the last resort: shorten timeouts at the ceiling, relax them when pressure passes"},
      {kFloorsSection, "shortening never takes a timeout below its floor"},
      {"metrics", "Prometheus text format: a file for node_exporter, and/or GET /metrics (each off unless set)"},
  };
  return kSections;
}

// The table of policy keys, one row per key (README "Code map": adding a policy key).
// One key a row, as the table it is (not re-wrapped by clang-format).
// clang-format off
const std::vector<PolicyKey>& policyKeys() {
  using Mode = TimeoutsPolicy::Mode;
  using HashMode = HashsizePolicy::Mode;
  using OnExternal = ControllerPolicy::OnExternal;
  static const std::vector<PolicyKey> kKeys{
      numberKey(keys::kInterval, kDuration, [](auto& p) -> auto& { return p.controller.interval; }, 100ms, 1h),
      numberKey(keys::kFastInterval, kDuration, [](auto& p) -> auto& { return p.controller.fastInterval; },
                100ms, 1h),
      ratioKey({"controller", "fast_fill"}, [](auto& p) -> auto& { return p.controller.fastFill; }, 0.01, 0.99),
      {"controller", "netns", "", applyNetns, formatNetns},
      boolKey({"controller", "dry_run"}, [](auto& p) -> auto& { return p.controller.dryRun; }),
      boolKey({"controller", "rollback_on_exit"}, [](auto& p) -> auto& { return p.controller.rollbackOnExit; }),
      numberKey({"controller", "max_changes"}, kCount, [](auto& p) -> auto& { return p.controller.maxChanges; }, 1, 1000),
      numberKey({"controller", "change_window"}, kDuration, [](auto& p) -> auto& { return p.controller.changeWindow; },
                1min, 24h),
      {keys::kTraceFile.section, keys::kTraceFile.key, "path", applyTraceFile,
       [](const Policy& p) -> Text { return p.controller.traceFile; }},
      {"controller", "trace_max_size", "size", applyTraceMaxSize,
       [](const Policy& p) -> Text { return formatSize(p.controller.traceMaxBytes); }},
      choiceKey({"controller", "on_external"}, [](auto& p) -> auto& { return p.controller.onExternal; },
                std::vector<std::pair<std::string_view, OnExternal>>{{"yield", OnExternal::Yield},
                                                                     {"adopt", OnExternal::Adopt}}),
      boolKey({"max", "enabled"}, [](auto& p) -> auto& { return p.max.enabled; }),
      numberKey(keys::kCeiling, kCount, [](auto& p) -> auto& { return p.max.ceiling; }, 1024, kTableSizeRange.max),
      ratioKey({"max", "memory_budget"}, [](auto& p) -> auto& { return p.max.memoryBudget; }, 0.0001, 0.75),
      ratioKey(keys::kHighWater, [](auto& p) -> auto& { return p.max.highWater; }, 0.10, 0.99),
      numberKey({"max", "lookahead"}, kDuration, [](auto& p) -> auto& { return p.max.lookahead; }, 0s, 1h),
      ratioKey(keys::kTargetFill, [](auto& p) -> auto& { return p.max.targetFill; }, 0.10, 0.95),
      numberKey(keys::kMaxCooldown, kDuration, [](auto& p) -> auto& { return p.max.cooldown; }, 1s, 1h),
      numberKey(keys::kMargin, kCount, [](auto& p) -> auto& { return p.max.margin; }, 0, std::int64_t{1024} * 1024),
      choiceKey({"hashsize", "mode"}, [](auto& p) -> auto& { return p.hashsize.mode; },
                std::vector<std::pair<std::string_view, HashMode>>{
                    {"presize", HashMode::Presize}, {"follow", HashMode::Follow}, {"fixed", HashMode::Fixed}}),
      numberKey({"hashsize", "entries_per_bucket"}, kCount, [](auto& p) -> auto& { return p.hashsize.entriesPerBucket; },
                1, 64),
      numberKey(keys::kMinInterval, kDuration, [](auto& p) -> auto& { return p.hashsize.minInterval; }, 1min,
                168h),
      numberKey({"hashsize", "max_memory"}, kSize, [](auto& p) -> auto& { return p.hashsize.maxMemory; }, 64LL * 1024,
              4LL * 1024 * 1024 * 1024),
      numberKey({"hashsize", "max_stall"}, kDuration, [](auto& p) -> auto& { return p.hashsize.maxStall; }, 0ms, 10s),
      boolKey({"hashsize", "emergency_may_stall"}, [](auto& p) -> auto& { return p.hashsize.emergencyMayStall; }),
      choiceKey(keys::kTimeoutsMode, [](auto& p) -> auto& { return p.timeouts.mode; },
                std::vector<std::pair<std::string_view, Mode>>{{"shorten", Mode::Shorten}, {"off", Mode::Off}}),
      ratioKey(keys::kShortenAt, [](auto& p) -> auto& { return p.timeouts.shortenAt; }, 0.50, 0.99),
      {"timeouts", "factor", "", applyFactor, formatFactor},
      ratioKey(keys::kRelaxBelow, [](auto& p) -> auto& { return p.timeouts.relaxBelow; }, 0.05, 0.95),
      numberKey({"timeouts", "relax_after"}, kDuration, [](auto& p) -> auto& { return p.timeouts.relaxAfter; }, 1min,
                24h),
      numberKey(keys::kTimeoutsCooldown, kDuration, [](auto& p) -> auto& { return p.timeouts.cooldown; }, 1s, 1h),
      {keys::kOrder.section, keys::kOrder.key, "list", applyOrder, [](const Policy& p) -> Text { return knobList(p.timeouts.order); }},
      {keys::kShed.section, keys::kShed.key, "list", applyShed, [](const Policy& p) -> Text { return knobList(p.timeouts.shed); },
       "shed the timeouts of flows that never saw a reply first, and earlier (empty: never)"},
      numberKey(keys::kShedCooldown, kDuration, [](auto& p) -> auto& { return p.timeouts.shedCooldown; }, 1s,
                1h),
      {keys::kTextfile.section, keys::kTextfile.key, "path", applyTextfile, formatTextfile},
      {"metrics", "listen", "", applyListen, formatListen},
  };
  return kKeys;
}
// clang-format on

const PolicyKey* findPolicyKey(std::string_view section, std::string_view key) {
  for (const auto& spec : policyKeys()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

namespace {

std::vector<std::string> keysOf(std::string_view section) {
  std::vector<std::string> keys;
  for (const auto& spec : policyKeys()) {
    if (spec.section == section) keys.emplace_back(spec.key);
  }
  return keys;
}

// The sections that have `key`, for "belongs in [max]".
std::vector<std::string> sectionsWith(std::string_view key) {
  std::vector<std::string> sections;
  for (const auto& spec : policyKeys()) {
    if (spec.key == key) sections.push_back("[" + std::string(spec.section) + "]");
  }
  return sections;
}

}  // namespace

std::string unknownSectionMessage(std::string_view section) {
  std::vector<std::string> names;
  std::vector<std::string> headers;
  for (const auto& known : policySections()) {
    names.emplace_back(known.name);
    headers.push_back("[" + std::string(known.name) + "]");
  }
  auto message = "[" + std::string(section) + "]: unknown section";
  if (const auto suggestion = closest(section, names); !suggestion.empty()) {
    return message + "; did you mean [" + suggestion + "]?";
  }
  return message + " (sections: " + join(headers, ", ") + ")";
}

std::string unknownKeyMessage(std::string_view section, std::string_view key) {
  if (const auto elsewhere = sectionsWith(key); !elsewhere.empty()) {
    return "unknown key in [" + std::string(section) + "]; " + std::string(key) + " belongs in " +
           join(elsewhere, " or ");
  }
  const auto keys = keysOf(section);
  if (const auto suggestion = closest(key, keys); !suggestion.empty()) {
    return "unknown key; did you mean " + suggestion + "?";
  }
  return "unknown key (keys in [" + std::string(section) + "]: " + join(keys, ", ") + ")";
}

std::string outsideSectionMessage(std::string_view key) {
  const auto sections = sectionsWith(key);
  return std::string(key) + ": key outside any section; put it under " +
         (sections.empty() ? std::string("a section such as [controller]") : join(sections, " or "));
}

std::string unknownTimeout(std::string_view name) {
  auto message = quoted(name) + " is not a conntrack timeout";
  if (const auto suggestion = closest(name, timeoutNames()); !suggestion.empty()) {
    return message + "; did you mean " + suggestion + "?";
  }
  return message + " (examples: tcp_timeout_time_wait, udp_timeout_stream)";
}

Result<std::int64_t> parseFloor(Knob knob, std::string_view value) {
  auto bad = [](std::string message) { return Error{Errc::Malformed, std::move(message)}; };
  const auto maxFloor = std::chrono::seconds(kernelDefault(knob));
  const auto range = "1s to " + formatDuration(maxFloor) + ", the kernel default";
  const auto parsed = parseDuration(value);
  if (!parsed) return bad(notA(value, parseDuration, "a duration", kDurationExamples, range));
  if (parsed->count() % 1000 != 0) {
    return bad(quoted(value) + " is not whole seconds; the kernel keeps timeouts in seconds");
  }
  if (*parsed < 1s) return bad(quoted(value) + " is below 1s; a timeout of 0 would drop entries at once");
  if (*parsed > maxFloor) {
    return bad(quoted(value) + " is above the kernel default " + formatDuration(maxFloor) +
               "; a floor must be at or below the value the kernel starts with");
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*parsed).count();
}

}  // namespace ctpilot::policy
