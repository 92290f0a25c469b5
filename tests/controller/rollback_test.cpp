// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "controller/journal/journal.h"
#include "controller/rollback.h"
#include "sysfs/sim/memory_knob_store.h"

using namespace ctpilot;
using namespace ctpilot::controller;
using namespace std::chrono_literals;
using policy::Knob;
using Status = StepOutcome::Status;

namespace {

const policy::TimePoint kT0 = *parseTime("2026-11-27T03:00:00Z");

// Appends one change as the controller would: intent, then applied (ref = intent).
std::int64_t change(MemoryJournal& journal, const std::string& boot, const std::string& netns, Knob knob,
                    std::int64_t from, std::int64_t to, bool oldInApplied = true) {
  JournalRecord intent;
  intent.time = kT0;
  intent.bootId = boot;
  intent.kind = RecordKind::Intent;
  intent.netns = netns;
  intent.knob = knob;
  intent.oldValue = from;
  intent.newValue = to;
  intent.reason = "raise";
  const auto stored = journal.append(intent);
  REQUIRE(stored.has_value());
  JournalRecord applied = intent;
  applied.kind = RecordKind::Applied;
  applied.ref = stored->id;
  if (!oldInApplied) applied.oldValue.reset();
  const auto done = journal.append(applied);
  REQUIRE(done.has_value());
  return done->id;
}

// A journal of boot "b1" with three changes (and one of an earlier boot), and a store that
// holds what ctpilot last wrote.
struct Fixture {
  Fixture() {
    change(journal, "b0", "init", Knob::ConntrackMax, 1000, 2000);                  // #2, earlier boot
    maxFirst = change(journal, "b1", "init", Knob::ConntrackMax, 65536, 131072);    // #4
    timeWait = change(journal, "b1", "gw", Knob::TcpTimeoutTimeWait, 120, 60);      // #6
    maxSecond = change(journal, "b1", "init", Knob::ConntrackMax, 131072, 262144);  // #8
    store.set("init", Knob::ConntrackMax, 262144);
    store.set("gw", Knob::TcpTimeoutTimeWait, 60);
    options.bootId = "b1";
    options.now = kT0 + 10min;
  }
  RollbackReport run(RollbackSelection selection) {
    auto steps = planRollback(journal.records(), "b1", selection);
    REQUIRE(steps.has_value());
    return executeRollback(*steps, journal, store, resolve, options);
  }
  std::vector<JournalRecord> since(std::size_t count) const {
    return {journal.records().begin() + static_cast<std::ptrdiff_t>(count), journal.records().end()};
  }
  MemoryJournal journal;
  sysfs::MemoryKnobStore store;
  std::vector<std::string> vanished;
  NetnsResolver resolve = [this](const std::string& name) -> Result<sysfs::Netns> {
    for (const auto& gone : vanished) {
      if (gone == name) return Error{Errc::Missing, "netns " + name + ": not in /run/netns"};
    }
    if (name == "init") return sysfs::Netns{"init", "", 1};
    return sysfs::Netns{name, "/run/netns/" + name, 2};
  };
  RollbackOptions options;
  std::int64_t maxFirst = 0;
  std::int64_t timeWait = 0;
  std::int64_t maxSecond = 0;
};

std::vector<std::int64_t> ids(const std::vector<RollbackStep>& steps) {
  std::vector<std::int64_t> out;
  for (const auto& step : steps) out.push_back(step.appliedId);
  return out;
}

}  // namespace

