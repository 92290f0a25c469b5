// SPDX-License-Identifier: Apache-2.0
#include "controller/controller.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include <doctest/doctest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "controller/journal/journal_view.h"
#include "sysfs/sim/memory_knob_store.h"
#include "tests/temp_tree.h"

using namespace std::chrono_literals;
using ctpilot::Errc;
using ctpilot::Error;
using ctpilot::Result;
using ctpilot::controller::Controller;
using ctpilot::controller::ControllerDeps;
using ctpilot::controller::JournalRecord;
using ctpilot::controller::MemoryJournal;
using ctpilot::controller::RecordKind;
using ctpilot::policy::ActionKind;
using ctpilot::policy::Knob;
using ctpilot::policy::KnobRef;
using ctpilot::policy::Policy;
using ctpilot::policy::TimePoint;
using ctpilot::sysfs::ConntrackStats;
using ctpilot::sysfs::MemoryKnobStore;
using ctpilot::sysfs::Netns;
namespace cc = ctpilot::controller;

namespace {

const TimePoint kT0{std::chrono::seconds(1'800'000'000)};
const KnobRef kMax{"init", Knob::ConntrackMax};

/// Statistics per netns name; a name in `failing` answers Missing.
class FakeStats final : public ctpilot::sysfs::StatsReader {
 public:
  Result<ConntrackStats> read(const Netns& netns) override {
    if (failing.contains(netns.name)) return Error{Errc::Missing, "no stats in " + netns.name};
    ConntrackStats stats;
    stats.source = ctpilot::sysfs::StatsSource::Simulated;
    stats.cpus.resize(2);
    stats.cpus[0].drop = drops[netns.name];
    stats.fallbackReason = fallbackReason;
    stats.entries = entries;
    ++fullReads;
    return stats;
  }
  // As CtnetlinkStats: the counters without the table-wide entries.
  Result<ConntrackStats> readCounters(const Netns& netns) override {
    auto stats = read(netns);
    --fullReads;
    ++counterReads;
    if (stats) stats->entries.reset();
    return stats;
  }
  std::map<std::string, std::uint32_t> drops;
  std::optional<std::int64_t> entries;  // the table-wide count a full read gives
  int fullReads = 0;
  int counterReads = 0;
  std::set<std::string> failing;
  std::string fallbackReason;  // as FallbackStats sets it when netlink failed
};

/// A MemoryKnobStore that remembers which journal record was last when each write happened.
class WitnessStore final : public ctpilot::sysfs::KnobStore {
 public:
  explicit WitnessStore(const MemoryJournal& journal) : journal_(journal) {}
  Result<std::int64_t> read(const Netns& netns, Knob knob) const override { return inner.read(netns, knob); }
  Result<std::int64_t> write(const Netns& netns, Knob knob, std::int64_t value) override {
    lastRecordAtWrite.push_back(journal_.records().empty() ? JournalRecord{} : journal_.records().back());
    return inner.write(netns, knob, value);
  }
  MemoryKnobStore inner;
  std::vector<JournalRecord> lastRecordAtWrite;

 private:
  const MemoryJournal& journal_;
};

/// Captures log lines so tests can count how often something was said.
struct LogCapture {
  LogCapture() : sink(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  int count(spdlog::level::level_enum level, const std::string& text) const {
    int n = 0;
    for (const auto& msg : sink->last_raw()) {
      if (msg.level == level && std::string(msg.payload.data(), msg.payload.size()).find(text) != std::string::npos)
        ++n;
    }
    return n;
  }
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink;
};

/// A machine with one table: max 1000 entries, 1000 buckets, default timeouts.
struct Rig {
  MemoryJournal journal;
  WitnessStore store{journal};
  MemoryKnobStore& knobs = store.inner;
  FakeStats stats;
  std::vector<Netns> namespaces{{"init", "", 0}};
  std::vector<std::string> forgotten;
  std::string bootId = "boot-1";

  Rig() {
    knobs.set("init", Knob::ConntrackMax, 1000);
    knobs.set("init", Knob::Buckets, 1000);
    addNetns("init");
  }
  void addNetns(const std::string& name) {
    knobs.set(name, Knob::Count, 100);
    for (const auto knob : Policy{}.timeouts.order) knobs.set(name, knob, ctpilot::policy::kernelDefault(knob));
    for (const auto knob : Policy{}.timeouts.shed) knobs.set(name, knob, ctpilot::policy::kernelDefault(knob));
  }
  ControllerDeps deps(bool dryRun = false) {
    return ControllerDeps{
        .knobs = store,
        .stats = stats,
        .journal = journal,
        .discover = [this](const ctpilot::policy::NetnsSelector&) -> Result<std::vector<Netns>> { return namespaces; },
        .memory = {.memTotalBytes = 16LL << 30, .slabObjectBytes = 256},
        .bootId = bootId,
        .dryRun = dryRun,
        .forget = [this](const Netns& netns) { forgotten.push_back(netns.name); },
    };
  }
  std::int64_t max() const { return knobs.read(Netns{"init", "", 0}, Knob::ConntrackMax).value(); }
  std::vector<JournalRecord> ofKind(RecordKind kind) const {
    std::vector<JournalRecord> out;
    for (const auto& r : journal.records()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }
  std::size_t maxWrites() const {
    return static_cast<std::size_t>(std::count_if(knobs.writes().begin(), knobs.writes().end(),
                                                  [](const auto& w) { return w.knob == Knob::ConntrackMax; }));
  }
};

// Buckets follow max: the presize mode has tests of its own.
Policy testPolicy() {
  Policy policy;
  policy.max.ceiling = 1 << 20;
  policy.hashsize.mode = ctpilot::policy::HashsizePolicy::Mode::Follow;
  return policy;
}

JournalRecord holdRecord(const std::string& boot, TimePoint until) {
  JournalRecord r;
  r.time = until - 1h;
  r.bootId = boot;
  r.kind = RecordKind::Hold;
  r.until = until;
  r.reason = "rollback --all";
  return r;
}

}  // namespace

TEST_CASE("a table near full gets nf_conntrack_max raised, the intent journaled before the write") {
  LogCapture log;
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps());
  const auto report = controller.tick(kT0);

  REQUIRE(report.sampled);
  REQUIRE(report.applied.size() >= 1);
  CHECK(report.applied[0].action.kind == ActionKind::RaiseMax);
  CHECK(rig.max() > 1000);
  CHECK(report.observation.netns.size() == 1);
  CHECK(report.observation.max == 1000);
  CHECK(report.observation.netns[0].count == 900);

  // README Safety promise 2: at the moment of the write, the newest record is the intent for exactly that write.
  REQUIRE(rig.store.lastRecordAtWrite.size() == rig.knobs.writes().size());
  for (std::size_t i = 0; i < rig.knobs.writes().size(); ++i) {
    CAPTURE(i);
    const auto& intent = rig.store.lastRecordAtWrite[i];
    CHECK(intent.kind == RecordKind::Intent);
    CHECK(intent.knob == rig.knobs.writes()[i].knob);
    CHECK(intent.newValue == rig.knobs.writes()[i].value);
  }
  const auto applied = rig.ofKind(RecordKind::Applied);
  REQUIRE(applied.size() == report.applied.size());
  CHECK(applied[0].newValue == rig.max());
  CHECK(applied[0].reason.find("high_water") != std::string::npos);
  // The same reasons as data: the trigger's code and numbers, then how the value was sized.
  REQUIRE(applied[0].cause.is_object());
  CHECK(applied[0].cause["code"] == "high_water");
  CHECK(applied[0].cause["count"] == 900);
  CHECK(applied[0].cause["max"] == 1000);
  CHECK(applied[0].cause["then"][0]["code"] == "count_margin");  // a small table: count + margin binds
  CHECK(applied[0].cause == rig.ofKind(RecordKind::Intent)[0].cause);
  CHECK(log.count(spdlog::level::info, "raised nf_conntrack_max in init 1000 -> " + std::to_string(rig.max())) == 1);
}

TEST_CASE("when the journal cannot be written nothing is changed, and that is said once") {
  LogCapture log;
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  rig.journal.failAppends = true;
  Controller controller(testPolicy(), rig.deps());
  for (int i = 0; i < 3; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::minutes(i));
    CHECK(report.sampled);
    CHECK(report.applied.empty());
    CHECK_FALSE(report.failed.empty());
  }
  CHECK(rig.knobs.writes().empty());
  CHECK(rig.max() == 1000);
  CHECK(log.count(spdlog::level::critical, "journal unwritable") == 1);

  rig.journal.failAppends = false;
  const auto report = controller.tick(kT0 + 10min);
  CHECK_FALSE(report.applied.empty());
  CHECK(rig.max() > 1000);
  CHECK(log.count(spdlog::level::info, "journal writable again") == 1);
}

TEST_CASE("a dry run writes no knob and journals each planned change once") {
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps(/*dryRun=*/true));
  for (int i = 0; i < 5; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::seconds(30 * i));
    // Planned once: from then on the dry run sees the limit as a real run would have it.
    CHECK(report.planned.empty() == (i > 0));
    CHECK(report.applied.empty());
  }
  CHECK(rig.knobs.writes().empty());
  CHECK(rig.max() == 1000);
  CHECK(rig.ofKind(RecordKind::Intent).empty());
  CHECK(rig.ofKind(RecordKind::Baseline).empty());
  const auto planned = rig.ofKind(RecordKind::Planned);
  REQUIRE(planned.size() == 1);
  CHECK(planned[0].knob == Knob::ConntrackMax);
  CHECK(planned[0].oldValue == 1000);
  CHECK(planned[0].newValue > 1000);

