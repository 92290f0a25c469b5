// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/checkpoint.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "controller/journal/journal_files.h"
#include "controller/state_dir.h"
#include "tests/temp_tree.h"

using namespace ctpilot;
using namespace ctpilot::controller;
using namespace std::chrono_literals;
using ctpilot::testing::readFile;
using ctpilot::testing::writeFile;

namespace {

struct TempDir : ctpilot::testing::TempDir {
  TempDir() : ctpilot::testing::TempDir("checkpoint") {}
};

const policy::TimePoint kT0{std::chrono::seconds(1'800'000'000)};
const std::vector<policy::KnobRef> kRefs{{"init", policy::Knob::ConntrackMax},
                                         {"init", policy::Knob::Buckets},
                                         {"gw", policy::Knob::TcpTimeoutTimeWait},
                                         {"init", policy::Knob::UdpTimeout}};

// A random journal of busy controllers, rollbacks, holds and resumes over two boots (ids from 1,
// whole seconds apart, sometimes hours): every kind the view folds, in any order.
std::vector<JournalRecord> randomJournal(std::mt19937& rng, int n) {
  std::vector<JournalRecord> out;
  std::vector<std::int64_t> intents;
  auto time = kT0;
  const auto pick = [&](int below) { return static_cast<int>(rng() % static_cast<unsigned>(below)); };
  for (int i = 1; i <= n; ++i) {
    time += std::chrono::seconds(pick(20) == 0 ? 3600 * (1 + pick(30)) : 1 + pick(120));
    const auto& ref = kRefs[static_cast<std::size_t>(pick(static_cast<int>(kRefs.size())))];
    const auto kind = static_cast<RecordKind>(pick(9));
    auto r = knobRecord(kind, time, pick(8) == 0 ? "b0" : "b1", ref, 1000 + pick(50), 1000 + pick(50), "why");
    r.id = i;
    switch (kind) {
      case RecordKind::Intent:
        intents.push_back(i);
        if (pick(4) == 0 && !out.empty()) r.ref = 1 + pick(i - 1);  // a rollback's intent
        break;
      case RecordKind::Applied:
      case RecordKind::Failed:
      case RecordKind::Rollback:
        if (!intents.empty() && pick(5) != 0)
          r.ref = intents[static_cast<std::size_t>(pick(static_cast<int>(intents.size())))];
        if (kind == RecordKind::Applied && ref.knob == policy::Knob::Buckets) {
          r.observation = nlohmann::json{{"write_us", 1000 + pick(100)}, {"entries", 100000}};
        }
        if (kind == RecordKind::Failed) r.error = "EINVAL";
        break;
      case RecordKind::Hold:
        r.until = time + std::chrono::seconds(pick(7200));
        if (pick(2) == 0) r.knob.reset(), r.netns.clear();
        break;
      case RecordKind::Resume:
        if (pick(2) == 0) r.knob.reset(), r.netns.clear();
        break;
      default: break;
    }
    if (pick(10) == 0) r.oldValue.reset();
    out.push_back(r);
  }
  return out;
}

// Everything the controller asks of a view at `now`, as text, so two views compare at once.
std::string answers(const JournalView& view, policy::TimePoint now) {
  std::ostringstream out;
  out << "last " << view.lastId() << " other " << view.otherBootApplied() << "\nbaselines";
  for (const auto& [ref, value] : view.baselines()) out << " " << ref.netns << "/" << int(ref.knob) << "=" << value;
  out << "\nwrites";
  for (const auto& [ref, w] : view.lastWrites())
    out << " " << ref.netns << "/" << int(ref.knob) << "=" << w.value << "#" << w.recordId;
  out << "\nunfinished";
  for (const auto& intent : view.unfinishedIntents()) out << " " << intent.id;
  out << "\nours";
  for (const auto& ref : kRefs) {
    for (const auto value : view.ourValues(ref)) out << " " << value;
    out << ";";
  }
  out << "\nholds";
  for (const auto& hold : view.activeHoldRecords(now)) out << " " << hold.id;
  for (const std::int64_t since : {0, 40, 200}) {
    out << "\nexternal>" << since;
    for (const auto& [ref, id] : view.externalRecordIds(since))
      out << " " << ref.netns << "/" << int(ref.knob) << "#" << id;
  }
  for (const auto window : {policy::Duration(1min), policy::Duration(10min), policy::Duration(24h)}) {
    out << "\nhistory";
    for (const auto& c : view.historyAt(now, 0, window).changes) {
      out << " " << formatTime(c.time) << ":" << c.ref.netns << "/" << int(c.ref.knob) << ":" << c.from << "->" << c.to;
    }
  }
  out << "\nresizes";
  for (const auto& r : view.timedResizes()) out << " " << toJsonLine(r);
  return out.str();
}

JournalView fold(const std::vector<JournalRecord>& records, std::size_t from, std::size_t to, JournalView view) {
  for (std::size_t i = from; i < to; ++i) view.add(records[i]);
  return view;
}

// Opens a FileJournal in `dir` and appends `records` (ids as the journal gives them).
void appendAll(const std::string& dir, const std::vector<JournalRecord>& records) {
  auto journal = FileJournal::open(dir);
  REQUIRE(journal);
  for (auto record : records) REQUIRE((*journal)->append(record));
}

// A journal of `n` random records of boot b1 in `dir`, and the whole-journal view of it.
JournalView journalOf(const std::string& dir, int n, unsigned seed) {
  std::mt19937 rng(seed);
  appendAll(dir, randomJournal(rng, n));
  auto records = readJournalFile(journalPath(dir));
  REQUIRE(records);
  return fold(*records, 0, records->size(), JournalView("b1", ViewScope::Controller));
}

// Writes a checkpoint of the whole journal in `dir` as `run` would.
void checkpointNow(const std::string& dir) {
  auto journal = FileJournal::open(dir);
  REQUIRE(journal);
  JournalView view("b1", ViewScope::Controller);
  view.addNew((*journal)->records());
  auto checkpoint = checkpointOf((*journal)->position(), view);
  REQUIRE(checkpoint);
  REQUIRE(writeCheckpoint(dir, *checkpoint));
}

// Opens the controller's journal and folds the records after the checkpoint in.
JournalView openAndFold(const std::string& dir, std::optional<ControllerJournal>& opened) {
  auto result = openControllerJournal(dir, "b1");
  REQUIRE(result);
  opened.emplace(std::move(*result));
  JournalView view = opened->view;
  view.addNew(opened->journal->records());
  return view;
}

}  // namespace

TEST_CASE("state from a checkpoint and the records after it equals state from the whole journal") {
  // Random journals, each cut at random places: the Controller view rebuilt from the checkpoint
  // text (the journal lines it names, read back from journal.jsonl) and fed the rest answers
  // every question as a view of the whole journal does, and as a full (Everything) view does.
  for (unsigned seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    TempDir dir;
    std::mt19937 rng(seed);
    appendAll(dir.path, randomJournal(rng, 300));
    auto journal = FileJournal::open(dir.path);
    REQUIRE(journal);
    const auto& records = (*journal)->records();
    const auto now = records.back().time + 30s;
    const auto whole = fold(records, 0, records.size(), JournalView("b1", ViewScope::Controller));
    const auto everything = fold(records, 0, records.size(), JournalView("b1"));
    REQUIRE(answers(whole, now) == answers(everything, now));
    const auto fd = ::open(journalPath(dir.path).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    for (int cut = 0; cut < 5; ++cut) {
      const auto at = 1 + rng() % (records.size() - 1);
      CAPTURE(at);
      const auto before = fold(records, 0, at, JournalView("b1", ViewScope::Controller));
      const JournalPosition position{records[at].offset, static_cast<std::int64_t>(at), records[at - 1].id, 1,
                                     static_cast<std::uint64_t>(st.st_ino)};
      auto checkpoint = checkpointOf(position, before);
      REQUIRE(checkpoint);
      const auto text = checkpointText(*checkpoint);
      auto parsed = parseCheckpoint(text);
      REQUIRE(parsed);
      CHECK(parsed->position == position);
      CHECK(checkpointText(*parsed) == text);
      auto rebuilt = checkpointView(fd, journalPath(dir.path), *parsed);
      REQUIRE(rebuilt);
      CHECK(answers(*rebuilt, now) == answers(before, now));
      const auto resumed = fold(records, at, records.size(), std::move(*rebuilt));
      CHECK(answers(resumed, now) == answers(whole, now));
    }
    ::close(fd);
  }
}

TEST_CASE("a controller view keeps a day of changes, not the whole journal's") {
  JournalView controller("b1", ViewScope::Controller);
  JournalView everything("b1");
  auto time = kT0;
  for (std::int64_t id = 1; id <= 20000; id += 2) {
    time += 60s;
    auto intent = knobRecord(RecordKind::Intent, time, "b1", kRefs[id % 3], id, id + 1, "r");
    intent.id = id;
    auto applied = intent;
    applied.kind = RecordKind::Applied;
    applied.id = id + 1;
    applied.ref = id;
    for (auto* view : {&controller, &everything}) {
      view->add(intent);
      view->add(applied);
    }
  }
  CHECK(everything.appliedChanges().size() == 10000);
  CHECK(controller.appliedChanges().size() <= 2 * 24 * 60 + 64);
  CHECK(controller.undoable().empty());
  CHECK(everything.undoable().size() == 10000);
  CHECK(answers(controller, time + 1s) == answers(everything, time + 1s));
}

TEST_CASE("run starts from the checkpoint and reads only the records after it") {
  TempDir dir;
  auto whole = journalOf(dir.path, 200, 7);
  checkpointNow(dir.path);
  std::mt19937 rng(8);
  auto more = randomJournal(rng, 30);
  appendAll(dir.path, more);
  auto records = readJournalFile(journalPath(dir.path));
  REQUIRE(records);
  whole = fold(*records, 200, records->size(), std::move(whole));

  std::optional<ControllerJournal> opened;
  const auto view = openAndFold(dir.path, opened);
  CHECK(opened->warnings.empty());
  CHECK(opened->notes.empty());
  CHECK(opened->checkpointOffset > 0);
  CHECK(opened->journal->records().size() == 30);
  CHECK(opened->journal->records().front().id == 201);
  CHECK(answers(view, records->back().time) == answers(whole, records->back().time));
  // New records continue the ids, and a journal reopened whole agrees.
  auto appended = opened->journal->append(knobRecord(RecordKind::Baseline, kT0, "b1", kRefs[0], 1, 1, ""));
  REQUIRE(appended);
  CHECK(appended->id == 231);
}

TEST_CASE("a checkpoint that does not match the journal is removed and the whole journal read, with one warning") {
  struct Case {
    const char* name;
    void (*spoil)(const TempDir&);
  };
  const Case cases[] = {
      {"a byte of the checkpoint changed",
       [](const TempDir& d) {
         auto text = readFile(d.sub(kCheckpointName));
         text[text.find("\"last_id\":") + 10] ^= 1;
         writeFile(d.sub(kCheckpointName), text);
       }},
      {"the checkpoint cut short",
       [](const TempDir& d) { writeFile(d.sub(kCheckpointName), readFile(d.sub(kCheckpointName)).substr(0, 100)); }},
      {"an empty checkpoint", [](const TempDir& d) { writeFile(d.sub(kCheckpointName), ""); }},
      {"another format",
       [](const TempDir& d) {
         auto text = readFile(d.sub(kCheckpointName));
         text.replace(text.find("\"format\":2"), 10, "\"format\":1");
         writeFile(d.sub(kCheckpointName), text);
       }},
      {"the journal replaced by a copy (another inode)",
       [](const TempDir& d) {
         writeFile(d.sub("copy"), readFile(journalPath(d.path)));
         ::chmod(d.sub("copy").c_str(), 0640);
         std::filesystem::rename(d.sub("copy"), journalPath(d.path));
       }},
      {"the record at the checkpoint's offset rewritten in place",
       [](const TempDir& d) {
         auto text = readFile(journalPath(d.path));
         const auto last = text.rfind("{\"id\":");
         text.replace(last, 9, "{\"id\":999");
         std::fstream out(journalPath(d.path), std::ios::in | std::ios::out | std::ios::binary);
         out << text;
       }},
      {"the first record rewritten in place (blanked: the line at the offset still matches)",
       [](const TempDir& d) {
         const auto text = readFile(journalPath(d.path));
         std::fstream out(journalPath(d.path), std::ios::in | std::ios::out | std::ios::binary);
         out << std::string(text.find('\n'), ' ');
       }},
      {"a symlink in place of the checkpoint",
       [](const TempDir& d) {
         const auto target = d.sub("elsewhere");
         std::filesystem::rename(d.sub(kCheckpointName), target);
         std::filesystem::create_symlink(target, d.sub(kCheckpointName));
       }},
      {"a checkpoint writable by others", [](const TempDir& d) { ::chmod(d.sub(kCheckpointName).c_str(), 0666); }},
  };
  for (const auto& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    TempDir dir;
    const auto whole = journalOf(dir.path, 120, 11);
    checkpointNow(dir.path);
    c.spoil(dir);
    auto records = readJournalFile(journalPath(dir.path));
    const auto now = kT0 + 1000h;

    std::optional<ControllerJournal> opened;
    const auto view = openAndFold(dir.path, opened);
    CHECK(opened->checkpointOffset == 0);
    REQUIRE(opened->warnings.size() == 1);
    CHECK(opened->warnings[0].find("not using journal.checkpoint (") == 0);
    CHECK(opened->warnings[0].find("read the whole journal instead") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir.sub(kCheckpointName))));
    if (records) CHECK(opened->journal->records().size() == records->size());
    if (std::string(c.name).find("rewritten") == std::string::npos) CHECK(answers(view, now) == answers(whole, now));
    if (std::filesystem::exists(dir.sub("elsewhere"))) CHECK(!readFile(dir.sub("elsewhere")).empty());
  }
}

TEST_CASE("a checkpoint of an earlier boot is a note, not a warning, and no checkpoint is silence") {
  TempDir dir;
  journalOf(dir.path, 20, 3);
  auto none = openControllerJournal(dir.path, "b1");
  REQUIRE(none);
  CHECK(none->warnings.empty());
  CHECK(none->notes.empty());
  checkpointNow(dir.path);
  auto other = openControllerJournal(dir.path, "b2");
  REQUIRE(other);
  CHECK(other->warnings.empty());
  REQUIRE(other->notes.size() == 1);
  CHECK(other->notes[0].find("of boot b1, not of this one") != std::string::npos);
  CHECK(other->journal->records().size() == 20);
}

TEST_CASE("a checkpoint whose content is not what ctpilot writes is refused naming the field") {
  // Each with a correct checksum (checkpointText), as anyone able to write the file could make it.
  JournalCheckpoint good{{100, 3, 10, 1, 7}, "b1", 0, {{0, 1}, {40, 5}}, {}};
  REQUIRE(parseCheckpoint(checkpointText(good)));
  struct Bad {
    std::vector<JournalLine> lines;
    const char* says;
  };
  const Bad bad[] = {
      {{{40, 5}, {0, 1}}, "must ascend"},
      {{{0, 5}, {40, 5}}, "must ascend"},
      {{{100, 5}}, "beyond the position"},
      {{{0, 11}}, "beyond the position"},
      {{{-1, 1}}, "below 0"},
      {{{0, 0}}, "below 1"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.says);
    auto checkpoint = good;
    checkpoint.lines = b.lines;
    const auto parsed = parseCheckpoint(checkpointText(checkpoint));
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::Malformed);
    CHECK(parsed.error().what.find(b.says) != std::string::npos);
  }
  CHECK_FALSE(parseCheckpoint(std::string(100000, '[')));
  CHECK_FALSE(parseCheckpoint("{\"format\":1e400}"));
  CHECK_FALSE(parseCheckpoint("{\"format\":2}"));
}

