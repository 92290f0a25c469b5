// SPDX-License-Identifier: Apache-2.0
#include "controller/controller.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include <spdlog/spdlog.h>

#include "controller/journal/journal_view.h"
#include "policy/decide.h"
#include "sysfs/knob_registry.h"

namespace ctpilot::controller {
namespace {

using policy::Knob;
using policy::KnobRef;
using policy::refName;

// Scanning /proc/*/ns/net for `netns = all` costs a readlink per process (measured: ~15 ms of
// CPU with 2,100 processes in 200 namespaces): rescan at most this often, and at once when
// /run/netns changed (`ip netns add`).
constexpr auto kRediscoverEvery = std::chrono::seconds(10);
// After the kernel rejected a value (EINVAL) or an I/O error, leave the knob alone this long
// rather than journaling a failed attempt every tick.
constexpr auto kRetryAfter = std::chrono::minutes(5);
// A dry run journals a planned change again only when its target moved by more than this share.
constexpr double kReplanShare = 0.10;
// A resize timed with fewer entries than this measures the bucket allocation (outside the
// locks, up to ~70 ms for 4M buckets) more than the rehash: it does not teach the cost per entry.
constexpr std::int64_t kLearnFromEntries = 100'000;
// The newest timed resizes the learned cost averages.
constexpr std::size_t kLearnFromResizes = 5;

std::string knobName(Knob knob) { return std::string(policy::kernelName(knob)); }

bool isGlobal(Knob knob) { return sysfs::registryEntry(knob).scope == sysfs::Scope::Global; }

KnobRef globalRef(Knob knob) { return {policy::kInitNetns, knob}; }

std::set<std::string> namesOf(const std::vector<sysfs::Netns>& list) {
  std::set<std::string> names;
  for (const auto& n : list) names.insert(n.name);
  return names;
}

}  // namespace

std::string describeAction(const policy::Action& action, std::int64_t to, bool would) {
  const char* past = "changed";
  const char* present = "change";
  switch (action.kind) {
    case policy::ActionKind::RaiseMax: past = "raised", present = "raise"; break;
    case policy::ActionKind::ResizeBuckets: past = "resized", present = "resize"; break;
    case policy::ActionKind::ShortenTimeout: past = "shortened", present = "shorten"; break;
    case policy::ActionKind::RelaxTimeout: past = "relaxed", present = "relax"; break;
  }
  std::string text = would ? std::string("would ") + present : std::string(past);
  text += " " + refName(action.ref) + " " + std::to_string(action.from) + " -> " + std::to_string(to);
  if (const auto reason = policy::reasonText(action); !reason.empty()) text += " (" + reason + ")";
  return text;
}

Pace nextPace(const policy::Policy& policy, const TickReport& report) {
  const auto& c = policy.controller;
  const auto& obs = report.observation;
  if (!report.sampled || c.fastInterval >= c.interval || obs.max <= 0) return {c.interval, {}};
  const double max = static_cast<double>(obs.max);
  const double lookahead = std::chrono::duration<double>(policy.max.lookahead).count();
  for (const auto& n : obs.netns) {
    const double fill = static_cast<double>(n.count) / max;
    const double growth = std::max({0.0, n.growthPerSec, n.demandPerSec});
    const double losing = n.dropsPerSec + n.earlyDropsPerSec + n.insertFailedPerSec;
    std::string why;
    if (losing > 0) {
      why = fmt::format("drop + early_drop + insert_failed {:.0f}/s in {}", losing, n.netns);
    } else if (fill >= c.fastFill.value) {
      why = fmt::format("fill {:.2f} >= fast_fill {:.2f} in {}", fill, c.fastFill.value, n.netns);
    } else if (growth > 0 && static_cast<double>(n.count) + growth * lookahead >= max) {
      why = fmt::format("growth {:.0f}/s in {} reaches max {} within lookahead", growth, n.netns, obs.max);
    }
    if (!why.empty()) return {c.fastInterval, std::move(why)};
  }
  return {c.interval, {}};
}

double learnedResizeNsPerEntry(const std::vector<JournalRecord>& records) {
  double sum = 0;
  std::size_t used = 0;
  for (auto it = records.rbegin(); it != records.rend() && used < kLearnFromResizes; ++it) {
    const auto& r = *it;
    if (r.kind != RecordKind::Applied || r.knob != Knob::Buckets || !r.observation.is_object()) continue;
    const auto us = r.observation.find("write_us");
    const auto entries = r.observation.find("entries");
    if (us == r.observation.end() || entries == r.observation.end() || !us->is_number() || !entries->is_number()) {
      continue;
    }
    const double n = entries->get<double>();
    if (n < static_cast<double>(kLearnFromEntries)) continue;
    sum += us->get<double>() * 1000.0 / n;
    ++used;
  }
  return used == 0 ? kDefaultResizeNsPerEntry : sum / static_cast<double>(used);
}

nlohmann::json observationJson(const policy::Observation& obs, const std::string& netns) {
  nlohmann::json json{{"max", obs.max}, {"buckets", obs.buckets}};
  std::int64_t watched = 0;
  for (const auto& ns : obs.netns) watched += ns.count;
  json["entries_total"] = std::max(obs.totalEntries, watched);
  for (const auto& ns : obs.netns) {
    if (ns.netns != netns) continue;
    json["netns"] = ns.netns;
    json["count"] = ns.count;
    json["fill"] = obs.max > 0 ? static_cast<double>(ns.count) / static_cast<double>(obs.max) : 0.0;
    json["growth_per_s"] = ns.growthPerSec;
    json["drops_per_s"] = ns.dropsPerSec;
    json["early_drops_per_s"] = ns.earlyDropsPerSec;
    json["insert_failed_per_s"] = ns.insertFailedPerSec;
    json["chaintoolong_per_s"] = ns.chainTooLongPerSec;
    json["demand_per_s"] = ns.demandPerSec;
  }
  return json;
}

// Whether `record` went to journal.jsonl (FileJournal sets its offset), so that a message may
// name it ("journal #42") and point at `ctpilot resume`: `plan` and `simulate` journal in memory.
namespace {
bool inJournalFile(const JournalRecord& record) { return record.offset >= 0; }
}  // namespace

struct Controller::Reading {
  std::map<KnobRef, std::int64_t> values;     // every managed knob read this tick
  std::map<KnobRef, std::int64_t> baselines;  // the view's, as of this tick
  std::vector<policy::Hold> holds;
  std::set<KnobRef> reused;  // values taken from stable_ rather than read this tick
};

Controller::Controller(policy::Policy policy, ControllerDeps deps)
    : policy_(std::move(policy)),
      deps_(std::move(deps)),
      estimator_(windowSamples(policy_), windowSpan(policy_)),
      actuator_(deps_.knobs, deps_.journal, deps_.bootId),
      view_(deps_.journalView ? std::move(*deps_.journalView) : JournalView(deps_.bootId, ViewScope::Controller)) {
  deps_.journalView.reset();
}

void Controller::warnOnce(const std::string& key, const std::string& message) {
  if (warned_.insert(key).second) {
    spdlog::warn("{}", message);
  } else {
    spdlog::debug("{}", message);
  }
}

bool Controller::appendOk(const Result<JournalRecord>& result, const std::string& what) {
  if (result) {
    journalWorks();
    return true;
  }
  journalFails(result.error(), what);
  return false;
}

void Controller::journalWorks() {
  if (journalBroken_) spdlog::info("journal writable again");
  journalBroken_ = false;
}

void Controller::journalFails(const Error& error, const std::string& what) {
  // Said once: at every tick the same failure would bury everything else in the log.
  if (!journalBroken_) {
    spdlog::critical("journal unwritable, not changing the kernel until it is ({}): {}", what, error.what);
  } else {
    spdlog::debug("journal still unwritable ({}): {}", what, error.what);
  }
  journalBroken_ = true;
}

void Controller::discover(policy::TimePoint now) {
  const auto& selector = policy_.controller.netns;
  const bool initOnly = selector.mode == policy::NetnsSelector::Mode::Init;
  const std::int64_t stamp = deps_.namespacesStamp ? deps_.namespacesStamp() : 0;
  const bool namedChanged = stamp != namespacesStamp_;
  if (lastDiscovery_ && !namedChanged && (initOnly || now - *lastDiscovery_ < kRediscoverEvery) &&
      now >= *lastDiscovery_) {
    return;
  }
  lastDiscovery_ = now;
  namespacesStamp_ = stamp;

  std::vector<sysfs::Netns> found;
  if (deps_.discover) {
    auto listed = deps_.discover(selector);
    if (listed) {
      found = std::move(listed.value());
    } else {
      warnOnce("discover:" + listed.error().what, "cannot list every watched network namespace (" +
                                                      listed.error().what +
                                                      "); watching the others; check [controller] netns in the policy");
      if (selector.mode == policy::NetnsSelector::Mode::Named) {
        // One absent name (ip netns del) must not blind the controller to the others, nor
        // keep it reading the deleted one through descriptors that keep it alive.
        for (const auto& name : selector.names) {
          auto one = deps_.discover(policy::NetnsSelector{policy::NetnsSelector::Mode::Named, {name}});
          if (one) found.insert(found.end(), one->begin(), one->end());
        }
      } else if (initOnly) {
        found.push_back(sysfs::Netns{policy::kInitNetns, "", 0});
      } else {
        return;  // netns = all: keep watching what we had until a scan succeeds
      }
    }
  } else {
    found.push_back(sysfs::Netns{policy::kInitNetns, "", 0});
  }

  for (const auto& old : watched_) {
    const bool still = std::any_of(found.begin(), found.end(), [&](const auto& n) { return n.name == old.name; });
    if (still) continue;
    spdlog::info("netns {} vanished; no longer watching it", old.name);
    estimator_.forget(old.name);
    std::erase_if(lastSeen_, [&](const auto& kv) { return kv.first.netns == old.name && !isGlobal(kv.first.knob); });
    std::erase_if(unwritable_, [&](const auto& ref) { return ref.netns == old.name && !isGlobal(ref.knob); });
    std::erase_if(lastPlanned_, [&](const auto& kv) { return kv.first.netns == old.name && !isGlobal(kv.first.knob); });
    calmSince_.erase(old.name);
    std::erase_if(stable_, [&](const auto& kv) { return kv.first.netns == old.name; });
    warned_.erase("stats:" + old.name);
    if (deps_.forget) deps_.forget(old);
  }
  for (const auto& ns : found) {
    const bool known = std::any_of(watched_.begin(), watched_.end(), [&](const auto& n) { return n.name == ns.name; });
    if (!known && !watched_.empty()) spdlog::info("netns {} appeared; watching it", ns.name);
  }
  if (namesOf(found) != namesOf(watched_)) totalReadAt_.reset();  // the split inside/outside moved
  watched_ = std::move(found);
}

std::optional<sysfs::Netns> Controller::netnsFor(const KnobRef& ref) const {
  const std::string name = isGlobal(ref.knob) ? std::string(policy::kInitNetns) : ref.netns;
  for (const auto& ns : watched_) {
    if (ns.name == name) return ns;
  }
  // Global knobs live in the initial netns even when it is not watched. A per-netns knob of a
  // namespace no longer watched has nowhere to go: an empty path would mean the initial one.
  if (isGlobal(ref.knob) || name == policy::kInitNetns) return sysfs::Netns{policy::kInitNetns, "", 0};
  return std::nullopt;
}

bool Controller::sample(policy::TimePoint now, TickReport& report, Reading& reading) {
  if (auto refreshed = deps_.journal.refresh(); !refreshed) {
    warnOnce("refresh", "cannot re-read the journal (" + refreshed.error().what +
                            "); holds placed by a rollback from now on may be missed");
  }
  // Only the records new since the last tick: the work follows the journal's growth, not its size.
  view_.addNew(deps_.journal.records());
  reading.baselines = view_.baselines();
  reading.holds = view_.activeHolds(now);

  discover(now);

  const auto initNs = *netnsFor(globalRef(Knob::ConntrackMax));
  const auto max = readStable(initNs, globalRef(Knob::ConntrackMax), now, reading);
  if (!max) {
    warnOnce("max", "cannot read nf_conntrack_max (" + max.error().what +
                        "); is nf_conntrack loaded? observing nothing until it is");
    report.error = max.error();
    return false;
  }
  if (warned_.erase("max") != 0) spdlog::info("nf_conntrack_max readable again");
  const auto buckets = readStable(initNs, globalRef(Knob::Buckets), now, reading);
  if (!buckets) warnOnce("buckets", "cannot read nf_conntrack_buckets (" + buckets.error().what + ")");

  auto& obs = report.observation;
  obs.now = now;
  obs.max = *max;
  obs.buckets = buckets.value_or(0);
  reading.values[globalRef(Knob::ConntrackMax)] = obs.max;
  if (buckets) reading.values[globalRef(Knob::Buckets)] = obs.buckets;
  const auto baselineOr = [&](const KnobRef& ref, std::int64_t current) {
    const auto found = reading.baselines.find(ref);
    return found == reading.baselines.end() ? current : found->second;
  };
  obs.baselineMax = baselineOr(globalRef(Knob::ConntrackMax), obs.max);
  obs.baselineBuckets = baselineOr(globalRef(Knob::Buckets), obs.buckets);
  obs.entryBytes = deps_.memory.entryBytes();
  obs.memTotalBytes = deps_.memory.memTotalBytes;

  for (const auto& ns : watched_) {
    if (auto n = sampleNetns(ns, now, obs.max, reading, report)) obs.netns.push_back(std::move(*n));
  }
  obs.unwritable = unwritable_;
  std::int64_t watchedEntries = 0;
  for (const auto& n : obs.netns) watchedEntries += n.count;
  obs.totalEntries = readTotalEntries(now, watchedEntries);
  obs.resizeNsPerEntry = learnedResizeNsPerEntry(view_.timedResizes());
  return true;
}

// Reads one watched namespace: statistics, count, timeouts; feeds the estimator. nullopt when
// its count cannot be read (said once).
std::optional<policy::NetnsObservation> Controller::sampleNetns(const sysfs::Netns& ns, policy::TimePoint now,
                                                                std::int64_t max, Reading& reading,
                                                                TickReport& report) {
  // The count comes from its sysctl; the statistics' table-wide entries (a second ctnetlink
  // request per namespace) are asked for only when that read fails.
  auto knob = deps_.knobs.read(ns, Knob::Count);
  auto stats = readStats(ns, report, /*countersOnly=*/static_cast<bool>(knob));
  std::optional<std::int64_t> count;
  if (knob) {
    count = *knob;
  } else {
    count = stats ? stats->entries : std::nullopt;
    if (!count) {
      warnOnce("count:" + ns.name,
               "cannot read " + refName({ns.name, Knob::Count}) + " (" + knob.error().what + "); skipping it");
      return std::nullopt;
    }
  }

  policy::NetnsObservation n;
  n.netns = ns.name;
  n.count = *count;
  readTimeouts(ns, now, reading, n);

  estimator_.add(ns.name, Sample{now, n.count, stats ? std::move(stats->cpus) : std::vector<sysfs::CpuCounters>{}});
  const auto estimate = estimator_.estimate(ns.name, max);
  n.growthPerSec = estimate.growthPerSec;
  n.dropsPerSec = estimate.dropsPerSec;
  n.earlyDropsPerSec = estimate.earlyDropsPerSec;
  n.insertFailedPerSec = estimate.insertFailedPerSec;
  n.chainTooLongPerSec = estimate.chainTooLongPerSec;
  n.demandPerSec = estimate.demandPerSec;
  report.estimates[ns.name] = estimate;
  return n;
}

// Reads one namespace's statistics into the report; nullopt (said once) when there are none.
std::optional<sysfs::ConntrackStats> Controller::readStats(const sysfs::Netns& ns, TickReport& report,
                                                           bool countersOnly) {
  auto stats = countersOnly ? deps_.stats.readCounters(ns) : deps_.stats.read(ns);
  if (!stats) {
    warnOnce("stats:" + ns.name, "no conntrack statistics for netns " + ns.name + " (" + stats.error().what +
                                     "); drop rates unknown there");
    return std::nullopt;
  }
  report.counters[ns.name] = stats->cpus;
  // The usual tick: nothing said before, so nothing to clear (and no key strings to build).
  if (warned_.empty() && stats->fallbackReason.empty()) return std::move(*stats);
  warned_.erase("stats:" + ns.name);
  // A netlink receive that timed out (or failed) leaves this tick to procfs: said once per episode.
  if (!stats->fallbackReason.empty()) {
    warnOnce("fallback:" + ns.name,
             "conntrack statistics of netns " + ns.name + " read from procfs (" + stats->fallbackReason + ")");
  } else {
    warned_.erase("fallback:" + ns.name);
  }
  return std::move(*stats);
}

// Reads the policy's timeouts, and those with a journaled baseline, of one namespace into `n`.
void Controller::readTimeouts(const sysfs::Netns& ns, policy::TimePoint now, Reading& reading,
                              policy::NetnsObservation& n) {
  // Only what decide() may move: `order` when it shortens, `shed`, and any with a baseline (to
  // relax); each read is a syscall per namespace per tick (README "Cost").
  std::set<Knob> timeouts(policy_.timeouts.shed.begin(), policy_.timeouts.shed.end());
  if (policy_.timeouts.mode == policy::TimeoutsPolicy::Mode::Shorten) {
    timeouts.insert(policy_.timeouts.order.begin(), policy_.timeouts.order.end());
  }
  for (const auto& [ref, value] : reading.baselines) {
    if (ref.netns == ns.name && policy::isTimeout(ref.knob)) timeouts.insert(ref.knob);
  }
  for (const auto knob : timeouts) {
    const KnobRef ref{ns.name, knob};
    auto value = readStable(ns, ref, now, reading);
    if (!value) {
      warnOnce("read:" + ns.name + ":" + knobName(knob),
               "cannot read " + refName(ref) + " (" + value.error().what + "); leaving it alone");
      continue;
    }
    n.timeouts[knob] = *value;
    const auto baseline = reading.baselines.find(ref);
    n.baselineTimeouts[knob] = baseline == reading.baselines.end() ? *value : baseline->second;
    reading.values[ref] = *value;
  }
}

// The entries of every namespace together. A costly source is read every totalEntriesEvery;
// in between, the entries outside the watched namespaces are taken as unchanged.
std::int64_t Controller::readTotalEntries(policy::TimePoint now, std::int64_t watched) {
  if (!deps_.totalEntries) return 0;
  const auto every = deps_.totalEntriesEvery;
  const bool due =
      !totalReadAt_ || every <= policy::Duration::zero() || now < *totalReadAt_ || now - *totalReadAt_ >= every;
  if (!due) return totalAtRead_ > 0 ? std::max(watched, totalAtRead_ + watched - watchedAtRead_) : 0;
  totalReadAt_ = now;
  watchedAtRead_ = watched;
  auto total = deps_.totalEntries();
  if (!total) {
    warnOnce("slab", "cannot count the entries of every namespace (" + total.error().what +
                         "); the memory budget counts the watched namespaces only");
    totalAtRead_ = 0;
    return 0;
  }
  totalAtRead_ = *total;
  return *total;
}

// A knob only a write changes, read at most every deps_.stableKnobsEvery (README "Cost"): a
// sysctl read is a syscall per knob and namespace, and at fast_interval most ticks would read
// the same values again. A failed read is not remembered.
Result<std::int64_t> Controller::readStable(const sysfs::Netns& ns, const KnobRef& ref, policy::TimePoint now,
                                            Reading& reading) {
  const auto every = deps_.stableKnobsEvery;
  if (every <= policy::Duration::zero()) return deps_.knobs.read(ns, ref.knob);
  if (const auto found = stable_.find(ref); found != stable_.end()) {
    const auto readAt = found->second.second;
    if (now >= readAt && now - readAt < every) {
      reading.reused.insert(ref);
      return found->second.first;
    }
  }
  auto value = deps_.knobs.read(ns, ref.knob);
  if (value) {
    stable_.insert_or_assign(ref, std::pair{*value, now});
  } else {
    stable_.erase(ref);
  }
  return value;
}

// Before a change is written or planned on values reused from an earlier tick: reads them again.
// False when one moved (someone else wrote it): the tick then changes nothing, and the next one
// reads every knob afresh, notices the change and decides on what the kernel holds.
bool Controller::confirmStable(policy::TimePoint now, const Reading& reading) {
  for (const auto& ref : reading.reused) {
    const auto netns = netnsFor(ref);
    const auto used = reading.values.find(ref);
    auto value = netns ? deps_.knobs.read(*netns, ref.knob) : Result<std::int64_t>(Error{Errc::Missing, ref.netns});
    if (!value || used == reading.values.end() || *value != used->second) {
      stable_.clear();
      return false;
    }
    stable_.insert_or_assign(ref, std::pair{*value, now});
  }
  return true;
}

void Controller::noticeExternal(policy::TimePoint now, Reading& reading, policy::Observation& obs) {
  const auto external = view_.externalKnobs(externalSinceId_);
  const bool adopt = policy_.controller.onExternal == policy::ControllerPolicy::OnExternal::Adopt;
  for (const auto& [ref, value] : reading.values) {
    const auto seen = lastSeen_.find(ref);
    const auto written = view_.lastWrites().find(ref);
    const auto baseline = reading.baselines.find(ref);
    const bool wasSeen = seen != lastSeen_.end();
    const bool wasWritten = written != view_.lastWrites().end();
    const std::int64_t previous = wasSeen ? seen->second : value;  // before lastSeen_ is updated below
    // A crash between the write and its applied record leaves an intent alone in the journal;
    // the value it names is ours, not someone else's. An adopted value is ours as well.
    const auto mine = view_.ourValues(ref);
    const bool ours = std::find(mine.begin(), mine.end(), value) != mine.end() ||
                      (adopt && !wasSeen && baseline != reading.baselines.end() && value == baseline->second);
    // A rollback in another process writes under its hold: its values are not someone else's.
    const bool changed = !held(reading.holds, ref) && !ours && (wasSeen ? value != seen->second : wasWritten);
    lastSeen_[ref] = value;
    if (!changed || external.contains(ref) || externalUnjournaled_.contains(ref)) continue;

    const std::int64_t expected = wasWritten ? written->second.value : previous;
    if (adopt) {
      adoptExternal(now, ref, expected, value, reading, obs);
    } else {
      yieldExternal(now, ref, expected, value);
    }
  }
}

// [controller] on_external = yield: the knob is the operator's until `ctpilot resume` or a
// policy change; said once at warn, journaled so status names the record.
void Controller::yieldExternal(policy::TimePoint now, const KnobRef& ref, std::int64_t expected, std::int64_t value) {
  auto record = knobRecord(RecordKind::External, now, deps_.bootId, ref, expected, value,
                           "changed by someone else; left alone until `ctpilot resume` or a policy change");
  auto stored = deps_.journal.append(std::move(record));
  if (!appendOk(stored, "external change of " + refName(ref))) {
    externalUnjournaled_.insert(ref);
    return;
  }
  view_.addNew(deps_.journal.records());
  if (!inJournalFile(*stored)) {
    spdlog::warn(
        "{} changed by someone else {} -> {}; leaving it alone (journaled in memory only: nothing for "
        "`ctpilot resume` to hand back)",
        refName(ref), expected, value);
    return;
  }
  spdlog::warn(
      "{} changed by someone else {} -> {} (journal #{}); leaving it alone: `ctpilot resume` hands it "
      "back, [controller] on_external = adopt keeps managing from such values",
      refName(ref), expected, value, stored->id);
}

// [controller] on_external = adopt: the new value becomes the knob's baseline (README Safety
// promises 3 and 4 count from it) and ctpilot keeps managing the knob from there.
void Controller::adoptExternal(policy::TimePoint now, const KnobRef& ref, std::int64_t expected, std::int64_t value,
                               Reading& reading, policy::Observation& obs) {
  auto record = knobRecord(RecordKind::Baseline, now, deps_.bootId, ref, expected, value,
                           "changed by someone else; adopted as the baseline ([controller] on_external = adopt)");
  auto stored = deps_.journal.append(std::move(record));
  if (!appendOk(stored, "adopted baseline of " + refName(ref))) {
    externalUnjournaled_.insert(ref);  // without its record the value is not ours to move
    return;
  }
  view_.addNew(deps_.journal.records());
  if (inJournalFile(*stored)) {
    spdlog::warn("{} changed by someone else {} -> {} (journal #{}); adopted as its baseline, still managed",
                 refName(ref), expected, value, stored->id);
  } else {
    spdlog::warn(
        "{} changed by someone else {} -> {}; adopted as its baseline, still managed (journaled in memory "
        "only)",
        refName(ref), expected, value);
  }
  reading.baselines[ref] = value;
  if (ref.knob == Knob::ConntrackMax) obs.baselineMax = value;
  if (ref.knob == Knob::Buckets) obs.baselineBuckets = value;
  for (auto& n : obs.netns) {
    if (n.netns == ref.netns && n.baselineTimeouts.contains(ref.knob)) n.baselineTimeouts[ref.knob] = value;
  }
}

void Controller::finishCrashedIntents(policy::TimePoint now, const Reading& reading) {
  // This process journals each outcome right after its write, so an intent of its own still
  // open at a tick is from a process that died between the write and the record (or whose
  // outcome could not be journaled). The knob tells which: at the intent's new value the write
  // happened, at its old value it did not. A rollback's intent (it names a change) is left to
  // rollback, and a knob at a third value to the external-change check.
  for (const auto& intent : view_.unfinishedIntents()) {
    if (intent.ref) continue;
    const auto ref = *recordRef(intent);
    const auto value = reading.values.find(ref);
    if (value == reading.values.end()) continue;
    const bool written = value->second == *intent.newValue;
    if (!written && value->second != intent.oldValue) continue;
    auto record = knobRecord(written ? RecordKind::Applied : RecordKind::Failed, now, deps_.bootId, ref,
                             intent.oldValue.value_or(value->second), *intent.newValue, intent.reason);
    record.cause = intent.cause;
    record.ref = intent.id;
    if (!written) record.error = "not written: the process stopped between the intent and the write";
    spdlog::warn("intent #{} ({} -> {} of {}) had no outcome (a crash?); the knob holds {}: journaling it as {}",
                 intent.id, intent.oldValue.value_or(0), *intent.newValue, refName(ref), value->second,
                 written ? "applied" : "not written");
    if (!appendOk(deps_.journal.append(std::move(record)), "outcome of intent #" + std::to_string(intent.id))) return;
  }
  view_.addNew(deps_.journal.records());
}

bool Controller::journalBaselines(policy::TimePoint now, const Reading& reading, bool force) {
  // Baselines are taken just before ctpilot's first change of this boot (the values it is about
  // to move away from). Once the boot has them, a knob seen for the first time (a netns that
  // appeared, a timeout added to the order) gets its own as soon as it is seen.
  view_.addNew(deps_.journal.records());
  const auto& existing = view_.baselines();
  if (existing.empty() && !force) return true;
  for (const auto& [ref, value] : reading.values) {
    if (existing.contains(ref)) continue;
    auto record = knobRecord(RecordKind::Baseline, now, deps_.bootId, ref, value, value,
                             "value before ctpilot's first change this boot");
    if (!appendOk(deps_.journal.append(std::move(record)), "baseline of " + refName(ref))) return false;
  }
  return true;
}

// Notes carry live numbers ("held for another 59.9s", "growth 850/s"): a note about the same
// change for the same reasons as last tick is the same news and is logged at info only once.
void Controller::logNotes(const policy::Plan& plan) {
  std::set<policy::NoteKey> keys;
  for (const auto& note : plan.notes) {
    auto key = policy::noteKey(note);
    // The text formats live numbers: built only when it is logged (debug is off in production).
    if (!lastNotes_.contains(key)) {
      spdlog::info("{}", policy::noteText(note));
    } else if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("{}", policy::noteText(note));
    }
    keys.insert(std::move(key));
  }
  lastNotes_ = std::move(keys);
}