  SUBCASE("the next planned raise starts from the limit planned before, as a real raise would") {
    Rig other;
    auto policy = testPolicy();
    policy.max.margin = 0;  // the target is count / target_fill
    Controller dry(policy, other.deps(/*dryRun=*/true));
    other.knobs.set("init", Knob::Count, 850);
    dry.tick(kT0);
    other.knobs.set("init", Knob::Count, 860);  // far below the planned limit: nothing to do
    dry.tick(kT0 + 5min);
    CHECK(other.ofKind(RecordKind::Planned).size() == 1);
    const auto first = other.ofKind(RecordKind::Planned).at(0);
    other.knobs.set("init", Knob::Count, *first.newValue * 9 / 10);  // near the planned limit
    dry.tick(kT0 + 10min);
    const auto plans = other.ofKind(RecordKind::Planned);
    REQUIRE(plans.size() == 2);
    CHECK(plans[1].oldValue == first.newValue);
    CHECK(other.max() == 1000);
  }

  SUBCASE("the policy's dry_run does the same") {
    Rig other;
    other.knobs.set("init", Knob::Count, 900);
    auto policy = testPolicy();
    policy.controller.dryRun = true;
    Controller dry(policy, other.deps());
    dry.tick(kT0);
    CHECK(other.knobs.writes().empty());
    CHECK(other.ofKind(RecordKind::Planned).size() == 1);
  }
}