TEST_CASE("the checkpoint is written atomically, 0640, only when the journal grew by a megabyte") {
  TempDir dir;
  journalOf(dir.path, 50, 5);
  auto journal = FileJournal::open(dir.path);
  REQUIRE(journal);
  JournalView view("b1", ViewScope::Controller);
  view.addNew((*journal)->records());
  Checkpointer checkpointer(dir.path, **journal, 0);
  auto wrote = checkpointer.maybeWrite(view);
  REQUIRE(wrote);
  CHECK_FALSE(*wrote);  // a small journal is read whole quickly
  CHECK_FALSE(std::filesystem::exists(dir.sub(kCheckpointName)));

  auto record = knobRecord(RecordKind::Planned, kT0, "b1", kRefs[0], 1, 2, std::string(2000, 'x'));
  for (int i = 0; i < 600; ++i) REQUIRE((*journal)->append(record));
  wrote = checkpointer.maybeWrite(view);  // the view has not folded them: not consistent, not written
  REQUIRE(wrote);
  CHECK_FALSE(*wrote);
  view.addNew((*journal)->records());
  wrote = checkpointer.maybeWrite(view);
  REQUIRE(wrote);
  CHECK(*wrote);
  struct stat st {};
  REQUIRE(::stat(dir.sub(kCheckpointName).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK_FALSE(std::filesystem::exists(dir.sub(std::string(kCheckpointName) + ".tmp")));
  auto parsed = parseCheckpoint(readFile(dir.sub(kCheckpointName)));
  REQUIRE(parsed);
  CHECK(parsed->position == (*journal)->position());
  wrote = checkpointer.maybeWrite(view);
  REQUIRE(wrote);
  CHECK_FALSE(*wrote);  // nothing new since
}

TEST_CASE("replacing a state file never follows a symlink, at the file or at its temporary name") {
  TempDir dir;
  writeFile(dir.sub("target"), "keep me");
  std::filesystem::create_symlink(dir.sub("target"), dir.sub("name"));
  std::filesystem::create_symlink(dir.sub("target"), dir.sub("name.tmp"));
  REQUIRE(replaceStateFile(dir.path, "name", "new"));
  CHECK(readFile(dir.sub("target")) == "keep me");
  CHECK_FALSE(std::filesystem::is_symlink(dir.sub("name")));
  CHECK(readFile(dir.sub("name")) == "new");
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir.sub("name.tmp"))));
  REQUIRE(removeStateFile(dir.path, "name"));
  REQUIRE(removeStateFile(dir.path, "name"));  // absent: no error
}