TEST_CASE("rollback selects applied changes of the current boot, newest first") {
  Fixture f;
  const std::vector<std::tuple<std::string, RollbackSelection, std::vector<std::int64_t>>> rows{
      {"--last 1", {RollbackSelection::Mode::Last, 1}, {f.maxSecond}},
      {"--last 2", {RollbackSelection::Mode::Last, 2}, {f.maxSecond, f.timeWait}},
      {"--last 10", {RollbackSelection::Mode::Last, 10}, {f.maxSecond, f.timeWait, f.maxFirst}},
      {"--to the first change", {RollbackSelection::Mode::To, f.maxFirst}, {f.maxSecond, f.timeWait}},
      {"--to 0", {RollbackSelection::Mode::To, 0}, {f.maxSecond, f.timeWait, f.maxFirst}},
      {"--to the newest", {RollbackSelection::Mode::To, f.maxSecond}, {}},
      {"--all", {RollbackSelection::Mode::All, 0}, {f.maxSecond, f.timeWait, f.maxFirst}},
  };
  for (const auto& [name, selection, expected] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    const auto steps = planRollback(f.journal.records(), "b1", selection);
    REQUIRE(steps.has_value());
    CHECK(ids(*steps) == expected);
  }

  SUBCASE("each step restores the applied record's old value") {
    const auto steps = planRollback(f.journal.records(), "b1", {RollbackSelection::Mode::All, 0});
    REQUIRE(steps->size() == 3);
    CHECK((*steps)[0].from == 262144);
    CHECK((*steps)[0].to == 131072);
    CHECK((*steps)[1].ref == policy::KnobRef{"gw", Knob::TcpTimeoutTimeWait});
    CHECK((*steps)[1].to == 120);
    CHECK((*steps)[2].to == 65536);
  }
  SUBCASE("changes of another boot are never selected") {
    const auto steps = planRollback(f.journal.records(), "b0", {RollbackSelection::Mode::All, 0});
    CHECK(ids(*steps) == std::vector<std::int64_t>{2});
    CHECK(planRollback(f.journal.records(), "b2", {RollbackSelection::Mode::All, 0})->empty());
  }
  SUBCASE("changes already rolled back are skipped, so --last 1 twice undoes two changes") {
    JournalRecord undone;
    undone.bootId = "b1";
    undone.kind = RecordKind::Rollback;
    undone.netns = "init";
    undone.knob = Knob::ConntrackMax;
    undone.oldValue = 262144;
    undone.newValue = 131072;
    undone.ref = f.maxSecond;
    REQUIRE(f.journal.append(undone).has_value());
    CHECK(ids(*planRollback(f.journal.records(), "b1", {RollbackSelection::Mode::Last, 1})) ==
          std::vector<std::int64_t>{f.timeWait});
  }
}

TEST_CASE("an applied record without old takes it from its intent, and without either cannot be undone") {
  MemoryJournal journal;
  const auto id = change(journal, "b1", "init", Knob::ConntrackMax, 65536, 131072, /*oldInApplied=*/false);
  const auto steps = planRollback(journal.records(), "b1", {RollbackSelection::Mode::All, 0});
  REQUIRE(steps.has_value());
  REQUIRE(steps->size() == 1);
  CHECK((*steps)[0].to == 65536);

  JournalRecord bare = journal.records().back();
  bare.ref.reset();
  bare.oldValue.reset();
  REQUIRE(journal.append(bare).has_value());
  const auto broken = planRollback(journal.records(), "b1", {RollbackSelection::Mode::All, 0});
  REQUIRE_FALSE(broken.has_value());
  CHECK(broken.error().code == Errc::Malformed);
  CHECK(broken.error().what.find("#" + std::to_string(id + 1) +
                                 " (applied nf_conntrack_max in init) has no old value") != std::string::npos);
}