void Controller::act(policy::TimePoint now, TickReport& report, const Reading& reading) {
  const bool dry = dryRun();
  std::set<KnobRef> plannedNow;
  for (const auto& action : report.plan.actions) {
    const auto& ref = action.ref;
    if (!mayChange(now, ref, report, reading)) {
      spdlog::debug("not changing {}: held, changed by someone else, unwritable or backing off", refName(ref));
      report.skipped.push_back(action);
      continue;
    }
    if (dry) {
      plannedNow.insert(ref);
      journalPlan(now, action, report);
      continue;
    }

    if (!journalBaselines(now, reading, /*force=*/true)) {
      ActionOutcome outcome;
      outcome.action = action;
      outcome.status = ActionOutcome::Status::NotJournaled;
      outcome.error = Error{Errc::Io, "baseline records could not be journaled"};
      report.failed.push_back(outcome);
      break;
    }
    const auto netns = netnsFor(ref);
    if (!netns) {
      spdlog::debug("not changing {}: its netns is no longer watched", refName(ref));
      report.skipped.push_back(action);
      continue;
    }
    // Every later record would fail the same way: change nothing more this tick.
    if (!apply(now, action, *netns, report)) return;
  }
  if (dry) std::erase_if(lastPlanned_, [&](const auto& kv) { return !plannedNow.contains(kv.first); });
}