TEST_CASE(
    "a dry run plans what a real run would do: the same changes at the same ticks, cooldown and max_changes kept") {
  // Steady growth (the reported case: 9 planned raises in 8 s against cooldown 10s and
  // max_changes 6 per 10 min).
  auto policy = testPolicy();
  policy.max.cooldown = 10s;
  policy.controller.maxChanges = 6;
  policy.controller.changeWindow = 10min;
  Rig real;
  Rig dry;
  Controller acting(policy, real.deps());
  Controller planning(policy, dry.deps(/*dryRun=*/true));
  std::vector<std::tuple<std::int64_t, Knob, std::int64_t, std::int64_t>> applied;
  std::vector<std::tuple<std::int64_t, Knob, std::int64_t, std::int64_t>> planned;
  for (std::int64_t second = 0; second < 180; ++second) {
    const auto count = 700 + 400 * second;
    real.knobs.set("init", Knob::Count, count);
    dry.knobs.set("init", Knob::Count, count);
    const auto now = kT0 + std::chrono::seconds(second);
    for (const auto& outcome : acting.tick(now).applied) {
      applied.emplace_back(second, outcome.action.ref.knob, outcome.action.from, outcome.action.to);
    }
    for (const auto& action : planning.tick(now).planned) {
      planned.emplace_back(second, action.ref.knob, action.from, action.to);
    }
  }
  CHECK(dry.knobs.writes().empty());
  REQUIRE(applied.size() >= 2);
  CHECK(planned == applied);
  std::vector<std::int64_t> raises;
  for (const auto& [second, knob, from, to] : planned) {
    if (knob == Knob::ConntrackMax) raises.push_back(second);
  }
  CAPTURE(raises.size());
  CHECK(raises.size() <= 6);  // max_changes within the window
  CHECK(dry.ofKind(RecordKind::Planned).size() == planned.size());
}

TEST_CASE(
    "a knob changed by someone else is journaled and warned about once, and not fought until the policy changes") {
  LogCapture log;
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps());
  controller.tick(kT0);
  const auto raised = rig.max();
  REQUIRE(raised > 1000);
  const auto writesBefore = rig.maxWrites();

  // An operator lowers max by hand below what the table needs.
  rig.knobs.set("init", Knob::ConntrackMax, 950);
  for (int i = 1; i <= 4; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::minutes(i));
    CHECK(report.history.external.contains(kMax));
  }
  CHECK(rig.max() == 950);
  CHECK(rig.maxWrites() == writesBefore);
  const auto external = rig.ofKind(RecordKind::External);
  REQUIRE(external.size() == 1);
  CHECK(external[0].oldValue == raised);
  CHECK(external[0].newValue == 950);
  // This journal is in memory (as plan's and simulate's): no record to name, nothing to resume.
  CHECK(log.count(spdlog::level::warn, "nf_conntrack_max in init changed by someone else " + std::to_string(raised) +
                                           " -> 950; leaving it alone (journaled in memory only") == 1);

  SUBCASE("reloading the same policy changes nothing") {
    controller.reload(testPolicy());
    controller.tick(kT0 + 10min);
    CHECK(rig.max() == 950);
  }
  SUBCASE("a restart still leaves it alone") {
    Controller restarted(testPolicy(), rig.deps());
    restarted.tick(kT0 + 10min);
    CHECK(rig.max() == 950);
    CHECK(rig.ofKind(RecordKind::External).size() == 1);
  }
  SUBCASE("a different policy manages it again") {
    auto policy = testPolicy();
    policy.max.cooldown = 20s;
    controller.reload(policy);
    const auto report = controller.tick(kT0 + 10min);
    CHECK_FALSE(report.history.external.contains(kMax));
    CHECK(rig.max() > 950);
    CHECK(rig.ofKind(RecordKind::External).size() == 1);
  }
}

TEST_CASE("a read-only knob is reported once and the loop keeps observing") {
  LogCapture log;
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  rig.knobs.makeReadOnly("init", Knob::ConntrackMax);
  Controller controller(testPolicy(), rig.deps());
  for (int i = 0; i < 5; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::minutes(i));
    CHECK(report.sampled);
    if (i > 0) {
      CHECK(report.observation.unwritable.contains(kMax));
      CHECK(report.failed.empty());
    }
  }
  CHECK(rig.max() == 1000);
  CHECK(rig.ofKind(RecordKind::Failed).size() == 1);
  CHECK(log.count(spdlog::level::warn, "nf_conntrack_max in init is read-only here") == 1);

  SUBCASE("a reload, even of the same policy, tries again") {
    controller.reload(testPolicy());
    const auto report = controller.tick(kT0 + 10min);
    CHECK_FALSE(report.observation.unwritable.contains(kMax));
    CHECK(rig.ofKind(RecordKind::Failed).size() == 2);  // still read-only: one more attempt, said again
    CHECK(log.count(spdlog::level::warn, "nf_conntrack_max in init is read-only here") == 2);
  }
}