TEST_CASE("rollback refuses a change that does not agree with the intent it names, --force or not") {
  // A journal line written by someone else (an invented intent, an applied record edited) must
  // not make rollback write its old value: before, rollback --last 1 wrote nf_conntrack_max = 1.
  struct Case {
    const char* name;
    void (*spoil)(JournalRecord& intent, JournalRecord& applied);
    const char* says;
  };
  const Case cases[] = {
      {"the old value differs", [](JournalRecord&, JournalRecord& a) { a.oldValue = 1; },
       "another old value than its intent"},
      {"the new value differs", [](JournalRecord&, JournalRecord& a) { a.newValue = 999; }, "another new value"},
      {"another knob", [](JournalRecord& i, JournalRecord&) { i.knob = Knob::Buckets; }, "another knob or netns"},
      {"another netns", [](JournalRecord& i, JournalRecord&) { i.netns = "gw"; }, "another knob or netns"},
      {"the intent is a rollback's", [](JournalRecord& i, JournalRecord&) { i.ref = 4; }, "a rollback's"},
      {"no intent named", [](JournalRecord&, JournalRecord& a) { a.ref = 999; }, "does not hold"},
      {"a record that is no intent", [](JournalRecord&, JournalRecord& a) { a.ref = 4; }, "which is no intent"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Fixture f;
    // The newest change journaled once more, spoilt: the journal holds the disagreeing pair.
    JournalRecord intent = f.journal.records()[f.journal.records().size() - 2];
    JournalRecord applied = f.journal.records().back();
    intent.id = 0;
    applied.id = 0;
    applied.ref = f.journal.records().back().id + 1;  // the intent below
    c.spoil(intent, applied);
    REQUIRE(f.journal.append(intent));
    REQUIRE(f.journal.append(applied));
    const auto steps = planRollback(f.journal.records(), "b1", {RollbackSelection::Mode::Last, 1});
    REQUIRE_FALSE(steps);
    CHECK(steps.error().code == Errc::Busy);
    CHECK(steps.error().what.find(c.says) != std::string::npos);
    CHECK(steps.error().what.find("--to") != std::string::npos);
  }
  SUBCASE("a second outcome of one intent") {
    Fixture f;
    JournalRecord again = f.journal.records().back();
    again.id = 0;
    REQUIRE(f.journal.append(again));
    const auto steps = planRollback(f.journal.records(), "b1", {RollbackSelection::Mode::Last, 1});
    REQUIRE_FALSE(steps);
    CHECK(steps.error().what.find("second outcome") != std::string::npos);
  }
  SUBCASE("the kernel rounding a hash size up agrees") {
    MemoryJournal journal;
    change(journal, "b1", "init", Knob::Buckets, 65536, 100000);
    JournalRecord intent = journal.records().front();
    JournalRecord rounded = journal.records().back();
    intent.id = rounded.id = 0;
    rounded.ref = 3;
    rounded.newValue = 100352;
    REQUIRE(journal.append(intent));
    REQUIRE(journal.append(rounded));
    CHECK(planRollback(journal.records(), "b1", {RollbackSelection::Mode::All, 0}));
  }
}

TEST_CASE("rollback --all restores the exact old values newest first and journals each step") {
  Fixture f;
  const auto before = f.journal.records().size();
  const auto report = f.run({RollbackSelection::Mode::All, 0});
  CHECK(report.exitCode() == 0);
  CHECK_FALSE(report.refused);
  CHECK(report.conflicts.empty());

  CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 65536);
  CHECK(f.store.read(sysfs::Netns{"gw", "/run/netns/gw", 2}, Knob::TcpTimeoutTimeWait).value() == 120);
  REQUIRE(f.store.writes().size() == 3);
  CHECK(f.store.writes()[0].value == 131072);
  CHECK(f.store.writes()[1].value == 120);
  CHECK(f.store.writes()[2].value == 65536);
  for (const auto& outcome : report.steps) CHECK(outcome.status == Status::Restored);

  const auto added = f.since(before);
  REQUIRE(added.size() == 7);  // hold, then intent + rollback per step
  SUBCASE("a hold comes first and lasts the hold duration") {
    CHECK(added[0].kind == RecordKind::Hold);
    CHECK(added[0].until == f.options.now + 1h);
    CHECK_FALSE(added[0].knob.has_value());
    CHECK(added[0].netns.empty());
    REQUIRE(report.hold.has_value());
    CHECK(report.hold->id == added[0].id);
  }
  SUBCASE("each write has an intent before it and a rollback record naming the change undone") {
    const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> expected{
        {f.maxSecond, 262144, 131072}, {f.timeWait, 60, 120}, {f.maxFirst, 131072, 65536}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      const auto& [undone, from, to] = expected[i];
      const auto& intent = added[1 + 2 * i];
      const auto& rollback = added[2 + 2 * i];
      CHECK(intent.kind == RecordKind::Intent);
      CHECK(intent.reason == "rollback of #" + std::to_string(undone));
      CHECK(intent.oldValue == from);
      CHECK(intent.newValue == to);
      CHECK(rollback.kind == RecordKind::Rollback);
      CHECK(rollback.ref == undone);
      CHECK(rollback.oldValue == from);
      CHECK(rollback.newValue == to);
      CHECK(rollback.bootId == "b1");
    }
  }
  SUBCASE("a second rollback --all finds nothing left to undo") {
    CHECK(planRollback(f.journal.records(), "b1", {RollbackSelection::Mode::All, 0})->empty());
  }
  SUBCASE("what ctpilot last wrote is now the restored value") {
    CHECK(viewOf(f.journal.records(), "b1").lastWrites().at({"init", Knob::ConntrackMax}).value == 65536);
  }
}