// decide() already leaves these alone; checking again keeps the promises even if it did not.
bool Controller::mayChange(policy::TimePoint now, const KnobRef& ref, const TickReport& report,
                           const Reading& reading) const {
  const auto retry = retryAfter_.find(ref);
  return !(held(reading.holds, ref) || report.history.external.contains(ref) || unwritable_.contains(ref) ||
           (retry != retryAfter_.end() && now < retry->second));
}

// Dry run: reports the action and journals it as planned when it is new or has moved, not on
// every tick: a dry run never changes the knob, so decide() asks for the same change again and
// again, its target following the count by a few entries each time.
void Controller::journalPlan(policy::TimePoint now, const policy::Action& action, TickReport& report) {
  const auto& ref = action.ref;
  report.planned.push_back(action);
  const auto last = lastPlanned_.find(ref);
  if (last != lastPlanned_.end() && last->second.kind == action.kind && last->second.from == action.from &&
      std::abs(static_cast<double>(action.to - last->second.to)) <=
          kReplanShare * static_cast<double>(std::max<std::int64_t>(last->second.to, 1))) {
    return;
  }
  auto record = actionRecord(RecordKind::Planned, now, deps_.bootId, action);
  record.observation = observationJson(report.observation, ref.netns);
  spdlog::info("dry run: {}", describeAction(action, action.to, /*would=*/true));
  if (appendOk(deps_.journal.append(std::move(record)), "planned change of " + refName(ref))) {
    lastPlanned_.insert_or_assign(ref, action);
  }
}

