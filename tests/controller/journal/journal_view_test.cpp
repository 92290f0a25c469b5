// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal_view.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using ctpilot::controller::JournalRecord;
using ctpilot::controller::RecordKind;
using ctpilot::policy::Knob;
using ctpilot::policy::KnobRef;
using ctpilot::policy::TimePoint;
namespace cc = ctpilot::controller;

namespace {

const TimePoint kT0{std::chrono::seconds(1'800'000'000)};

struct Builder {
  std::vector<JournalRecord> records;
  JournalRecord& add(RecordKind kind, std::string netns, std::optional<Knob> knob, std::optional<std::int64_t> oldValue,
                     std::optional<std::int64_t> newValue, std::string boot = "b1") {
    JournalRecord r;
    r.id = static_cast<std::int64_t>(records.size()) + 1;
    r.time = kT0 + std::chrono::seconds(r.id);
    r.bootId = std::move(boot);
    r.kind = kind;
    r.netns = std::move(netns);
    r.knob = knob;
    r.oldValue = oldValue;
    r.newValue = newValue;
    records.push_back(r);
    return records.back();
  }
};

const KnobRef kMax{"init", Knob::ConntrackMax};
const KnobRef kTimeWaitGw{"gw", Knob::TcpTimeoutTimeWait};

}  // namespace

TEST_CASE("baselines come from this boot's baseline records, the first one winning") {
  Builder b;
  b.add(RecordKind::Baseline, "init", Knob::ConntrackMax, 1, 1, "old-boot");
  b.add(RecordKind::Baseline, "init", Knob::ConntrackMax, 1000, 1000);
  b.add(RecordKind::Baseline, "gw", Knob::TcpTimeoutTimeWait, 120, 120);
  b.add(RecordKind::Baseline, "init", Knob::ConntrackMax, 5000, 5000);  // a later one never replaces it
  const auto base = cc::viewOf(b.records, "b1").baselines();
  CHECK(base.size() == 2);
  CHECK(base.at(kMax) == 1000);
  CHECK(base.at(kTimeWaitGw) == 120);
  CHECK(cc::viewOf(b.records, "old-boot").baselines().at(kMax) == 1);
  CHECK(cc::viewOf(b.records, "unknown").baselines().empty());
}

TEST_CASE("a baseline record that adopted someone else's value (old differs from new) replaces the baseline") {
  Builder b;
  b.add(RecordKind::Baseline, "init", Knob::ConntrackMax, 1000, 1000);
  b.add(RecordKind::Baseline, "init", Knob::ConntrackMax, 4000, 3000);  // on_external = adopt
  CHECK(cc::viewOf(b.records, "b1").baselines().at(kMax) == 3000);
}

TEST_CASE("a knob changed by someone else stays external, with its record's id, until written or resumed") {
  Builder b;
  b.add(RecordKind::External, "init", Knob::ConntrackMax, 2000, 1500);
  b.add(RecordKind::External, "gw", Knob::TcpTimeoutTimeWait, 120, 60);
  const auto ids = cc::viewOf(b.records, "b1").externalRecordIds(0);
  REQUIRE(ids.size() == 2);
  CHECK(ids.at(kMax) == b.records[0].id);
  CHECK(ids.at(kTimeWaitGw) == b.records[1].id);
  CHECK(cc::viewOf(b.records, "b1").externalRecordIds(b.records[0].id).size() == 1);  // a policy change came between

  SUBCASE("a resume naming one knob hands back that knob") {
    b.add(RecordKind::Resume, "gw", Knob::TcpTimeoutTimeWait, 0, 0);
    CHECK(cc::viewOf(b.records, "b1").externalKnobs(0) == std::set<KnobRef>{kMax});
  }
  SUBCASE("a resume without knob hands back every knob") {
    JournalRecord resume;
    resume.id = 99;
    resume.bootId = "b1";
    resume.kind = RecordKind::Resume;
    b.records.push_back(resume);
    CHECK(cc::viewOf(b.records, "b1").externalRecordIds(0).empty());
  }
}

TEST_CASE("what ctpilot last wrote comes from applied and rollback records") {
  Builder b;
  b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 1000, 2000);
  b.add(RecordKind::Applied, "init", Knob::ConntrackMax, 1000, 2000);
  b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 2000, 4000);
  b.add(RecordKind::Failed, "init", Knob::ConntrackMax, 2000, 4000);
  b.add(RecordKind::External, "gw", Knob::TcpTimeoutTimeWait, 120, 30);
  auto written = cc::viewOf(b.records, "b1").lastWrites();
  CHECK(written.at(kMax).value == 2000);
  CHECK(written.at(kMax).recordId == 2);
  CHECK_FALSE(written.contains(kTimeWaitGw));
  b.add(RecordKind::Rollback, "init", Knob::ConntrackMax, 2000, 1000);
  CHECK(cc::viewOf(b.records, "b1").lastWrites().at(kMax).value == 1000);
}