TEST_CASE("rollback refuses when someone else changed a knob, unless forced") {
  Fixture f;
  f.store.set("init", Knob::ConntrackMax, 100000);
  const auto before = f.journal.records().size();

  SUBCASE("refused: exit 3, nothing written, nothing journaled, the knob and both values named") {
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.refused);
    CHECK(report.exitCode() == 3);
    CHECK(f.store.writes().empty());
    CHECK(f.journal.records().size() == before);
    REQUIRE(report.conflicts.size() == 1);
    CHECK(report.conflicts[0].ref == policy::KnobRef{"init", Knob::ConntrackMax});
    CHECK(report.conflicts[0].found == 100000);
    CHECK(report.conflicts[0].expected == 262144);
    CHECK(report.conflicts[0].expectedId == f.maxSecond);
  }
  SUBCASE("a change to a knob the selection does not touch is no reason to refuse") {
    f.store.set("init", Knob::ConntrackMax, 262144);
    f.store.set("gw", Knob::TcpTimeoutTimeWait, 30);
    const auto report = f.run({RollbackSelection::Mode::Last, 1});
    CHECK(report.exitCode() == 0);
    CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 131072);
  }
  SUBCASE("--force restores anyway and journals the value it found") {
    f.options.force = true;
    const auto report = f.run({RollbackSelection::Mode::Last, 1});
    CHECK(report.exitCode() == 0);
    CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 131072);
    CHECK(f.journal.records().back().kind == RecordKind::Rollback);
    CHECK(f.journal.records().back().oldValue == 100000);
  }
  SUBCASE("after a rollback, what is expected is the value the rollback restored") {
    f.store.set("init", Knob::ConntrackMax, 262144);
    REQUIRE(f.run({RollbackSelection::Mode::Last, 1}).exitCode() == 0);
    f.store.set("init", Knob::ConntrackMax, 262144);  // someone sets it back up
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.exitCode() == 3);
    REQUIRE(report.conflicts.size() == 1);
    CHECK(report.conflicts[0].expected == 131072);
  }
}

TEST_CASE("rollback changes nothing when the journal cannot be written") {
  Fixture f;
  f.journal.failAppends = true;
  SUBCASE("with a hold") {
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.exitCode() == 1);
    CHECK_FALSE(report.journalError.empty());
  }
  SUBCASE("without a hold the intent is the first record that fails") {
    f.options.hold = 0s;
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.exitCode() == 1);
    CHECK_FALSE(report.journalError.empty());
  }
  CHECK(f.store.writes().empty());
  CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 262144);
}

TEST_CASE("rollback skips a vanished namespace, restores the rest and exits 1") {
  Fixture f;
  f.vanished = {"gw"};
  const auto report = f.run({RollbackSelection::Mode::All, 0});
  CHECK(report.exitCode() == 1);
  REQUIRE(report.steps.size() == 3);
  CHECK(report.steps[0].status == Status::Restored);
  CHECK(report.steps[1].status == Status::NetnsGone);
  CHECK(report.steps[1].error.find("netns gw") != std::string::npos);
  CHECK(report.steps[2].status == Status::Restored);
  CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 65536);
}

TEST_CASE("a failed write is journaled, and older changes of that knob are not attempted") {
  Fixture f;
  f.store.makeReadOnly("init", Knob::ConntrackMax);
  const auto report = f.run({RollbackSelection::Mode::All, 0});
  CHECK(report.exitCode() == 1);
  CHECK(report.steps[0].status == Status::Failed);
  CHECK(report.steps[1].status == Status::Restored);
  CHECK(report.steps[2].status == Status::Failed);
  CHECK(report.steps[2].error.find("not attempted") == 0);
  bool failedRecord = false;
  for (const auto& record : f.journal.records()) {
    if (record.kind == RecordKind::Failed) {
      failedRecord = true;
      CHECK(record.error.find("Read-only file system") != std::string::npos);
    }
  }
  CHECK(failedRecord);
}