namespace {

// The value of `ref` in `obs`, where decide() reads it; nullptr for a knob it does not see.
std::int64_t* knobIn(policy::Observation& obs, const KnobRef& ref) {
  if (ref.knob == Knob::ConntrackMax) return &obs.max;
  if (ref.knob == Knob::Buckets) return &obs.buckets;
  for (auto& n : obs.netns) {
    if (n.netns != ref.netns) continue;
    const auto timeout = n.timeouts.find(ref.knob);
    return timeout == n.timeouts.end() ? nullptr : &timeout->second;
  }
  return nullptr;
}

}  // namespace

// Dry run: the observation and history as a real run would have them, its planned changes
// written. Without this a dry run plans the same raise every tick, past the cooldown and
// max_changes a real run keeps. A knob someone else moved since the plan voids the plan.
policy::Observation Controller::dryRunView(policy::TimePoint now, const policy::Observation& real,
                                           const Reading& reading, policy::History& history) {
  std::erase_if(dryValues_, [&](const auto& kv) {
    const auto value = reading.values.find(kv.first);
    return value == reading.values.end() || value->second != kv.second.first;
  });
  auto view = real;
  for (const auto& [ref, values] : dryValues_) {
    if (auto* value = knobIn(view, ref)) *value = values.second;
  }
  // Keep the change window, and the newest change of each knob (its cooldown may be longer).
  std::set<KnobRef> seen;
  std::vector<policy::PastChange> kept;
  for (auto change = dryChanges_.rbegin(); change != dryChanges_.rend(); ++change) {
    const bool newestOfKnob = seen.insert(change->ref).second;
    if (newestOfKnob || change->time > now - policy_.controller.changeWindow) kept.push_back(*change);
  }
  dryChanges_.assign(kept.rbegin(), kept.rend());
  history.changes.insert(history.changes.end(), dryChanges_.begin(), dryChanges_.end());
  std::stable_sort(history.changes.begin(), history.changes.end(),
                   [](const auto& a, const auto& b) { return a.time < b.time; });
  return view;
}