TEST_CASE("an intent without applied or failed record is unfinished") {
  Builder b;
  b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 1000, 2000);
  b.add(RecordKind::Applied, "init", Knob::ConntrackMax, 1000, 2000).ref = 1;
  CHECK(cc::viewOf(b.records, "b1").unfinishedIntents().empty());
  b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 2000, 4000);
  const auto open = cc::viewOf(b.records, "b1").unfinishedIntents();
  REQUIRE(open.size() == 1);
  CHECK(open[0].id == 3);
  CHECK(cc::viewOf(b.records, "b1").ourValues(kMax) == std::vector<std::int64_t>{2000, 4000});
  SUBCASE("a rollback's outcome finishes a rollback's intent") {
    b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 4000, 1000).ref = 2;
    b.add(RecordKind::Rollback, "init", Knob::ConntrackMax, 4000, 1000).ref = 2;
    CHECK(cc::viewOf(b.records, "b1").unfinishedIntents().size() == 1);  // #3 is not the rollback's
  }
  SUBCASE("a rollback undoing the intent alone finishes it") {
    b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 4000, 2000).ref = 3;
    b.add(RecordKind::Rollback, "init", Knob::ConntrackMax, 4000, 2000).ref = 3;
    CHECK(cc::viewOf(b.records, "b1").unfinishedIntents().empty());
    CHECK(cc::viewOf(b.records, "b1").undoable().size() == 1);  // only the applied #2
  }
}

TEST_CASE("holds are active until they expire or a later resume lifts them") {
  Builder b;
  b.add(RecordKind::Hold, "", std::nullopt, std::nullopt, std::nullopt).until = kT0 + 1h;
  b.add(RecordKind::Hold, "gw", Knob::TcpTimeoutTimeWait, std::nullopt, std::nullopt).until = kT0 + 2h;
  b.add(RecordKind::Hold, "", std::nullopt, std::nullopt, std::nullopt, "old-boot").until = kT0 + 9h;

  SUBCASE("both active before the first expires") {
    const auto holds = cc::viewOf(b.records, "b1").activeHolds(kT0 + 30min);
    CHECK(holds.size() == 2);
    CHECK(cc::held(holds, kMax));
    CHECK(cc::held(holds, kTimeWaitGw));
  }
  SUBCASE("an expired hold no longer counts") {
    const auto holds = cc::viewOf(b.records, "b1").activeHolds(kT0 + 90min);
    CHECK(holds.size() == 1);
    CHECK_FALSE(cc::held(holds, kMax));
    CHECK(cc::held(holds, kTimeWaitGw));
  }
  SUBCASE("a resume without knob lifts every earlier hold") {
    b.add(RecordKind::Resume, "", std::nullopt, std::nullopt, std::nullopt);
    CHECK(cc::viewOf(b.records, "b1").activeHolds(kT0 + 30min).empty());
    b.add(RecordKind::Hold, "", std::nullopt, std::nullopt, std::nullopt).until = kT0 + 1h;
    CHECK(cc::viewOf(b.records, "b1").activeHolds(kT0 + 30min).size() == 1);
  }
  SUBCASE("a resume of one knob lifts that knob's hold only") {
    b.add(RecordKind::Resume, "gw", Knob::TcpTimeoutTimeWait, std::nullopt, std::nullopt);
    const auto holds = cc::viewOf(b.records, "b1").activeHolds(kT0 + 90min);
    CHECK(holds.empty());
    const auto early = cc::viewOf(b.records, "b1").activeHolds(kT0 + 30min);
    REQUIRE(early.size() == 1);
    CHECK_FALSE(early[0].ref.has_value());  // the hold on every knob stays
  }
}