TEST_CASE("baselines are journaled once per boot, before the first change, and reused after a restart") {
  Rig rig;
  rig.knobs.set("init", Knob::Count, 100);
  Controller controller(testPolicy(), rig.deps());
  controller.tick(kT0);
  CHECK(rig.ofKind(RecordKind::Baseline).empty());  // nothing changed yet

  rig.knobs.set("init", Knob::Count, 900);
  controller.tick(kT0 + 1min);
  const auto baselines = rig.ofKind(RecordKind::Baseline);
  // nf_conntrack_max, nf_conntrack_buckets and each timeout ctpilot may move in the watched
  // netns: those of `shed` (`order` only with mode = shorten).
  CHECK(baselines.size() == 2 + Policy{}.timeouts.shed.size());
  const auto firstIntent = rig.ofKind(RecordKind::Intent).at(0);
  for (const auto& b : baselines) CHECK(b.id < firstIntent.id);
  CHECK(cc::viewOf(rig.journal.records(), "boot-1").baselines().at(kMax) == 1000);

  rig.knobs.set("init", Knob::Count, rig.max() * 95 / 100);
  controller.tick(kT0 + 5min);
  CHECK(rig.ofKind(RecordKind::Baseline).size() == baselines.size());

  SUBCASE("a restart in the same boot reuses them") {
    Controller restarted(testPolicy(), rig.deps());
    const auto report = restarted.tick(kT0 + 10min);
    CHECK(rig.ofKind(RecordKind::Baseline).size() == baselines.size());
    CHECK(report.observation.baselineMax == 1000);
  }
  SUBCASE("a new boot takes its own") {
    rig.bootId = "boot-2";
    rig.knobs.set("init", Knob::ConntrackMax, 1000);
    rig.knobs.set("init", Knob::Count, 900);
    Controller rebooted(testPolicy(), rig.deps());
    const auto report = rebooted.tick(kT0 + 1h);
    CHECK(report.observation.baselineMax == 1000);
    CHECK(rig.ofKind(RecordKind::Baseline).size() == 2 * baselines.size());
  }
}

TEST_CASE("after a crash between the write and its applied record, a restart does not call the value external") {
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  {
    Controller controller(testPolicy(), rig.deps());
    controller.tick(kT0);
  }
  REQUIRE(rig.max() > 1000);
  // The crashed process: intent journaled, knob written, then killed before the applied record.
  JournalRecord intent;
  intent.time = kT0 + 1min;
  intent.bootId = "boot-1";
  intent.kind = RecordKind::Intent;
  intent.netns = "init";
  intent.knob = Knob::ConntrackMax;
  intent.oldValue = rig.max();
  intent.newValue = rig.max() * 2;
  REQUIRE(rig.journal.append(intent));
  rig.knobs.set("init", Knob::ConntrackMax, rig.max() * 2);

  Controller restarted(testPolicy(), rig.deps());
  const auto report = restarted.tick(kT0 + 2min);
  CHECK(report.sampled);
  CHECK(rig.ofKind(RecordKind::External).empty());
  CHECK_FALSE(report.history.external.contains(kMax));
}

TEST_CASE("a resume journaled by another process hands a knob changed by someone else back without a policy change") {
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps());
  controller.tick(kT0);
  rig.knobs.set("init", Knob::ConntrackMax, 950);
  controller.tick(kT0 + 1min);
  REQUIRE(rig.ofKind(RecordKind::External).size() == 1);
  CHECK(rig.max() == 950);

  // `ctpilot resume` appends one Resume record without knob.
  JournalRecord resume;
  resume.time = kT0 + 2min;
  resume.bootId = "boot-1";
  resume.kind = RecordKind::Resume;
  REQUIRE(rig.journal.append(resume));
  const auto report = controller.tick(kT0 + 3min);
  CHECK_FALSE(report.history.external.contains(kMax));
  CHECK(report.knobStates.at(kMax) == "managed");
  CHECK(rig.max() > 950);
  CHECK(rig.ofKind(RecordKind::External).size() == 1);  // 950 was the starting point, not a new change
}

TEST_CASE("with on_external = adopt a value written by someone else becomes the baseline and stays managed") {
  LogCapture log;
  Rig rig;
  auto policy = testPolicy();
  policy.controller.onExternal = ctpilot::policy::ControllerPolicy::OnExternal::Adopt;
  Controller controller(policy, rig.deps());
  controller.tick(kT0);  // count 100 of 1000: nothing to do

  // kube-proxy raises max to 5000 at start-up; later the table needs more than that.
  rig.knobs.set("init", Knob::ConntrackMax, 5000);
  auto report = controller.tick(kT0 + 1min);
  CHECK(report.knobStates.at(kMax) == "managed");
  CHECK(rig.ofKind(RecordKind::External).empty());
  const auto baselines = rig.ofKind(RecordKind::Baseline);
  const auto adopted = std::find_if(baselines.begin(), baselines.end(),
                                    [](const JournalRecord& r) { return r.knob == Knob::ConntrackMax; });
  REQUIRE(adopted != baselines.end());
  CHECK(adopted->oldValue.value_or(-1) == 1000);
  CHECK(adopted->newValue.value_or(-1) == 5000);
  CHECK(report.observation.baselineMax == 5000);
  CHECK(log.count(spdlog::level::warn, "adopted as its baseline") == 1);

  rig.knobs.set("init", Knob::Count, 4800);
  report = controller.tick(kT0 + 2min);
  CHECK(rig.max() > 5000);
  CHECK(report.observation.baselineMax == 5000);

  SUBCASE("a restart keeps the adopted baseline and does not adopt again") {
    Controller restarted(policy, rig.deps());
    const auto again = restarted.tick(kT0 + 10min);
    CHECK(again.observation.baselineMax == 5000);
    CHECK(rig.ofKind(RecordKind::Baseline).size() == baselines.size());
  }
}