TEST_CASE("a file journal forgets folded records and still appends after them") {
  TempDir dir;
  journalOf(dir.path, 10, 2);
  auto journal = FileJournal::open(dir.path);
  REQUIRE(journal);
  (*journal)->forget(7);
  REQUIRE((*journal)->records().size() == 3);
  CHECK((*journal)->records().front().id == 8);
  (*journal)->forget(100);
  CHECK((*journal)->records().empty());
  auto appended = (*journal)->append(knobRecord(RecordKind::Planned, kT0, "b1", kRefs[0], 1, 2, ""));
  REQUIRE(appended);
  CHECK(appended->id == 11);
  CHECK((*journal)->position().lastId == 11);
  CHECK((*journal)->position().firstId == 1);
}

namespace {

// A journal of boot b1 in `dir`: a baseline, a raise (intent #2, applied #3), a hold until 2199
// lifted by a resume, and enough planned records to put them well before the checkpoint's
// position. Returns its records as read back (with their offsets).
std::vector<JournalRecord> raisedJournal(const std::string& dir) {
  const policy::KnobRef max{"init", policy::Knob::ConntrackMax};
  std::vector<JournalRecord> records{knobRecord(RecordKind::Baseline, kT0, "b1", max, 262144, 262144, "baseline")};
  records.push_back(knobRecord(RecordKind::Intent, kT0 + 1s, "b1", max, 262144, 300000, "raise"));
  auto applied = knobRecord(RecordKind::Applied, kT0 + 1s, "b1", max, 262144, 300000, "raise");
  applied.ref = 2;
  records.push_back(applied);
  JournalRecord hold;
  hold.time = kT0 + 2s;
  hold.bootId = "b1";
  hold.kind = RecordKind::Hold;
  hold.until = *parseTime("2199-01-01T00:00:00Z");
  records.push_back(hold);
  JournalRecord resume = hold;
  resume.kind = RecordKind::Resume;
  resume.until.reset();
  records.push_back(resume);
  for (int i = 0; i < 20; ++i) records.push_back(knobRecord(RecordKind::Planned, kT0 + 3s, "b1", max, 1, 2, "p"));
  appendAll(dir, records);
  auto journal = FileJournal::open(dir);
  REQUIRE(journal);
  return (*journal)->records();
}

// Writes `checkpoint` with its lines replaced by `lines` (a correct checksum: anyone who can
// write the file can compute one) and returns what opening the controller's journal then says.
ControllerJournal forged(const std::string& dir, std::vector<JournalLine> lines) {
  checkpointNow(dir);
  auto checkpoint = parseCheckpoint(readFile(dir + "/" + kCheckpointName));
  REQUIRE(checkpoint);
  checkpoint->lines = std::move(lines);
  REQUIRE(writeCheckpoint(dir, *checkpoint));
  auto opened = openControllerJournal(dir, "b1");
  REQUIRE(opened);
  return std::move(*opened);
}

}  // namespace

