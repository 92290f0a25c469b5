// SPDX-License-Identifier: Apache-2.0
#include "policy/policy_file.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "policy/policy_keys.h"
#include "policy/read_file.h"
#include "policy/result.h"
#include "policy/units.h"
#include "policy/written_path.h"

namespace ctpilot::policy {
namespace {

// A policy file is a few hundred bytes; anything this large is the wrong file.
constexpr std::size_t kMaxFileBytes = std::size_t{1024} * 1024;

// `text` without the characters of `blanks` at either end.
std::string trim(std::string_view text, std::string_view blanks) {
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(blanks);
  return std::string(text.substr(first, last - first + 1));
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

std::string PolicyProblem::str() const {
  // The file's own bytes are quoted in messages; a control byte among them stays inert.
  return ctpilot::printable(file + ":" + std::to_string(line) + ": " + message);
}

namespace {

std::string prefix(std::string_view section, std::string_view key) {
  return "[" + std::string(section) + "] " + std::string(key) + ": ";
}

std::string prefix(KeyName name) { return prefix(name.section, name.key); }

// "max.ceiling": how FileParse records a key.
std::string dotted(KeyName name) { return std::string(name.section) + "." + std::string(name.key); }

// One `key = value` line: its section, its key and where it is.
struct Entry {
  std::string section;
  std::string key;
  int line = 0;
};

// What parsePolicy learns about one file as it goes, for the checks that span keys.
struct FileParse {
  const std::string& file;
  PolicyLoad& load;
  std::map<std::string, int> lines;     // "max.ceiling" -> line where it is set
  std::set<std::string> failed;         // keys whose value was reported as bad
  std::map<Knob, int> floorLines;       // floors the file sets -> line
  std::map<Knob, std::int64_t> floors;  // the valid ones, in seconds

  void problem(int line, std::string message) { load.problems.push_back({file, line, std::move(message)}); }
  int lineOf(KeyName name) const {
    const auto found = lines.find(dotted(name));
    return found == lines.end() ? 0 : found->second;
  }
  bool failedAny(KeyName a, KeyName b) const { return failed.count(dotted(a)) != 0U || failed.count(dotted(b)) != 0U; }
};

// Checks one [timeout_floors] line: a known timeout, set once, whole seconds from 1s up to the
// kernel default.
void applyFloor(const Entry& entry, std::string_view value, FileParse& parse) {
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
  const auto seconds = parseFloor(*knob, value);
  if (!seconds) return problem(seconds.error().what);
  parse.floors[*knob] = *seconds;
}

// Applies one "key = value" line to the policy, or records why it cannot.
void applyEntry(const Entry& entry, std::string_view value, FileParse& parse) {
  const auto name = dotted({entry.section, entry.key});
  auto problem = [&](const std::string& message) {
    parse.problem(entry.line, prefix(entry.section, entry.key) + message);
  };
  if (entry.section == kFloorsSection) return applyFloor(entry, value, parse);
  const PolicyKey* key = findPolicyKey(entry.section, entry.key);
  if (key == nullptr) return problem(unknownKeyMessage(entry.section, entry.key));
  if (const auto first = parse.lines.find(name); first != parse.lines.end()) {
    return problem("duplicate key; first set on line " + std::to_string(first->second) + ", keep one");
  }
  parse.lines[name] = entry.line;
  const auto errors = key->parse(value, parse.load.policy);
  if (!errors.empty()) parse.failed.insert(name);
  for (const auto& message : errors) problem(message);
}

// Where the reader is in the file: the line, the current section and whether it is one we know.
struct Reader {
  FileParse& parse;
  int line = 0;
  std::string section;
  bool sectionKnown = false;
  bool sectionSeen = false;

  void problem(std::string message) const { parse.problem(line, std::move(message)); }
};

// Reads a "[section]" line (comment already removed).
void readSection(std::string_view line, Reader& reader) {
  reader.sectionSeen = true;
  reader.sectionKnown = false;
  reader.section.clear();
  if (line.back() != ']' || line.size() < 3) {
    return reader.problem(quoted(line) + " is not a section header; write [section] on a line of its own");
  }
  reader.section = trim(line.substr(1, line.size() - 2), " \t");
  const auto& sections = policySections();
  reader.sectionKnown = std::any_of(sections.begin(), sections.end(),
                                    [&](const PolicySection& known) { return known.name == reader.section; });
  if (!reader.sectionKnown) reader.problem(unknownSectionMessage(reader.section));
}

// Reads a "key = value" line (comment already removed) and applies it. The value is everything
// after the first "=", so a value may hold "=" itself; a stray carriage return at either end of
// the key or the value is a blank.
void readKey(std::string_view line, Reader& reader) {
  const auto equals = line.find('=');
  if (equals == std::string_view::npos) {
    return reader.problem(quoted(line) + " is neither \"key = value\" nor \"[section]\"");
  }
  const auto key = trim(line.substr(0, equals), " \t\r");
  const auto value = trim(line.substr(equals + 1), " \t\r");
  if (key.empty()) return reader.problem(quoted(line) + ": missing key before \"=\"");
  if (!reader.sectionSeen) return reader.problem(outsideSectionMessage(key));
  if (!reader.sectionKnown) return;  // reported once, at the section header
  applyEntry({reader.section, key, reader.line}, value, reader.parse);
}

// Reads the text in one pass, line by line, keeping each line's number for its problems. "#"
// and ";" start a comment, at the start of a line or after a value; a UTF-8 byte-order mark
// (from some editors) and CRLF line ends are accepted.
void readLines(std::string_view text, FileParse& parse) {
  Reader reader{parse, 0, {}, false, false};
  std::size_t start = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") start = 3;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    auto raw = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++reader.line;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    const auto line = trim(raw.substr(0, raw.find_first_of("#;")), " \t");
    if (line.empty()) continue;
    if (line.front() == '[') {
      readSection(line, reader);
    } else {
      readKey(line, reader);
    }
  }
}

// Reports `low` >= `high` at the line of the key the file sets (the later one if both), unless
// one of them was already reported as bad or neither is in the file (the defaults agree).
void checkBelow(FileParse& parse, KeyName low, const std::string& lowText, KeyName high, const std::string& highText,
                bool ok, const std::string& why) {
  if (ok || parse.failedAny(low, high)) return;
  const int lowLine = parse.lineOf(low);
  const int highLine = parse.lineOf(high);
  if (lowLine == 0 && highLine == 0) return;
  const std::string lowKey(low.key);
  const std::string highKey(high.key);
  if (lowLine >= highLine) {
    parse.problem(lowLine, prefix(low) + lowText + " must be below " + highKey + " (" + highText + ")" + why);
  } else {
    parse.problem(highLine, prefix(high) + highText + " must be above " + lowKey + " (" + lowText + ")" + why);
  }
}

// Reports each timeout that `list` names without a floor, at the line that sets `list`.
void checkFloors(FileParse& parse, KeyName list, const std::vector<Knob>& knobs) {
  const auto& floors = parse.load.policy.timeouts.floors;
  for (const auto knob : knobs) {
    const std::string name(policyName(knob));
    if (floors.count(knob) == 0U) {
      parse.problem(parse.lineOf(list), prefix(list) + name + " has no floor; add \"" + name + " = <duration>\" to [" +
                                            std::string(kFloorsSection) + "]");
    }
  }
}

// Checks the pairs of keys that must agree, and that every timeout to shorten has a floor.
void checkAgreement(FileParse& parse) {
  using namespace keys;
  const Policy& policy = parse.load.policy;
  const auto& c = policy.controller;
  if (c.fastInterval > c.interval && !parse.failedAny(kFastInterval, kInterval)) {
    const std::string fast(kFastInterval.key);
    const std::string interval(kInterval.key);
    parse.problem(std::max(parse.lineOf(kFastInterval), parse.lineOf(kInterval)),
                  prefix(kFastInterval) + formatDuration(c.fastInterval) + " must not be above " + interval + " (" +
                      formatDuration(c.interval) + "); " + fast + " = " + interval + " samples at one rate");
  }
  const auto& m = policy.max;
  checkBelow(parse, kTargetFill, formatRatio(m.targetFill), kHighWater, formatRatio(m.highWater),
             m.targetFill.value < m.highWater.value,
             "; fill after a raise must be under the level that triggers the next one");
  const auto& t = policy.timeouts;
  checkBelow(parse, kRelaxBelow, formatRatio(t.relaxBelow), kShortenAt, formatRatio(t.shortenAt),
             t.relaxBelow.value < t.shortenAt.value,
             "; otherwise timeouts would be shortened and relaxed at the same fill");
  checkBelow(parse, kMargin, formatCount(m.margin), kCeiling, formatCount(m.ceiling), m.margin < m.ceiling, "");
  checkFloors(parse, kOrder, t.order);
  checkFloors(parse, kShed, t.shed);
  if (t.mode == TimeoutsPolicy::Mode::Shorten && t.order.empty() && parse.lineOf(kOrder) != 0) {
    const std::string mode(kTimeoutsMode.key);
    parse.problem(parse.lineOf(kOrder), prefix(kOrder) + "empty while " + mode +
                                            " = shorten; list the timeouts to shorten, or set " + mode + " = off");
  }
}

// Refuses a written path that names the state directory, /, /proc, /sys, /dev, or the other
// written path (README Safety promise 13), at the line that sets it.
void checkWrittenPaths(FileParse& parse, const std::string& stateDir) {
  using namespace keys;
  const Policy& policy = parse.load.policy;
  const std::array<std::pair<KeyName, const std::string*>, 2> written = {
      {{kTraceFile, &policy.controller.traceFile}, {kTextfile, &policy.metrics.textfile}}};
  for (const auto& [name, path] : written) {
    if (path->empty() || parse.failed.count(dotted(name)) != 0U) continue;
    if (const auto why = forbiddenWritePath(*path, stateDir)) {
      parse.problem(parse.lineOf(name), prefix(name) + quoted(*path) + " " + *why);
    }
  }
  if (parse.failedAny(kTraceFile, kTextfile)) return;
  if (const auto why = collidingWritePaths(policy.controller.traceFile, policy.metrics.textfile)) {
    parse.problem(std::max(parse.lineOf(kTraceFile), parse.lineOf(kTextfile)), *why);
  }
}

}  // namespace

PolicyLoad parsePolicy(std::string_view text, const std::string& file, const std::string& stateDir) {
  PolicyLoad load;
  FileParse parse{file, load, {}, {}, {}, {}};
  readLines(text, parse);
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

std::string formatPolicy(const Policy& policy) {
  std::string out;
  for (const auto& section : policySections()) {
    if (!out.empty()) out += "\n";
    out += "[" + std::string(section.name) + "]\n# " + std::string(section.comment) + "\n";
    for (const auto& key : policyKeys()) {
      if (key.section != section.name) continue;
      const auto value = key.format(policy);
      if (!value) continue;
      if (!key.comment.empty()) out += "# " + std::string(key.comment) + "\n";
      out += std::string(key.key) + (value->empty() ? " =" : " = " + *value) + "\n";
    }
    if (section.name != kFloorsSection) continue;
    for (const auto& [knob, seconds] : policy.timeouts.floors) {
      out += std::string(policyName(knob)) + " = " + formatDuration(std::chrono::seconds(seconds)) + "\n";
    }
  }
  return out;
}

bool isPlainNetnsName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace ctpilot::policy