void Controller::rememberPlanned(policy::TimePoint now, const TickReport& report, const Reading& reading) {
  for (const auto& action : report.planned) {
    const auto value = reading.values.find(action.ref);
    if (value == reading.values.end()) continue;
    dryValues_[action.ref] = {value->second, action.to};
    dryChanges_.push_back({now, action.ref, action.from, action.to});
  }
}

// Journals, writes and reads back one action, and says what came of it. False when the intent
// could not be journaled.
bool Controller::apply(policy::TimePoint now, const policy::Action& action, const sysfs::Netns& netns,
                       TickReport& report) {
  const auto& ref = action.ref;
  auto outcome = actuator_.apply(action, netns, now, observationJson(report.observation, ref.netns));
  switch (outcome.status) {
    case ActionOutcome::Status::NotJournaled:
      journalFails(*outcome.error, "intent to change " + refName(ref));
      report.failed.push_back(outcome);
      return false;
    case ActionOutcome::Status::Applied:
      journalWorks();
      lastSeen_[ref] = outcome.kept;
      spdlog::info("{}", describeAction(action, outcome.kept, /*would=*/false));
      if (outcome.kept != action.to) {
        spdlog::warn("the kernel kept {} = {} instead of {}", refName(ref), outcome.kept, action.to);
      }
      if (!outcome.outcomeJournaled) {
        spdlog::error("changed {} but could not journal it as applied; rollback will read the intent record",
                      refName(ref));
      }
      report.applied.push_back(outcome);
      return true;
    case ActionOutcome::Status::Failed:
      writeFailed(now, action, *outcome.error);
      report.failed.push_back(outcome);
      return true;
  }
  return true;
}