TEST_CASE("knobs changed by someone else stay external until the policy changes or ctpilot writes them") {
  Builder b;
  b.add(RecordKind::External, "init", Knob::ConntrackMax, 2000, 1500);
  b.add(RecordKind::External, "gw", Knob::TcpTimeoutTimeWait, 120, 30, "old-boot");
  CHECK(cc::viewOf(b.records, "b1").externalKnobs(0) == std::set<KnobRef>{kMax});
  CHECK(cc::viewOf(b.records, "b1").externalKnobs(1).empty());  // the policy changed after record 1
  b.add(RecordKind::Applied, "init", Knob::ConntrackMax, 1500, 3000);
  CHECK(cc::viewOf(b.records, "b1").externalKnobs(0).empty());
}

TEST_CASE("history lists this boot's applied changes with their old values") {
  Builder b;
  b.add(RecordKind::Intent, "init", Knob::ConntrackMax, 1000, 2000);
  auto& applied = b.add(RecordKind::Applied, "init", Knob::ConntrackMax, std::nullopt, 2048);
  applied.ref = 1;
  b.add(RecordKind::Applied, "init", Knob::ConntrackMax, 1, 2, "old-boot");
  const auto history = cc::viewOf(b.records, "b1").historyAt(kT0, 0);
  REQUIRE(history.changes.size() == 1);
  CHECK(history.changes[0].ref == kMax);
  CHECK(history.changes[0].from == 1000);
  CHECK(history.changes[0].to == 2048);
  CHECK(history.changes[0].time == kT0 + 2s);
}

TEST_CASE("a journal file is read without changing it, tolerating only a torn last line") {
  const auto dir = std::filesystem::temp_directory_path() / ("ctpilot-jv-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "journal.jsonl").string();

  SUBCASE("a missing file is an empty journal and is not created") {
    const auto records = cc::readJournalFile(path);
    REQUIRE(records);
    CHECK(records->empty());
    CHECK_FALSE(std::filesystem::exists(path));
  }
  SUBCASE("a bad line in the middle names its line number") {
    std::ofstream(path) << "{\"not\": \"a record\"}\n{}\n";
    const auto records = cc::readJournalFile(path);
    REQUIRE_FALSE(records);
    CHECK(records.error().code == ctpilot::Errc::Malformed);
    CHECK(records.error().what.find(":1:") != std::string::npos);
  }
  SUBCASE("a torn last line is skipped") {
    std::ofstream(path) << "{\"id\": 1, \"ki";
    const auto records = cc::readJournalFile(path);
    REQUIRE(records);
    CHECK(records->empty());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("history holds the changes within the window and the newest of each knob, whatever the journal's length") {
  Builder b;
  for (int i = 0; i < 1000; ++i) b.add(RecordKind::Applied, "init", Knob::ConntrackMax, i, i + 1);
  b.add(RecordKind::Applied, "gw", Knob::TcpTimeoutTimeWait, 120, 60);  // at kT0 + 1001s
  for (int i = 0; i < 3; ++i) b.add(RecordKind::Applied, "init", Knob::ConntrackMax, 2000 + i, 2001 + i);
  const auto view = cc::viewOf(b.records, "b1");
  const auto now = kT0 + 1004s;
  const auto history = view.historyAt(now, 0, 2s);  // changes after kT0 + 1002s, and the newest per knob
  REQUIRE(history.changes.size() == 3);
  CHECK(history.changes[0].ref == kTimeWaitGw);  // the newest of its knob, though older than the window
  CHECK(history.changes[1].to == 2002);
  CHECK(history.changes[2].to == 2003);
  CHECK(view.historyAt(now, 0).changes.size() == 1004);
}