TEST_CASE("a restarted controller journals the outcome of an intent left alone by a crash, from the knob's value") {
  for (const bool written : {true, false}) {
    CAPTURE(written);
    Rig rig;
    rig.knobs.set("init", Knob::Count, 100);  // calm: the restarted controller changes nothing itself
    auto baseline = cc::knobRecord(RecordKind::Baseline, kT0, "boot-1", kMax, 1000, 1000, "");
    REQUIRE(rig.journal.append(baseline));
    const auto intent =
        rig.journal.append(cc::knobRecord(RecordKind::Intent, kT0, "boot-1", kMax, 1000, 1900, "raise"));
    REQUIRE(intent);
    if (written) rig.knobs.set("init", Knob::ConntrackMax, 1900);

    Controller restarted(testPolicy(), rig.deps());
    restarted.tick(kT0 + 1min);
    const auto outcomes = rig.ofKind(written ? RecordKind::Applied : RecordKind::Failed);
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].ref == intent->id);
    CHECK(outcomes[0].oldValue == 1000);
    CHECK(outcomes[0].newValue == 1900);
    const auto view = cc::viewOf(rig.journal.records(), "boot-1");
    CHECK(view.unfinishedIntents().empty());
    CHECK(view.undoable().size() == (written ? 1U : 0U));
    CHECK(rig.ofKind(RecordKind::External).empty());
    // The next tick has nothing more to say about it.
    const auto count = rig.journal.records().size();
    restarted.tick(kT0 + 2min);
    CHECK(rig.ofKind(written ? RecordKind::Applied : RecordKind::Failed).size() == 1);
    CHECK(rig.journal.records().size() >= count);
  }
}

TEST_CASE("a controller's view fed record by record agrees with one built from the whole journal") {
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps());
  cc::JournalView incremental("boot-1");
  for (int i = 0; i < 20; ++i) {
    controller.tick(kT0 + std::chrono::minutes(i));
    incremental.addNew(rig.journal.records());
    if (i == 5) REQUIRE(rig.journal.append(holdRecord("boot-1", kT0 + 8min)));
  }
  const auto whole = cc::viewOf(rig.journal.records(), "boot-1");
  CHECK(incremental.lastId() == whole.lastId());
  CHECK(incremental.baselines() == whole.baselines());
  CHECK(incremental.appliedChanges().size() == whole.appliedChanges().size());
  CHECK(incremental.undoable().size() == whole.undoable().size());
  CHECK(incremental.activeHoldRecords(kT0 + 7min).size() == whole.activeHoldRecords(kT0 + 7min).size());
}

TEST_CASE("a hold journaled by another process stops changes at the next tick, and resume lifts it") {
  LogCapture log;
  Rig rig;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(testPolicy(), rig.deps());
  controller.tick(kT0);
  const auto writes = rig.knobs.writes().size();
  REQUIRE(writes >= 1);

  // `ctpilot rollback` restores the old value and places a hold.
  REQUIRE(rig.journal.append(holdRecord("boot-1", kT0 + 2h)));
  rig.knobs.set("init", Knob::ConntrackMax, 1000);
  for (int i = 1; i <= 3; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::minutes(i));
    CHECK(report.applied.empty());
    CHECK_FALSE(report.history.holds.empty());
  }
  CHECK(rig.knobs.writes().size() == writes);
  CHECK(rig.max() == 1000);
  CHECK(rig.ofKind(RecordKind::External).empty());  // the rollback's write is not someone else's
  // decide() notes the hold with the time left; said at info once, not at every tick.
  CHECK(log.count(spdlog::level::info, "held by rollback") == 1);

  JournalRecord resume;
  resume.time = kT0 + 5min;
  resume.bootId = "boot-1";
  resume.kind = RecordKind::Resume;
  REQUIRE(rig.journal.append(resume));
  controller.tick(kT0 + 6min);
  CHECK(rig.max() > 1000);
}

TEST_CASE("with netns = all, namespaces that appear are watched and those that vanish are forgotten") {
  Rig rig;
  auto policy = testPolicy();
  policy.controller.netns.mode = ctpilot::policy::NetnsSelector::Mode::All;
  rig.knobs.set("init", Knob::Count, 900);
  Controller controller(policy, rig.deps());
  auto report = controller.tick(kT0);
  REQUIRE(report.observation.netns.size() == 1);
  const auto baselinesBefore = rig.ofKind(RecordKind::Baseline).size();
  REQUIRE(baselinesBefore > 0);

  rig.addNetns("gw");
  rig.knobs.set("gw", Knob::Count, 300);
  rig.namespaces.push_back({"gw", "/run/netns/gw", 4026532000});
  report = controller.tick(kT0 + 1min);
  REQUIRE(report.observation.netns.size() == 2);
  CHECK(report.observation.netns[1].netns == "gw");
  CHECK(report.observation.netns[1].count == 300);
  CHECK(report.estimates.contains("gw"));
  // Its timeouts get their baselines when first seen.
  const auto gwBaselines = std::count_if(rig.journal.records().begin(), rig.journal.records().end(), [](const auto& r) {
    return r.kind == RecordKind::Baseline && r.netns == "gw";
  });
  CHECK(gwBaselines == static_cast<long>(Policy{}.timeouts.shed.size()));

  rig.namespaces.pop_back();
  report = controller.tick(kT0 + 2min);
  CHECK(report.observation.netns.size() == 1);
  CHECK(rig.forgotten == std::vector<std::string>{"gw"});
  CHECK_FALSE(report.estimates.contains("gw"));
}