// A knob the kernel refuses or lacks is observed only from now on; any other failure is
// retried after kRetryAfter.
void Controller::writeFailed(policy::TimePoint now, const policy::Action& action, const Error& error) {
  const auto& ref = action.ref;
  if (error.code == Errc::Refused || error.code == Errc::Missing) {
    unwritable_.insert(ref);
    const char* state = error.code == Errc::Refused ? "is read-only here" : "does not exist here";
    const char* hint =
        error.code == Errc::Refused ? "read-only /proc/sys, or not the initial netns?" : "module not loaded?";
    warnOnce("unwritable:" + ref.netns + ":" + knobName(ref.knob),
             fmt::format("{} {} ({}: {}); observing only", refName(ref), state, hint, error.what));
    return;
  }
  retryAfter_[ref] = now + kRetryAfter;
  spdlog::error("failed to set {} {} -> {}: {}; retrying in {} min at the earliest", refName(ref), action.from,
                action.to, error.what, std::chrono::duration_cast<std::chrono::minutes>(kRetryAfter).count());
}

TickReport Controller::observe(policy::TimePoint now) {
  Reading reading;
  return observeWith(now, reading);
}

TickReport Controller::observeWith(policy::TimePoint now, Reading& reading) {
  TickReport report;
  report.now = now;
  report.sampled = sample(now, report, reading);
  if (!report.sampled) return report;
  if (!dryRun()) finishCrashedIntents(now, reading);
  noticeExternal(now, reading, report.observation);
  // Not in dry-run: a baseline names a value ctpilot moved away from, and a dry run moves nothing.
  if (!dryRun()) journalBaselines(now, reading, /*force=*/false);

  view_.addNew(deps_.journal.records());
  if (deps_.journalFolded) deps_.journalFolded(view_);
  // Folded: a long-running controller keeps its view, not the journal's records (README "A long journal").
  deps_.journal.forget(view_.lastId());
  report.history = view_.historyAt(now, externalSinceId_, policy_.controller.changeWindow);
  report.history.external.insert(externalUnjournaled_.begin(), externalUnjournaled_.end());
  report.history.calmSince = calmSince_;
  policy::updateCalm(policy_, report.observation, report.history);
  calmSince_ = report.history.calmSince;
  for (const auto& [ref, value] : reading.values) report.knobStates[ref] = knobState(ref, report, reading);
  return report;
}

