// SPDX-License-Identifier: Apache-2.0
// `ctpilot status [--json]`: what the conntrack table looks like now, per watched netns, with
// the global knobs, the memory facts, recent changes and active holds from the journal.
// Read-only: it never writes a knob and never creates the state directory.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "controller/cli/command_env.h"
#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/journal/journal_view.h"
#include "policy/decide.h"
#include "policy/knob.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

using policy::Knob;
using Json = nlohmann::ordered_json;

constexpr int kRecentChanges = 5;
// How far back status looks in journal.jsonl.1 for them (a dry run's planned records can fill it).
constexpr std::int64_t kRecentLinesRotated = 10000;
// Bumped only when a key changes meaning or disappears; new keys may appear in any version.
constexpr int kStatusJsonVersion = 1;

struct TimeoutStatus {
  Knob knob;
  std::optional<std::int64_t> value;
};

struct NetnsStatus {
  sysfs::Netns netns;
  std::optional<std::int64_t> count;
  std::optional<sysfs::ConntrackStats> stats;
  std::vector<TimeoutStatus> timeouts;
  std::vector<std::string> problems;
};

struct Status {
  std::string policySource;
  std::optional<std::int64_t> max;
  std::optional<std::int64_t> buckets;
  std::optional<sysfs::MemoryFacts> memory;
  std::string bootId;
  std::vector<NetnsStatus> namespaces;
  std::vector<std::string> problems;  // not tied to one netns
  bool journalRead = false;
  std::vector<JournalRecord> recent;                  // newest last
  std::vector<JournalRecord> holds;                   // active Hold records
  std::vector<JournalRecord> unmanaged;               // External records of knobs left to someone else
  std::map<policy::KnobRef, std::int64_t> baselines;  // this boot's values before ctpilot's first change
  bool anythingRead = false;
  std::optional<std::int64_t> allEntries;     // every netns together (nf_conntrack slab active objects)
  std::optional<std::int64_t> budgetEntries;  // what memory_budget holds, for all namespaces together
  std::optional<JournalRecord> lastResize;    // the newest applied resize of nf_conntrack_buckets
};

// Reads a knob; on failure notes the problem once, prefixed with `who`.
std::optional<std::int64_t> readKnob(const sysfs::KnobStore& store, const sysfs::Netns& netns, Knob knob,
                                     std::vector<std::string>& problems) {
  auto value = store.read(netns, knob);
  if (value) return *value;
  problems.push_back("cannot read " + std::string(policy::kernelName(knob)) + ": " + value.error().what);
  return std::nullopt;
}

// Resolves the policy's netns selector one name at a time, so that one missing name is
// reported and the others are still shown.
std::vector<sysfs::Netns> watchedNetns(const GlobalOptions& global, const policy::NetnsSelector& selector,
                                       std::vector<std::string>& problems) {
  std::vector<policy::NetnsSelector> parts;
  if (selector.mode == policy::NetnsSelector::Mode::Named) {
    for (const auto& name : selector.names) {
      policy::NetnsSelector one;
      one.mode = policy::NetnsSelector::Mode::Named;
      one.names = {name};
      parts.push_back(one);
    }
  } else {
    parts.push_back(selector);
  }
  std::vector<sysfs::Netns> found;
  for (const auto& part : parts) {
    auto listed = sysfs::discoverNetns(global.root, part);
    if (!listed) {
      problems.push_back(listed.error().what);
      continue;
    }
    for (auto& netns : *listed) {
      const bool seen =
          std::any_of(found.begin(), found.end(), [&](const sysfs::Netns& n) { return n.name == netns.name; });
      if (!seen) found.push_back(std::move(netns));
    }
  }
  return found;
}

bool isChange(const JournalRecord& r) {
  return r.kind == RecordKind::Applied || r.kind == RecordKind::Rollback || r.kind == RecordKind::External;
}

// The newest changes of journal.jsonl, then of journal.jsonl.1 (earlier boots `run` moved
// aside), read backwards: at most kRecentLinesRotated lines of each.
void readRecent(const GlobalOptions& global, Status& status) {
  auto recent = readJournalTail(global.stateDir, kRecentChanges, /*rotatedOnly=*/false, isChange, kRecentLinesRotated);
  if (!recent) {
    status.problems.push_back("cannot read the journal: " + recent.error().what);
    status.journalRead = false;
    return;
  }
  status.recent = std::move(*recent);
}