TEST_CASE("with named namespaces, one that is deleted is forgotten and the others stay watched") {
  LogCapture log;
  Rig rig;
  rig.addNetns("gw");
  rig.namespaces.push_back({"gw", "/run/netns/gw", 4026532000});
  auto deps = rig.deps();
  // Like sysfs::discoverNetns: a named selector fails as a whole when one name is absent.
  deps.discover = [&rig](const ctpilot::policy::NetnsSelector& selector) -> Result<std::vector<Netns>> {
    std::vector<Netns> out;
    for (const auto& name : selector.names) {
      const auto found =
          std::find_if(rig.namespaces.begin(), rig.namespaces.end(), [&](const Netns& n) { return n.name == name; });
      if (found == rig.namespaces.end()) return Error{Errc::Missing, "netns " + name + ": no /run/netns/" + name};
      out.push_back(*found);
    }
    return out;
  };
  std::int64_t stamp = 1;  // /run/netns's mtime: `ip netns del` changes it
  deps.namespacesStamp = [&stamp] { return stamp; };
  auto policy = testPolicy();
  policy.controller.netns = {ctpilot::policy::NetnsSelector::Mode::Named, {"init", "gw"}};
  Controller controller(policy, deps);
  CHECK(controller.tick(kT0).observation.netns.size() == 2);

  rig.namespaces.pop_back();  // ip netns del gw
  ++stamp;
  for (int i = 1; i <= 3; ++i) {
    // Noticed at the next tick, well before the periodic rescan.
    const auto report = controller.tick(kT0 + std::chrono::seconds(i));
    REQUIRE(report.observation.netns.size() == 1);
    CHECK(report.observation.netns[0].netns == "init");
  }
  CHECK(rig.forgotten == std::vector<std::string>{"gw"});
  CHECK(log.count(spdlog::level::warn, "cannot list every watched network namespace") == 1);
}

TEST_CASE("a netns whose statistics cannot be read is still watched, said once") {
  LogCapture log;
  Rig rig;
  rig.stats.failing.insert("init");
  Controller controller(testPolicy(), rig.deps());
  for (int i = 0; i < 3; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::seconds(i));
    REQUIRE(report.observation.netns.size() == 1);
    CHECK(report.observation.netns[0].count == 100);
    CHECK_FALSE(report.estimates.at("init").countersKnown);
  }
  CHECK(log.count(spdlog::level::warn, "no conntrack statistics for netns init") == 1);
}

TEST_CASE("statistics read from procfs because netlink timed out are used, and said once per episode") {
  LogCapture log;
  Rig rig;
  rig.stats.fallbackReason = "ctnetlink IPCTNL_MSG_CT_GET_STATS_CPU: no reply within the receive timeout";
  Controller controller(testPolicy(), rig.deps());
  for (int i = 0; i < 3; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::seconds(i));
    CHECK(report.estimates.at("init").countersKnown == (i > 0));  // counters still feed the rates
  }
  CHECK(log.count(spdlog::level::warn, "conntrack statistics of netns init read from procfs") == 1);
  rig.stats.fallbackReason.clear();
  controller.tick(kT0 + 3s);
  rig.stats.fallbackReason = "ctnetlink IPCTNL_MSG_CT_GET_STATS_CPU: no reply within the receive timeout";
  controller.tick(kT0 + 4s);
  CHECK(log.count(spdlog::level::warn, "conntrack statistics of netns init read from procfs") == 2);
}

TEST_CASE("without nf_conntrack the tick reports the problem and the next one tries again") {
  LogCapture log;
  Rig rig;
  rig.knobs.makeMissing(Knob::ConntrackMax);
  Controller controller(testPolicy(), rig.deps());
  for (int i = 0; i < 3; ++i) {
    const auto report = controller.tick(kT0 + std::chrono::seconds(i));
    CHECK_FALSE(report.sampled);
    REQUIRE(report.error.has_value());
    CHECK(report.error->code == Errc::Missing);
  }
  CHECK(log.count(spdlog::level::warn, "cannot read nf_conntrack_max") == 1);
  CHECK(rig.journal.records().empty());
}

TEST_CASE("growth is estimated across ticks and reaches decide()") {
  Rig rig;
  Controller controller(testPolicy(), rig.deps(/*dryRun=*/true));
  cc::TickReport report;
  for (int i = 0; i < 5; ++i) {
    rig.knobs.set("init", Knob::Count, 100 + 10 * i);
    report = controller.observe(kT0 + std::chrono::seconds(i));
  }
  REQUIRE(report.observation.netns.size() == 1);
  CHECK(report.observation.netns[0].growthPerSec == doctest::Approx(10));
  REQUIRE(report.estimates.at("init").secondsToFull.has_value());
  CHECK(*report.estimates.at("init").secondsToFull == doctest::Approx((1000 - 140) / 10.0));
  CHECK(report.plan.actions.empty());  // observe() never decides
}