TEST_CASE("dry-run reports the steps and changes nothing, and --hold 0 places no hold") {
  Fixture f;
  const auto before = f.journal.records().size();
  SUBCASE("dry run") {
    f.options.dryRun = true;
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.exitCode() == 0);
    for (const auto& outcome : report.steps) CHECK(outcome.status == Status::WouldRestore);
    // The older change of max starts from what the newer step would leave.
    CHECK(report.steps[0].before == 262144);
    CHECK(report.steps[2].before == 131072);
    CHECK(f.store.writes().empty());
    CHECK(f.journal.records().size() == before);
  }
  SUBCASE("dry run predicts a refusal") {
    f.options.dryRun = true;
    f.store.set("init", Knob::ConntrackMax, 1);
    CHECK(f.run({RollbackSelection::Mode::All, 0}).exitCode() == 3);
  }
  SUBCASE("no hold") {
    f.options.hold = 0s;
    const auto report = f.run({RollbackSelection::Mode::Last, 1});
    CHECK(report.exitCode() == 0);
    CHECK_FALSE(report.hold.has_value());
    for (const auto& record : f.since(before)) CHECK(record.kind != RecordKind::Hold);
  }
}

TEST_CASE("a hold is active until it expires or a later resume lifts it") {
  MemoryJournal journal;
  JournalRecord hold;
  hold.time = kT0;
  hold.bootId = "b1";
  hold.kind = RecordKind::Hold;
  hold.until = kT0 + 1h;
  REQUIRE(journal.append(hold).has_value());
  CHECK(viewOf(journal.records(), "b1").activeHoldRecords(kT0 + 59min).size() == 1);
  CHECK(viewOf(journal.records(), "b1").activeHoldRecords(kT0 + 1h).empty());
  CHECK(viewOf(journal.records(), "b2").activeHoldRecords(kT0).empty());

  JournalRecord resume;
  resume.time = kT0 + 1min;
  resume.bootId = "b1";
  resume.kind = RecordKind::Resume;
  REQUIRE(journal.append(resume).has_value());
  CHECK(viewOf(journal.records(), "b1").activeHoldRecords(kT0 + 2min).empty());
  REQUIRE(journal.append(hold).has_value());
  CHECK(viewOf(journal.records(), "b1").activeHoldRecords(kT0 + 2min).size() == 1);
}

TEST_CASE("after a crash between an intent and its outcome, the intent's value counts as ctpilot's own") {
  Fixture f;
  const auto intentOf = [&](std::int64_t from, std::int64_t to, std::optional<std::int64_t> ref) {
    JournalRecord intent;
    intent.time = kT0;
    intent.bootId = "b1";
    intent.kind = RecordKind::Intent;
    intent.netns = "init";
    intent.knob = Knob::ConntrackMax;
    intent.oldValue = from;
    intent.newValue = to;
    intent.ref = ref;
    REQUIRE(f.journal.append(intent).has_value());
  };
  SUBCASE("the controller died after writing: the value it was writing is accepted, the baseline restored") {
    intentOf(262144, 524288, std::nullopt);
    f.store.set("init", Knob::ConntrackMax, 524288);
    CHECK(viewOf(f.journal.records(), "b1").unfinishedIntents().size() == 1);
    const auto report = f.run({RollbackSelection::Mode::All, 0});
    CHECK(report.exitCode() == 0);
    CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 65536);
    CHECK(report.steps[0].before == 524288);
  }
  SUBCASE("the controller died before writing: the old value is still accepted") {
    intentOf(262144, 524288, std::nullopt);
    CHECK(f.run({RollbackSelection::Mode::All, 0}).exitCode() == 0);
    CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 65536);
  }
  SUBCASE("a rollback died after writing: running it again finishes the job") {
    intentOf(262144, 131072, f.maxSecond);
    f.store.set("init", Knob::ConntrackMax, 131072);
    CHECK(f.run({RollbackSelection::Mode::All, 0}).exitCode() == 0);
    CHECK(f.store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 65536);
    CHECK(viewOf(f.journal.records(), "b1").unfinishedIntents().empty());
  }
  SUBCASE("any other value is still someone else's") {
    intentOf(262144, 524288, std::nullopt);
    f.store.set("init", Knob::ConntrackMax, 999);
    CHECK(f.run({RollbackSelection::Mode::All, 0}).exitCode() == 3);
  }
  SUBCASE("finished intents are not unfinished") {
    CHECK(viewOf(f.journal.records(), "b1").unfinishedIntents().empty());
    REQUIRE(f.run({RollbackSelection::Mode::Last, 1}).exitCode() == 0);
    CHECK(viewOf(f.journal.records(), "b1").unfinishedIntents().empty());
  }
}