void readJournal(const GlobalOptions& global, Status& status) {
  // Read-only: no lock, no write access needed, and no state directory created. The same view a
  // running controller keeps, from the same function (a verified journal.checkpoint and the
  // records after it, or this boot's records): status shows exactly what it honours.
  auto opened = openControllerJournal(global.stateDir, status.bootId, JournalUse::ReadOnly, /*history=*/false);
  if (!opened) {
    status.problems.push_back("cannot read the journal: " + opened.error().what);
    return;
  }
  for (const auto& warning : opened->warnings) status.problems.push_back("journal: " + warning);
  status.journalRead = true;
  const auto view = opened->current();
  status.holds = view.activeHoldRecords(policy::Clock::now());
  status.baselines = view.baselines();
  // The External records a running controller honours (since its start: a policy change also
  // hands knobs back, which only the running controller knows).
  status.unmanaged = view.externalRecords(0);
  readRecent(global, status);
  // The newest resize: a timed one the view keeps, or a newer one among the recent changes.
  if (!view.timedResizes().empty()) status.lastResize = view.timedResizes().back();
  for (const auto& record : status.recent) {
    if (record.kind == RecordKind::Applied && record.knob == Knob::Buckets &&
        (!status.lastResize || record.id > status.lastResize->id)) {
      status.lastResize = record;
    }
  }
}

std::optional<std::int64_t> baselineOf(const Status& status, const std::string& netns, Knob knob) {
  const auto found = status.baselines.find(policy::KnobRef{netns, knob});
  if (found == status.baselines.end()) return std::nullopt;
  return found->second;
}

// Reads every timeout of `ns`; returns how many could be read. With the module loaded, a
// missing timeout is one this kernel does not have (GRE, SCTP built out): worth one mention,
// not a problem per knob.
std::int64_t readTimeouts(const sysfs::KnobStore& store, NetnsStatus& ns) {
  std::vector<std::string> timeoutProblems;
  std::string absent;
  for (const auto& info : policy::allKnobs()) {
    if (!info.timeout) continue;
    auto value = store.read(ns.netns, info.knob);
    ns.timeouts.push_back({info.knob, value ? std::optional<std::int64_t>(*value) : std::nullopt});
    if (value) continue;
    if (ns.count && value.error().code == Errc::Missing) {
      absent += (absent.empty() ? "" : ", ") + std::string(info.kernelName);
    } else {
      timeoutProblems.push_back("cannot read " + std::string(info.kernelName) + ": " + value.error().what);
    }
  }
  const auto readable =
      std::count_if(ns.timeouts.begin(), ns.timeouts.end(), [](const TimeoutStatus& t) { return t.value.has_value(); });
  if (readable == 0 && !timeoutProblems.empty()) {
    // One cause (module not loaded, netns gone) explains them all: say it once.
    ns.problems.push_back("cannot read any timeout: " + timeoutProblems.front());
  } else {
    ns.problems.insert(ns.problems.end(), timeoutProblems.begin(), timeoutProblems.end());
  }
  if (!absent.empty()) ns.problems.push_back("this kernel does not have " + absent);
  return readable;
}

// The global knobs, the memory facts, the boot id and the entries of every netns together.
void gatherGlobals(const GlobalOptions& global, const policy::Policy& policy, const sysfs::KnobStore& store,
                   Status& status) {
  status.max = readKnob(store, sysfs::initNetns(), Knob::ConntrackMax, status.problems);
  status.buckets = readKnob(store, sysfs::initNetns(), Knob::Buckets, status.problems);
  if (auto memory = sysfs::readMemoryFacts(global.root); memory) {
    status.memory = *memory;
  } else {
    status.problems.push_back("cannot read memory facts: " + memory.error().what);
  }
  if (auto boot = sysfs::readBootId(global.root); boot) status.bootId = *boot;
  if (auto all = sysfs::readSlabEntries(global.root); all) status.allEntries = *all;
  if (status.memory) {
    policy::Observation facts;
    facts.memTotalBytes = status.memory->memTotalBytes;
    facts.entryBytes = status.memory->entryBytes();
    if (const auto cap = policy::memoryCapEntries(policy, facts); cap > 0) status.budgetEntries = cap;
  }
  status.anythingRead = status.max || status.buckets || status.memory;
}

