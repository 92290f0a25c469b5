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
        if (!intents.empty() && pick(5) != 0) r.ref = intents[static_cast<std::size_t>(pick(static_cast<int>(intents.size())))];
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
      default:
        break;
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
  for (const auto& [ref, w] : view.lastWrites()) out << " " << ref.netns << "/" << int(ref.knob) << "=" << w.value << "#" << w.recordId;
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
    for (const auto& [ref, id] : view.externalRecordIds(since)) out << " " << ref.netns << "/" << int(ref.knob) << "#" << id;
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
  REQUIRE(writeCheckpoint(dir, JournalCheckpoint{(*journal)->position(), view}));
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
  // text and fed the rest answers every question as a view of the whole journal does, and as a
  // full (Everything) view does.
  for (unsigned seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    const auto records = randomJournal(rng, 300);
    const auto now = records.back().time + 30s;
    const auto whole = fold(records, 0, records.size(), JournalView("b1", ViewScope::Controller));
    const auto everything = fold(records, 0, records.size(), JournalView("b1"));
    REQUIRE(answers(whole, now) == answers(everything, now));
    for (int cut = 0; cut < 5; ++cut) {
      const auto at = 1 + rng() % (records.size() - 1);
      CAPTURE(seed);
      CAPTURE(at);
      const auto before = fold(records, 0, at, JournalView("b1", ViewScope::Controller));
      JournalPosition position{100, static_cast<std::int64_t>(at), records[at - 1].id, 1, 7};
      const auto text = checkpointText(JournalCheckpoint{position, before});
      auto parsed = parseCheckpoint(text);
      REQUIRE(parsed);
      CHECK(parsed->position == position);
      CHECK(checkpointText(*parsed) == text);
      const auto resumed = fold(records, at, records.size(), std::move(parsed->view));
      CHECK(answers(resumed, now) == answers(whole, now));
    }
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
      {"the checkpoint cut short", [](const TempDir& d) { writeFile(d.sub(kCheckpointName), readFile(d.sub(kCheckpointName)).substr(0, 100)); }},
      {"an empty checkpoint", [](const TempDir& d) { writeFile(d.sub(kCheckpointName), ""); }},
      {"another format",
       [](const TempDir& d) {
         auto text = readFile(d.sub(kCheckpointName));
         text.replace(text.find("\"format\":1"), 10, "\"format\":2");
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
  const auto view = [](const char* json) { return JournalView::fromCheckpointJson(nlohmann::json::parse(json), "b1"); };
  const char* base = R"({"last_id":10,"other_boot_applied":0,"baselines":[],"last_writes":[],"external":[],"applied":[],"unfinished":[],"holds":[],"timed_resizes":[]})";
  REQUIRE(view(base));
  struct Bad {
    const char* json;
    const char* says;
  };
  const Bad bad[] = {
      {R"({"last_id":10})", "missing field 'other_boot_applied'"},
      {R"({"last_id":"10","other_boot_applied":0})", "field 'last_id': expected an integer"},
      {R"({"last_id":-1,"other_boot_applied":0})", "field 'last_id': below 0"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[{"netns":"init","knob":"nf_conntrack_maxx","value":1}]})",
       "known knob"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[{"netns":"","knob":"nf_conntrack_max","value":1}]})",
       "a netns and a known knob"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[],"last_writes":[{"netns":"init","knob":"nf_conntrack_max","value":1,"id":11}]})",
       "above last_id"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[],"last_writes":[],"external":[],"applied":[{"netns":"init","knob":"nf_conntrack_max","time":"9999-01-01T00:00:00Z","from":1,"to":2}]})",
       "field 'time'"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[],"last_writes":[],"external":[],"applied":[],"unfinished":[{"id":3,"time":"2026-11-27T03:00:00Z","boot_id":"b0","kind":"intent","netns":"init","knob":"nf_conntrack_max","new":5}]})",
       "not a intent of this view"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":[],"last_writes":[],"external":[],"applied":[],"unfinished":[],"holds":[{"id":3,"time":"2026-11-27T03:00:00Z","boot_id":"b1","kind":"hold"}]})",
       "has no until"},
      {R"({"last_id":10,"other_boot_applied":0,"baselines":{},"last_writes":[]})", "field 'baselines': expected an array"},
      {R"([1,2])", "expected an object"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.json);
    const auto parsed = view(b.json);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::Malformed);
    CHECK(parsed.error().what.find(b.says) != std::string::npos);
  }
  CHECK_FALSE(parseCheckpoint(std::string(100000, '[')));
  CHECK_FALSE(parseCheckpoint("{\"format\":1e400}"));
  CHECK_FALSE(parseCheckpoint("{\"format\":1}"));
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