TEST_CASE("a checkpoint claims nothing the journal does not say: each named line is read back and checked") {
  TempDir dir;
  const auto records = raisedJournal(dir.path);
  const JournalLine baseline{records[0].offset, 1}, intent{records[1].offset, 2}, applied{records[2].offset, 3};
  const JournalLine hold{records[3].offset, 4};
  struct Case {
    const char* name;
    std::vector<JournalLine> lines;
    const char* says;
  };
  const Case cases[] = {
      // The intent the raise finished, claimed unfinished: `run` would journal its outcome again
      // (an applied record of ctpilot's own, old value and all) and rollback would undo it.
      {"a finished intent claimed unfinished", {baseline, intent}, "unfinished intents are not the journal's"},
      // A record id the line does not hold (an invented intent #2 where #3 is).
      {"a line named with another record's id", {baseline, {applied.offset, 2}}, "is not record 2"},
      // An offset inside a line: whatever text follows is no journal line.
      {"an offset inside a line", {baseline, {applied.offset + 7, 3}}, "no journal line starts at byte"},
      {"an offset past the end of the journal's lines",
       {baseline, {records.back().offset + 3, 25}},
       "no journal line starts"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto opened = forged(dir.path, c.lines);
    CHECK(opened.checkpointOffset == 0);
    REQUIRE(opened.warnings.size() == 1);
    CHECK(opened.warnings[0].find(c.says) != std::string::npos);
    // The whole journal is read instead: no unfinished intent, the raise is ctpilot's last write.
    const auto view = opened.current();
    CHECK(view.unfinishedIntents().empty());
    CHECK(view.lastWrites().at({"init", policy::Knob::ConntrackMax}).value == 300000);
    CHECK(view.baselines().at({"init", policy::Knob::ConntrackMax}) == 262144);
    CHECK(view.activeHoldRecords(kT0 + 1h).empty());
  }
  // The lines a checkpoint really names are accepted, and a real line it leaves out only loses
  // what that line says: a lifted hold named again holds `run`, `status` and `resume` alike.
  auto honest = forged(dir.path, {baseline, applied, hold});
  CHECK(honest.checkpointOffset > 0);
  CHECK(honest.warnings.empty());
  CHECK(honest.current().activeHoldRecords(kT0 + 1h).size() == 1);
}

TEST_CASE("status, plan and resume read the same view as run, without writing anything") {
  TempDir dir;
  raisedJournal(dir.path);
  checkpointNow(dir.path);
  auto run = openControllerJournal(dir.path, "b1");
  auto readOnly = openControllerJournal(dir.path, "b1", JournalUse::ReadOnly);
  REQUIRE(run);
  REQUIRE(readOnly);
  CHECK(readOnly->checkpointOffset == run->checkpointOffset);
  CHECK(readOnly->checkpointOffset > 0);
  CHECK(answers(readOnly->current(), kT0 + 1h) == answers(run->current(), kT0 + 1h));
  // A checkpoint that does not match is left in place by the commands (only run removes it).
  writeFile(dir.sub(kCheckpointName), "{}");
  auto spoiled = openControllerJournal(dir.path, "b1", JournalUse::ReadOnly);
  REQUIRE(spoiled);
  CHECK(spoiled->warnings.size() == 1);
  CHECK(readFile(dir.sub(kCheckpointName)) == "{}");
  CHECK(answers(spoiled->current(), kT0 + 1h) == answers(run->current(), kT0 + 1h));
  // No journal: an empty view, and nothing created.
  TempDir empty;
  auto none = openControllerJournal(empty.sub("state"), "b1", JournalUse::ReadOnly);
  REQUIRE(none);
  CHECK_FALSE(none->journal);
  CHECK(none->current().lastId() == 0);
  CHECK_FALSE(std::filesystem::exists(empty.sub("state")));
}

TEST_CASE("commands read only this boot's records: earlier boots before them are not parsed") {
  TempDir dir;
  const policy::KnobRef max{"init", policy::Knob::ConntrackMax};
  std::vector<JournalRecord> records;
  for (int i = 0; i < 50; ++i) records.push_back(knobRecord(RecordKind::Planned, kT0, "b0", max, 1, 2, "earlier"));
  records.push_back(knobRecord(RecordKind::Baseline, kT0 + 1h, "b1", max, 262144, 262144, "baseline"));
  appendAll(dir.path, records);
  // Damage an earlier boot's line: reading it would fail, reading back from the end does not meet it.
  auto text = readFile(journalPath(dir.path));
  text.replace(text.find("\"kind\":\"planned\"", text.size() / 2), 16, "\"kind\":\"unknown\"");
  {
    std::fstream out(journalPath(dir.path), std::ios::in | std::ios::out | std::ios::binary);
    out << text;
  }
  REQUIRE_FALSE(FileJournal::open(dir.path));
  auto opened = FileJournal::openCurrentBoot(dir.path, "b1", /*readOnly=*/true);
  REQUIRE(opened);
  REQUIRE((*opened)->records().size() == 1);
  CHECK((*opened)->records().front().id == 51);
  CHECK((*opened)->position().lastId == 51);
  CHECK((*opened)->position().firstId == 1);
  auto appending = FileJournal::openCurrentBoot(dir.path, "b1");
  REQUIRE(appending);
  auto appended = (*appending)->append(knobRecord(RecordKind::Planned, kT0 + 2h, "b1", max, 1, 2, ""));
  REQUIRE(appended);
  CHECK(appended->id == 52);
}