Status gather(const GlobalOptions& global, const policy::Policy& policy, std::string policySource) {
  Status status;
  status.policySource = std::move(policySource);
  sysfs::ProcKnobStore store(global.root);
  const auto stats = sysfs::makeStatsReader(global.root);
  gatherGlobals(global, policy, store, status);
  for (auto& netns : watchedNetns(global, policy.controller.netns, status.problems)) {
    NetnsStatus ns{std::move(netns), {}, {}, {}, {}};
    ns.count = readKnob(store, ns.netns, Knob::Count, ns.problems);
    if (auto read = stats->read(ns.netns); read) {
      ns.stats = *read;
      // Both report the netns's own count; use the statistics when the knob was unreadable.
      if (!ns.count && read->entries) ns.count = read->entries;
    } else {
      ns.problems.push_back("cannot read statistics: " + read.error().what);
    }
    if (!status.max && ns.stats && ns.stats->maxEntries) status.max = ns.stats->maxEntries;
    const auto readable = readTimeouts(store, ns);
    status.anythingRead = status.anythingRead || ns.count || ns.stats || readable > 0;
    status.namespaces.push_back(std::move(ns));
  }
  readJournal(global, status);
  return status;
}

std::optional<double> fillOf(const NetnsStatus& ns, const Status& status) {
  if (!ns.count || !status.max || *status.max <= 0) return std::nullopt;
  return static_cast<double>(*ns.count) / static_cast<double>(*status.max);
}

std::optional<double> perBucket(std::optional<std::int64_t> entries, const Status& status) {
  if (!entries || !status.buckets || *status.buckets <= 0) return std::nullopt;
  return static_cast<double>(*entries) / static_cast<double>(*status.buckets);
}