TEST_CASE("the pace is fast_interval while a namespace nears its limit, grows toward it or drops; interval otherwise") {
  Rig rig;
  const Policy policy = testPolicy();  // interval 1s, fast_interval 100ms, fast_fill 50%, lookahead 1m, max 1000
  Controller controller(policy, rig.deps(/*dryRun=*/true));
  const auto paceAt = [&](TimePoint now, std::int64_t count) {
    rig.knobs.set("init", Knob::Count, count);
    return cc::nextPace(policy, controller.tick(now));
  };
  SUBCASE("quiet, then above fast_fill") {
    CHECK(paceAt(kT0, 100).interval == 1s);
    CHECK(paceAt(kT0 + 1s, 110).why.empty());
    const auto fast = paceAt(kT0 + 2s, 600);
    CHECK(fast.interval == 100ms);
    CHECK(fast.why.find("fill 0.60 >= fast_fill 0.50 in init") != std::string::npos);
  }
  SUBCASE("growing slowly stays slow; growing into max within lookahead is fast") {
    CHECK(paceAt(kT0, 100).interval == 1s);
    CHECK(paceAt(kT0 + 1s, 105).interval == 1s);  // 5/s: 105 + 300 < 1000 after 1m
    const auto fast = paceAt(kT0 + 2s, 120);      // 15/s newest: 120 + 900 >= 1000
    CHECK(fast.interval == 100ms);
    CHECK(fast.why.find("reaches max 1000 within lookahead") != std::string::npos);
    // Rates follow the time between samples, not their number: 10 entries in 100 ms is 100/s.
    const auto report = controller.tick(kT0 + 2100ms);
    (void)report;
    rig.knobs.set("init", Knob::Count, 130);
    CHECK(controller.tick(kT0 + 2200ms).observation.netns.at(0).demandPerSec == doctest::Approx(100));
  }
  SUBCASE("early drops or drops at a low fill") {
    CHECK(paceAt(kT0, 100).interval == 1s);
    rig.stats.drops["init"] = 40;
    const auto fast = paceAt(kT0 + 1s, 100);
    CHECK(fast.interval == 100ms);
    CHECK(fast.why.find("drop") != std::string::npos);
    CHECK(paceAt(kT0 + 1100ms, 100).interval == 1s);  // the counter stopped moving
  }
  SUBCASE("fast_interval = interval: one pace") {
    Policy one = policy;
    one.controller.fastInterval = one.controller.interval;
    CHECK(cc::nextPace(one, controller.tick(kT0)).interval == 1s);
    rig.knobs.set("init", Knob::Count, 900);
    CHECK(cc::nextPace(one, controller.tick(kT0 + 1s)).interval == 1s);
  }
  SUBCASE("nothing sampled: the long interval") { CHECK(cc::nextPace(policy, cc::TickReport{}).interval == 1s); }
}

namespace {

JournalRecord timedResize(std::int64_t writeUs, std::int64_t entries) {
  JournalRecord r;
  r.kind = RecordKind::Applied;
  r.knob = Knob::Buckets;
  r.observation = {{"write_us", writeUs}, {"entries", entries}};
  return r;
}

}  // namespace