TEST_CASE(
    "an intent without outcome is undone by rollback --all whether or not its write happened (README: Rollback)") {
  // A crash after the knob write and before the applied record: baseline 1000, intent
  // 1000 -> 1900, no outcome.
  MemoryJournal journal;
  auto baseline = knobRecord(RecordKind::Baseline, kT0, "b1", {"init", Knob::ConntrackMax}, 1000, 1000, "");
  REQUIRE(journal.append(baseline).has_value());
  auto intent = knobRecord(RecordKind::Intent, kT0, "b1", {"init", Knob::ConntrackMax}, 1000, 1900, "raise");
  const auto intentId = journal.append(intent)->id;
  sysfs::MemoryKnobStore store;
  const NetnsResolver resolve = [](const std::string&) -> Result<sysfs::Netns> { return sysfs::Netns{"init", "", 1}; };
  RollbackOptions options;
  options.bootId = "b1";
  options.now = kT0 + 1min;
  const auto rollbackAll = [&] {
    auto steps = planRollback(journal.records(), "b1", {RollbackSelection::Mode::All, 0});
    REQUIRE(steps.has_value());
    return std::make_pair(*steps, executeRollback(*steps, journal, store, resolve, options));
  };
  for (const std::int64_t found : {1900, 1000}) {
    CAPTURE(found);
    store.set("init", Knob::ConntrackMax, found);
    const auto [steps, report] = rollbackAll();
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].intentOnly);
    CHECK(steps[0].appliedId == intentId);
    CHECK(steps[0].to == 1000);
    CHECK(report.exitCode() == 0);
    CHECK(store.read(sysfs::Netns{"init", "", 1}, Knob::ConntrackMax).value() == 1000);
    CHECK(journal.records().back().kind == RecordKind::Rollback);
    CHECK(journal.records().back().ref == intentId);
    // Undone: nothing is left, and the intent is finished.
    CHECK(planRollback(journal.records(), "b1", {RollbackSelection::Mode::All, 0})->empty());
    CHECK(viewOf(journal.records(), "b1").unfinishedIntents().empty());
    journal = MemoryJournal{};
    REQUIRE(journal.append(baseline).has_value());
    REQUIRE(journal.append(intent).has_value());
  }
}

TEST_CASE("rollback never writes a journaled value outside the knob's valid range, not even with --force") {
  for (const std::int64_t bad : {std::int64_t{0}, std::int64_t{-5}, std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(bad);
    Fixture f;
    f.options.force = true;
    change(f.journal, "b1", "gw", Knob::TcpTimeoutTimeWait, bad, 30);
    f.store.set("gw", Knob::TcpTimeoutTimeWait, 30);
    const auto report = f.run({RollbackSelection::Mode::Last, 1});
    REQUIRE(report.steps.size() == 1);
    CHECK(report.steps[0].status == Status::Failed);
    CHECK(report.steps[0].error.find("outside") != std::string::npos);
    CHECK(report.exitCode() == 1);
    CHECK(f.store.read(sysfs::Netns{"gw", "/run/netns/gw", 2}, Knob::TcpTimeoutTimeWait).value() == 30);
  }
}

TEST_CASE("netns names read from the journal must be plain names before they touch the file system") {
  const auto resolve = systemNetnsResolver("/nonexistent-root");
  for (const std::string name : {"../../proc/1/ns/net", "a/b", "..", "netns:12x", "netns:"}) {
    CAPTURE(name);
    const auto found = resolve(name);
    REQUIRE_FALSE(found);
    CHECK(found.error().code == Errc::Malformed);
  }
}

TEST_CASE("two rollbacks at once: the second waits for the first") {
  const auto dir = std::filesystem::temp_directory_path() / ("ctpilot-rbl-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    auto first = RollbackLock::acquire(dir.string(), nullptr);
    REQUIRE(first.has_value());
    // A second holder from another open file description would block: LOCK_NB tells.
    const int fd = ::open((dir / "rollback.lock").c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
    ::close(fd);
  }
  auto again = RollbackLock::acquire(dir.string(), [] { FAIL("waited for a lock nobody holds"); });
  CHECK(again.has_value());
  std::filesystem::remove_all(dir);
}