template <class T>
Json orNull(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

using Totals = sysfs::ConntrackStats::Totals;

// The counters status shows, in the table's order (sysfs/counters.h): the JSON key (the column
// head is the same in capitals) and the total. The table shows the first kCountersInTable; the
// JSON all of them.
constexpr auto kCounters = sysfs::counterFields();
constexpr std::size_t kCountersInTable = 5;

Json statsJson(const sysfs::ConntrackStats& stats) {
  const auto t = stats.totals();
  Json out = Json::object();
  out["source"] = sysfs::statsSourceName(stats.source);
  out["cpus"] = stats.cpus.size();
  out["entries"] = orNull(stats.entries);
  out["max_entries"] = orNull(stats.maxEntries);
  for (const auto& counter : kCounters) out[counter.statusKey] = t.*counter.total;
  return out;
}

// Entries in namespaces outside the watched set (slab total minus the watched counts), and the
// fullest watched count; nullopt when the slab is unreadable.
std::optional<std::pair<std::int64_t, std::int64_t>> outsideWatched(const Status& status) {
  if (!status.allEntries) return std::nullopt;
  std::int64_t watched = 0;
  std::int64_t fullest = 0;
  for (const auto& ns : status.namespaces) {
    watched += ns.count.value_or(0);
    fullest = std::max(fullest, ns.count.value_or(0));
  }
  return std::make_pair(std::max<std::int64_t>(*status.allEntries - watched, 0), fullest);
}

Json globalJson(const Status& status) {
  Json g = Json::object();
  g["nf_conntrack_max"] = orNull(status.max);
  g["nf_conntrack_buckets"] = orNull(status.buckets);
  g["nf_conntrack_max_baseline"] = orNull(baselineOf(status, policy::kInitNetns, Knob::ConntrackMax));
  g["nf_conntrack_buckets_baseline"] = orNull(baselineOf(status, policy::kInitNetns, Knob::Buckets));
  g["max_per_bucket"] = orNull(perBucket(status.max, status));
  g["mem_total_bytes"] = status.memory ? Json(status.memory->memTotalBytes) : Json(nullptr);
  g["slab_object_bytes"] =
      status.memory && status.memory->slabObjectBytes > 0 ? Json(status.memory->slabObjectBytes) : Json(nullptr);
  g["entry_bytes"] = status.memory ? Json(status.memory->entryBytes()) : Json(nullptr);
  g["entries_all_namespaces"] = orNull(status.allEntries);
  g["memory_budget_entries"] = orNull(status.budgetEntries);
  const auto outside = outsideWatched(status);
  g["entries_outside_watched"] = outside ? Json(outside->first) : Json(nullptr);
  g["last_resize"] = status.lastResize && status.lastResize->observation.is_object()
                         ? Json::parse(status.lastResize->observation.dump())
                         : Json(nullptr);
  return g;
}

Json netnsJson(const NetnsStatus& ns, const Status& status) {
  Json n = Json::object();
  n["name"] = ns.netns.name;
  n["inode"] = ns.netns.inode;
  n["count"] = orNull(ns.count);
  n["max"] = orNull(status.max);
  n["fill"] = orNull(fillOf(ns, status));
  n["buckets"] = orNull(status.buckets);
  n["entries_per_bucket"] = orNull(perBucket(ns.count, status));
  n["stats"] = ns.stats ? statsJson(*ns.stats) : Json(nullptr);
  Json timeouts = Json::object();
  for (const auto& t : ns.timeouts) {
    timeouts[std::string(policy::kernelName(t.knob))] = {
        {"value", orNull(t.value)},
        {"kernel_default", policy::kernelDefault(t.knob)},
        {"baseline", orNull(baselineOf(status, ns.netns.name, t.knob))}};
  }
  n["timeouts"] = timeouts;
  n["problems"] = ns.problems;
  return n;
}

// Journal records exactly as journaled; null when the journal could not be read.
Json recordsJson(const Status& status, const std::vector<JournalRecord>& records) {
  if (!status.journalRead) return nullptr;
  Json out = Json::array();
  for (const auto& record : records) out.push_back(Json::parse(toJsonLine(record)));
  return out;
}

Json unmanagedJson(const Status& status) {
  if (!status.journalRead) return nullptr;
  Json unmanaged = Json::array();
  for (const auto& record : status.unmanaged) {
    unmanaged.push_back({{"netns", record.netns.empty() ? std::string(policy::kInitNetns) : record.netns},
                         {"knob", std::string(policy::kernelName(*record.knob))},
                         {"reason", "external"},
                         {"journal_id", record.id},
                         {"expected", orNull(record.oldValue)},
                         {"value", orNull(record.newValue)},
                         {"time", formatTime(record.time)}});
  }
  return unmanaged;
}

Json toStatusJson(const Status& status, const GlobalOptions& global) {
  Json out = Json::object();
  out["version"] = kStatusJsonVersion;
  out["root"] = global.root;
  out["policy"] = status.policySource;
  out["boot_id"] = status.bootId.empty() ? Json(nullptr) : Json(status.bootId);
  out["global"] = globalJson(status);
  Json namespaces = Json::array();
  for (const auto& ns : status.namespaces) namespaces.push_back(netnsJson(ns, status));
  out["namespaces"] = namespaces;
  out["recent_changes"] = recordsJson(status, status.recent);
  out["holds"] = recordsJson(status, status.holds);
  out["unmanaged"] = unmanagedJson(status);
  out["problems"] = status.problems;
  return out;
}

std::string text(std::optional<std::int64_t> value) { return value ? std::to_string(*value) : "?"; }

std::string fixed(std::optional<double> value, int decimals, const char* suffix = "") {
  if (!value) return "?";
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%.*f%s", decimals, *value, suffix);
  return buf;
}

std::optional<double> percent(std::optional<double> ratio) {
  if (!ratio) return std::nullopt;
  return *ratio * 100;
}

std::string bytesText(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

// Prints rows as columns two spaces apart; numeric columns (all but the first) right-aligned,
// and with `noteLast` the last column left-aligned (a note after the numbers).
void printColumns(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::string& indent = "",
                  bool noteLast = false) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(widths[c] - row[c].size(), ' ');
      const bool left = c == 0 || (noteLast && c + 1 == row.size());
      line += left ? row[c] + pad : pad + row[c];
      if (c + 1 < row.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::string recordText(const JournalRecord& record) {
  std::string line =
      "#" + std::to_string(record.id) + " " + formatTime(record.time) + " " + recordKindName(record.kind);
  if (!record.netns.empty()) line += " " + record.netns;
  if (record.knob) line += " " + std::string(policy::kernelName(*record.knob));
  if (record.oldValue || record.newValue) line += " " + text(record.oldValue) + " -> " + text(record.newValue);
  if (record.until) line += " until " + formatTime(*record.until);
  if (!record.reason.empty()) line += " (" + record.reason + ")";
  return line;
}

using Rows = std::vector<std::vector<std::string>>;

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// "(baseline N before ctpilot's first change this boot)" when the knob has moved from it.
std::string baselineNote(const Status& status, Knob knob, std::optional<std::int64_t> now) {
  const auto baseline = baselineOf(status, policy::kInitNetns, knob);
  if (!baseline || baseline == now) return "";
  return "(baseline " + std::to_string(*baseline) + " before ctpilot's first change this boot)";
}

// The global knobs: nf_conntrack_max and nf_conntrack_buckets with their notes.
Rows knobRows(const Status& status) {
  std::string bucketsNote =
      status.max && status.buckets ? "(" + fixed(perBucket(status.max, status), 2) + " max per bucket)" : "";
  if (const auto note = baselineNote(status, Knob::Buckets, status.buckets); !note.empty()) bucketsNote += " " + note;
  return {
      {"nf_conntrack_max", text(status.max), baselineNote(status, Knob::ConntrackMax, status.max)},
      {"nf_conntrack_buckets", text(status.buckets), bucketsNote},
  };
}

// MemTotal, the size of one entry and of the table when full.
Rows memoryRows(const Status& status) {
  if (!status.memory) return {{"MemTotal", "?", ""}};
  Rows rows{{"MemTotal", bytesText(status.memory->memTotalBytes), ""}};
  const auto perEntry = status.memory->entryBytes();
  std::string how =
      status.memory->slabObjectBytes > 0
          ? "(slab object " + std::to_string(status.memory->slabObjectBytes) + " B + extensions + bucket share)"
          : "(slab object size unknown: 256 B assumed, + extensions + bucket share)";
  rows.push_back({"entry size", std::to_string(perEntry) + " B", how});
  if (status.max) {
    const auto full = *status.max * perEntry;
    rows.push_back(
        {"table full at max", bytesText(full),
         "(" + fixed(100.0 * static_cast<double>(full) / static_cast<double>(status.memory->memTotalBytes), 1, "%") +
             " of MemTotal)"});
  }
  return rows;
}

// Entries in every netns together against the memory budget, and those outside the watched set.
Rows entriesRows(const Status& status) {
  if (!status.allEntries) return {};
  std::string share;
  if (status.budgetEntries) {
    share =
        "(every netns together; memory budget " + std::to_string(*status.budgetEntries) + " entries: " +
        fixed(100.0 * static_cast<double>(*status.allEntries) / static_cast<double>(*status.budgetEntries), 1, "%") +
        ")";
  }
  Rows rows{{"entries, all netns", std::to_string(*status.allEntries), share}};
  // A slab always has some objects allocated but unused (per-CPU caches): ignore a handful.
  constexpr std::int64_t kSlabSlack = 1024;
  if (const auto outside = outsideWatched(status); outside && outside->first > std::max(outside->second, kSlabSlack)) {
    rows.push_back({"outside watched netns", std::to_string(outside->first),
                    "(more than the fullest watched one: an unwatched netns may fill first; netns = all watches it)"});
  }
  return rows;
}

// Names left-aligned, values right-aligned, notes left-aligned after them.
void printGlobals(std::ostream& out, const Status& status) {
  Rows rows = knobRows(status);
  for (auto& more : {memoryRows(status), entriesRows(status)}) rows.insert(rows.end(), more.begin(), more.end());
  if (status.lastResize && status.lastResize->observation.contains("write_us")) {
    const auto& o = status.lastResize->observation;
    rows.push_back(
        {"last resize took", fixed(o["write_us"].get<double>() / 1000.0, 1, " ms"),
         o.contains("entries") ? "(rehashed " + o["entries"].dump() + " entries; every packet waited)" : ""});
  }
  out << "global\n";
  printColumns(out, rows, "  ", /*noteLast=*/true);
}

void printNetnsTable(std::ostream& out, const Status& status) {
  out << "\ntable per netns\n";
  Rows rows{{"NETNS", "COUNT", "MAX", "FILL", "BUCKETS", "PER BUCKET"}};
  for (std::size_t i = 0; i < kCountersInTable; ++i) rows[0].push_back(upper(kCounters[i].statusKey));
  rows[0].push_back("STATS");
  for (const auto& ns : status.namespaces) {
    std::vector<std::string> row{ns.netns.name,        text(ns.count),
                                 text(status.max),     fixed(percent(fillOf(ns, status)), 1, "%"),
                                 text(status.buckets), fixed(perBucket(ns.count, status), 2)};
    const auto t = ns.stats ? ns.stats->totals() : Totals{};
    for (std::size_t i = 0; i < kCountersInTable; ++i)
      row.push_back(ns.stats ? std::to_string(t.*kCounters[i].total) : "?");
    row.push_back(ns.stats ? sysfs::statsSourceName(ns.stats->source) : "none");
    rows.push_back(row);
  }
  if (status.namespaces.empty()) {
    out << "  no watched netns could be found\n";
  } else {
    printColumns(out, rows, "  ");
  }
}

// Timeouts: one row per knob any netns could read, one column per netns, the default last.
void printTimeouts(std::ostream& out, const Status& status) {
  Rows rows{{"TIMEOUT (s)"}};
  for (const auto& ns : status.namespaces) rows[0].push_back(ns.netns.name);
  rows[0].push_back("KERNEL DEFAULT");
  for (const auto& info : policy::allKnobs()) {
    if (!info.timeout) continue;
    std::vector<std::string> row{std::string(policy::policyName(info.knob))};
    bool any = false;
    for (const auto& ns : status.namespaces) {
      const auto found = std::find_if(ns.timeouts.begin(), ns.timeouts.end(),
                                      [&](const TimeoutStatus& t) { return t.knob == info.knob; });
      const bool has = found != ns.timeouts.end() && found->value;
      any = any || has;
      // A star marks a value that differs from the kernel's default.
      row.push_back(has ? std::to_string(*found->value) + (*found->value != info.kernelDefault ? "*" : " ") : "? ");
    }
    row.push_back(std::to_string(info.kernelDefault) + " ");
    if (any) rows.push_back(row);
  }
  out << "\ntimeouts (* differs from the kernel default)\n";
  if (rows.size() > 1) {
    printColumns(out, rows, "  ");
  } else {
    out << "  none could be read\n";
  }
}

// One journal section: its records, `none` (what to say when there are none) or unknown.
void printRecords(std::ostream& out, const Status& status, const std::string& title,
                  const std::vector<JournalRecord>& records, const std::string& none) {
  out << "\n" << title << "\n";
  if (!status.journalRead) {
    out << "  unknown (journal unreadable)\n";
  } else if (records.empty()) {
    out << "  " << none << "\n";
  } else {
    for (const auto& record : records) out << "  " << recordText(record) << "\n";
  }
}

void printProblems(std::ostream& out, const Status& status) {
  bool header = false;
  auto problem = [&](const std::string& who, const std::string& what) {
    if (!header) out << "\nproblems\n";
    header = true;
    out << "  " << who << what << "\n";
  };
  for (const auto& what : status.problems) problem("", what);
  for (const auto& ns : status.namespaces) {
    for (const auto& what : ns.problems) problem(ns.netns.name + ": ", what);
  }
}

void printHuman(std::ostream& out, const Status& status, const GlobalOptions& global) {
  out << "policy: " << status.policySource;
  if (global.root != "/") out << "   root: " << global.root;
  out << "\n\n";
  printGlobals(out, status);
  printNetnsTable(out, status);
  printTimeouts(out, status);
  printRecords(out, status, "recent changes", status.recent, "none in " + global.stateDir);
  printRecords(out, status, "holds", status.holds, "none");
  if (status.journalRead && !status.unmanaged.empty()) {
    printRecords(out, status, "unmanaged (changed by someone else; `ctpilot resume` hands them back)", status.unmanaged,
                 "");
  }
  printProblems(out, status);
}

}  // namespace

int statusCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool json = false;
  po::options_description options("ctpilot status [--json]");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("json", po::bool_switch(&json), "print one JSON object (see README, \"status --json\")");
  // clang-format on
  po::variables_map vm;
  CommandSyntax syntax;
  syntax.usage =
      "usage: ctpilot status [--json]\n"
      "Shows the conntrack table of every watched netns (policy [controller] netns), the global\n"
      "knobs, memory facts, recent changes and active holds. Changes nothing.\n"
      "Exits 0 when anything could be read, 1 when nothing could.\n\n";
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;

  std::string source;
  const auto policy = commandPolicy(global, "status", &source);
  if (!policy) return kExitUsage;
  const auto status = gather(global, *policy, source);
  if (json) {
    std::cout << toStatusJson(status, global).dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  } else {
    printHuman(std::cout, status, global);
  }
  if (!status.anythingRead) {
    std::cerr << "ctpilot status: nothing could be read under " << global.root
              << " (is nf_conntrack loaded? `modprobe nf_conntrack`)\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace ctpilot::controller