TEST_CASE("the stall per entry is learned from the journal's timed resizes that rehashed enough entries") {
  using ctpilot::controller::learnedResizeNsPerEntry;
  CHECK(learnedResizeNsPerEntry({}) == ctpilot::controller::kDefaultResizeNsPerEntry);
  // 7 ms for an empty table is the allocation, not the rehash: it teaches nothing.
  CHECK(learnedResizeNsPerEntry({timedResize(7'000, 10)}) == ctpilot::controller::kDefaultResizeNsPerEntry);
  // 400 ms for 1M entries and 100 ms for 200k: 0.4 and 0.5 us per entry.
  CHECK(learnedResizeNsPerEntry({timedResize(400'000, 1'000'000), timedResize(100'000, 200'000)}) ==
        doctest::Approx(450));
}

TEST_CASE("the entries of every namespace and the learned stall per entry reach decide()") {
  Rig rig;
  MemoryJournal& journal = rig.journal;
  auto record = timedResize(50'000, 100'000);  // 50 ms for 100,000 entries: 500 ns per entry
  record.bootId = rig.bootId;
  record.time = kT0 - 1h;
  record.netns = "init";
  record.oldValue = 1000;
  record.newValue = 1000;
  REQUIRE(journal.append(record).has_value());
  auto deps = rig.deps(/*dryRun=*/true);
  deps.totalEntries = []() -> Result<std::int64_t> { return 4'321; };
  Controller controller(testPolicy(), std::move(deps));
  const auto report = controller.observe(kT0);
  CHECK(report.observation.totalEntries == 4'321);
  CHECK(report.observation.resizeNsPerEntry == doctest::Approx(500));
}

TEST_CASE("a costly total of entries is read every totalEntriesEvery, the watched counts moving it in between") {
  Rig rig;
  auto deps = rig.deps(/*dryRun=*/true);
  int reads = 0;
  std::int64_t slab = 5'000;  // 100 in init, 4,900 in namespaces ctpilot does not watch
  deps.totalEntries = [&]() -> Result<std::int64_t> {
    ++reads;
    return slab;
  };
  deps.totalEntriesEvery = 10s;
  Controller controller(testPolicy(), std::move(deps));
  CHECK(controller.observe(kT0).observation.totalEntries == 5'000);
  CHECK(reads == 1);
  rig.knobs.set("init", Knob::Count, 700);  // +600 in init
  slab = 9'999;                             // the slab moved too, unread until the period ends
  CHECK(controller.observe(kT0 + 100ms).observation.totalEntries == 5'600);
  CHECK(controller.observe(kT0 + 9900ms).observation.totalEntries == 5'600);
  CHECK(reads == 1);
  CHECK(controller.observe(kT0 + 10s).observation.totalEntries == 9'999);
  CHECK(reads == 2);
  rig.knobs.set("init", Knob::Count, 50);  // never below what the watched namespaces hold
  slab = 0;
  CHECK(controller.observe(kT0 + 20s).observation.totalEntries == 0);  // read: the slab said 0
  CHECK(controller.observe(kT0 + 21s).observation.totalEntries == 0);  // 0 stays unknown in between
  slab = 100;
  CHECK(controller.observe(kT0 + 30s).observation.totalEntries == 100);
  rig.knobs.set("init", Knob::Count, 20);
  CHECK(controller.observe(kT0 + 31s).observation.totalEntries == 70);
  SUBCASE("a namespace that appears reads the total again at once") {
    rig.addNetns("gw");
    rig.namespaces.push_back({"gw", "/run/netns/gw", 0});
    slab = 777;
    const int before = reads;
    // Discovery runs at most every 10 s (`netns = all`): at 41 s it finds gw.
    CHECK(controller.observe(kT0 + 41s).observation.totalEntries == 777);
    CHECK(reads == before + 1);
  }
  SUBCASE("without a period, every tick reads") {
    auto everyTick = rig.deps(/*dryRun=*/true);
    int n = 0;
    everyTick.totalEntries = [&]() -> Result<std::int64_t> { return ++n; };
    Controller fresh(testPolicy(), std::move(everyTick));
    fresh.observe(kT0);
    fresh.observe(kT0 + 100ms);
    CHECK(n == 2);
  }
}

TEST_CASE("a knob changed by someone else names its journal record and resume only when journal.jsonl holds it") {
  // plan journals in memory: it used to warn "(journal #1)" and point at `ctpilot resume` with
  // no journal at all. With the file journal of `run`, the record is named.
  for (const bool file : {false, true}) {
    CAPTURE(file);
    LogCapture log;
    Rig rig;
    ctpilot::testing::TempDir dir("controller-external");
    auto fileJournal = ctpilot::controller::FileJournal::open(dir.path);
    REQUIRE(fileJournal);
    ctpilot::controller::Journal& journal =
        file ? static_cast<ctpilot::controller::Journal&>(**fileJournal) : rig.journal;
    auto deps = rig.deps(/*dryRun=*/true);
    Controller controller(testPolicy(), ControllerDeps{.knobs = deps.knobs,
                                                       .stats = deps.stats,
                                                       .journal = journal,
                                                       .discover = deps.discover,
                                                       .memory = deps.memory,
                                                       .bootId = deps.bootId,
                                                       .dryRun = true,
                                                       .forget = deps.forget,
                                                       .totalEntries = {},
                                                       .namespacesStamp = {},
                                                       .journalView = {},
                                                       .journalFolded = {}});
    controller.observe(kT0);
    rig.knobs.set("init", Knob::ConntrackMax, 950);  // someone else, between two samples
    controller.observe(kT0 + 1s);
    const auto report = controller.tick(kT0 + 2s);
    CHECK(report.history.external.contains(kMax));
    CHECK(log.count(spdlog::level::warn, "changed by someone else 1000 -> 950") == 1);
    CHECK(log.count(spdlog::level::warn, "(journal #1)") == (file ? 1 : 0));
    CHECK(log.count(spdlog::level::warn, "`ctpilot resume` hands it back") == (file ? 1 : 0));
  }
}

namespace {

// A controller that reads max, buckets and the timeouts at most once a second, as `run` does.
Controller readingOncePerSecond(Rig& rig) {
  auto deps = rig.deps();
  deps.stableKnobsEvery = 1s;
  return Controller(testPolicy(), std::move(deps));
}

}  // namespace

TEST_CASE(
    "with stableKnobsEvery, max and the timeouts are read once per period and a change by hand shows at the next "
    "read") {
  Rig rig;
  auto controller = readingOncePerSecond(rig);
  controller.tick(kT0);
  rig.knobs.set("init", Knob::ConntrackMax, 950);
  rig.knobs.set("init", Knob::UdpTimeout, 10);
  const auto reused = controller.tick(kT0 + 100ms);
  CHECK(reused.observation.max == 1000);
  REQUIRE(reused.observation.netns.size() == 1);
  CHECK(reused.observation.netns[0].timeouts.at(Knob::UdpTimeout) == 30);
  CHECK(rig.ofKind(RecordKind::External).empty());
  const auto reread = controller.tick(kT0 + 1s);
  CHECK(reread.observation.max == 950);
  CHECK(reread.observation.netns[0].timeouts.at(Knob::UdpTimeout) == 10);
  CHECK(reread.history.external.contains(kMax));
}

TEST_CASE("with stableKnobsEvery, a change decided on a reused value is written only if the value still holds") {
  Rig rig;
  auto controller = readingOncePerSecond(rig);
  controller.tick(kT0);
  rig.knobs.set("init", Knob::Count, 900);  // near max: decide() raises it
  SUBCASE("unchanged: written at once") {
    const auto report = controller.tick(kT0 + 100ms);
    CHECK_FALSE(report.applied.empty());  // max, and the buckets that follow it
    CHECK(rig.max() > 1000);
  }
  SUBCASE("changed by hand in between: not written, and the next tick leaves it to its owner") {
    rig.knobs.set("init", Knob::ConntrackMax, 950);
    const auto report = controller.tick(kT0 + 100ms);
    CHECK(report.applied.empty());
    CHECK_FALSE(report.skipped.empty());
    CHECK(rig.maxWrites() == 0);
    const auto next = controller.tick(kT0 + 200ms);
    CHECK(next.observation.max == 950);
    CHECK(next.history.external.contains(kMax));
    CHECK(rig.max() == 950);
    CHECK(rig.maxWrites() == 0);
  }
}

TEST_CASE(
    "a tick asks the statistics for the counters only, and for the table-wide entries when the count is unreadable") {
  Rig rig;
  rig.stats.entries = 700;
  rig.knobs.set("init", Knob::Count, 600);
  Controller controller(testPolicy(), rig.deps(/*dryRun=*/true));
  auto report = controller.tick(kT0);
  REQUIRE(report.observation.netns.size() == 1);
  CHECK(report.observation.netns[0].count == 600);
  CHECK(rig.stats.counterReads == 1);
  CHECK(rig.stats.fullReads == 0);

  rig.knobs.makeMissing(Knob::Count);
  report = controller.tick(kT0 + 1s);
  REQUIRE(report.observation.netns.size() == 1);
  CHECK(report.observation.netns[0].count == 700);
  CHECK(rig.stats.counterReads == 1);
  CHECK(rig.stats.fullReads == 1);
}