std::string Controller::knobState(const KnobRef& ref, const TickReport& report, const Reading& reading) const {
  if (report.history.external.contains(ref)) return "external";
  if (held(reading.holds, ref)) return "hold";
  if (unwritable_.contains(ref)) return "unwritable";
  bool enabled = true;
  if (ref.knob == Knob::ConntrackMax) {
    enabled = policy_.max.enabled;
  } else if (ref.knob == Knob::Buckets) {
    enabled = policy_.hashsize.mode != policy::HashsizePolicy::Mode::Fixed;
  } else if (policy::isTimeout(ref.knob)) {
    // A timeout below its baseline is still relaxed back after mode = off or leaving order.
    const auto& order = policy_.timeouts.order;
    const auto baseline = reading.baselines.find(ref);
    const bool belowBaseline = baseline != reading.baselines.end() && reading.values.at(ref) < baseline->second;
    const auto& shed = policy_.timeouts.shed;
    enabled = belowBaseline || std::find(shed.begin(), shed.end(), ref.knob) != shed.end() ||
              (policy_.timeouts.mode == policy::TimeoutsPolicy::Mode::Shorten &&
               std::find(order.begin(), order.end(), ref.knob) != order.end());
  }
  return enabled ? "managed" : "disabled";
}

TickReport Controller::tick(policy::TimePoint now) {
  Reading reading;
  auto report = observeWith(now, reading);
  if (!report.sampled) return report;
  if (dryRun()) {
    const auto view = dryRunView(now, report.observation, reading, report.history);
    report.plan = policy::decide(policy_, view, report.history);
  } else {
    dryValues_.clear();
    dryChanges_.clear();
    report.plan = policy::decide(policy_, report.observation, report.history);
  }
  logNotes(report.plan);
  if (!report.plan.actions.empty() && !confirmStable(now, reading)) {
    spdlog::debug("a knob read before this tick has changed; deciding again at the next tick");
    report.skipped = report.plan.actions;
    return report;
  }
  act(now, report, reading);
  // What ctpilot wrote (or failed to write) is read afresh at the next tick.
  for (const auto& outcome : report.applied) stable_.erase(outcome.action.ref);
  for (const auto& outcome : report.failed) stable_.erase(outcome.action.ref);
  if (dryRun()) rememberPlanned(now, report, reading);

  if (spdlog::should_log(spdlog::level::debug)) {
    for (const auto& n : report.observation.netns) {
      const auto& e = report.estimates[n.netns];
      spdlog::debug("tick: netns {} count {}/{} growth {:.1f}/s drop {:.1f}/s early_drop {:.1f}/s; {} action(s)",
                    n.netns, n.count, report.observation.max, e.growthPerSec, e.dropsPerSec, e.earlyDropsPerSec,
                    report.plan.actions.size());
    }
  }
  return report;
}

void Controller::reload(policy::Policy policy) {
  // Any reload is the operator asking to try again: knobs that could not be written (perhaps
  // /proc/sys was remounted since) and writes the kernel rejected get another attempt.
  unwritable_.clear();
  retryAfter_.clear();
  std::erase_if(warned_, [](const std::string& key) { return key.starts_with("unwritable:"); });
  stable_.clear();
  if (policy == policy_) {
    spdlog::info("policy unchanged; knobs changed by hand stay as they are");
    return;
  }
  const bool selectorChanged = policy.controller.netns != policy_.controller.netns;
  policy_ = std::move(policy);
  estimator_.setWindow(windowSamples(policy_), windowSpan(policy_));
  // Only a different policy is the operator's word that knobs changed by hand (README Safety promise 7) are
  // to be managed again.
  view_.addNew(deps_.journal.records());
  externalSinceId_ = view_.lastId();
  externalUnjournaled_.clear();
  lastPlanned_.clear();
  if (selectorChanged) lastDiscovery_.reset();
  spdlog::info("policy changed: knobs changed by hand are managed again");
}

}  // namespace ctpilot::controller
