// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "tests/temp_tree.h"

using namespace ctpilot;
using namespace ctpilot::controller;
using namespace std::chrono_literals;
using ctpilot::testing::readFile;
using ctpilot::testing::writeFile;

namespace {

struct TempDir : ctpilot::testing::TempDir {
  TempDir() : ctpilot::testing::TempDir("journal") {}
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

policy::TimePoint at(const char* rfc3339) {
  const auto parsed = parseTime(rfc3339);
  REQUIRE(parsed.has_value());
  return *parsed;
}

JournalRecord applied(std::int64_t from, std::int64_t to) {
  JournalRecord r;
  r.time = at("2026-11-27T03:05:47.123Z");
  r.bootId = "b1";
  r.kind = RecordKind::Applied;
  r.netns = "init";
  r.knob = policy::Knob::ConntrackMax;
  r.oldValue = from;
  r.newValue = to;
  r.reason = "fill 0.91 >= high_water 0.80";
  return r;
}

std::string line(std::int64_t id, const std::string& kind = "applied") {
  return R"({"id":)" + std::to_string(id) + R"(,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":")" + kind +
         R"(","netns":"init","knob":"nf_conntrack_max","old":1,"new":2})";
}

// readJournalFile's error text ("" when it read the file).
std::string readJournalFileForTest(const std::string& path) {
  const auto records = readJournalFile(path);
  return records ? std::string() : records.error().what;
}

}  // namespace

TEST_CASE("every record kind has a journal name that parses back to it") {
  const std::vector<std::pair<RecordKind, std::string>> rows{
      {RecordKind::Baseline, "baseline"}, {RecordKind::Intent, "intent"},     {RecordKind::Applied, "applied"},
      {RecordKind::Failed, "failed"},     {RecordKind::External, "external"}, {RecordKind::Planned, "planned"},
      {RecordKind::Rollback, "rollback"}, {RecordKind::Hold, "hold"},         {RecordKind::Resume, "resume"},
  };
  for (const auto& [kind, name] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    CHECK(std::string(recordKindName(kind)) == name);
    CHECK(recordKindByName(name) == kind);
  }
  CHECK_FALSE(recordKindByName("applyed").has_value());
}

TEST_CASE("times are RFC 3339 UTC with milliseconds and parse back exactly") {
  const auto t = at("2026-11-27T03:05:47.123Z");
  CHECK(formatTime(t) == "2026-11-27T03:05:47.123Z");
  CHECK(formatTime(at("2026-11-27T03:05:47Z")) == "2026-11-27T03:05:47.000Z");
  SUBCASE("an offset is converted to UTC") {
    CHECK(formatTime(at("2026-11-27T05:05:47.123+02:00")) == "2026-11-27T03:05:47.123Z");
  }
  SUBCASE("malformed times are refused") {
    for (const char* bad : {"", "2026-11-27", "2026-11-27 03:05:47Z", "2026-13-01T00:00:00Z", "2026-11-27T03:05:47",
                            "2026-11-27T03:05:47.Z", "2026-11-27T03:05:47Zjunk"}) {
      CAPTURE(bad);
      CHECK_FALSE(parseTime(bad).has_value());
    }
  }
}

TEST_CASE("a record of every kind survives the trip to JSON and back") {
  std::vector<JournalRecord> rows;
  JournalRecord baseline = applied(0, 65536);
  baseline.kind = RecordKind::Baseline;
  baseline.oldValue.reset();
  baseline.reason = "value before the first change this boot";
  rows.push_back(baseline);
  JournalRecord intent = applied(65536, 131072);
  intent.kind = RecordKind::Intent;
  intent.observation = {{"fill", 0.91}, {"growth_per_sec", 850}};
  intent.cause = {{"code", "high_water"}, {"netns", "init"}, {"fill", 0.91}, {"then", {{{"code", "target_fill"}}}}};
  rows.push_back(intent);
  JournalRecord done = applied(65536, 131072);
  done.ref = 2;
  rows.push_back(done);
  JournalRecord failed = applied(120, 60);
  failed.kind = RecordKind::Failed;
  failed.netns = "gw";
  failed.knob = policy::Knob::TcpTimeoutTimeWait;
  failed.error = "write /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait: Read-only file system";
  rows.push_back(failed);
  JournalRecord external = applied(131072, 100000);
  external.kind = RecordKind::External;
  rows.push_back(external);
  JournalRecord planned = applied(131072, 262144);
  planned.kind = RecordKind::Planned;
  rows.push_back(planned);
  JournalRecord rollback = applied(131072, 65536);
  rollback.kind = RecordKind::Rollback;
  rollback.ref = 3;
  rollback.reason = "rollback of #3";
  rows.push_back(rollback);
  JournalRecord hold;
  hold.time = at("2026-11-27T03:06:00Z");
  hold.bootId = "b1";
  hold.kind = RecordKind::Hold;
  hold.until = at("2026-11-27T04:06:00Z");
  hold.reason = "rollback --all";
  rows.push_back(hold);
  JournalRecord resume = hold;
  resume.kind = RecordKind::Resume;
  resume.until.reset();
  rows.push_back(resume);

  std::int64_t id = 1;
  for (auto& record : rows) {
    record.id = id++;
    CAPTURE(recordKindName(record.kind));
    const auto back = recordFromJson(toJson(record));
    REQUIRE(back.has_value());
    CHECK(toJsonLine(*back) == toJsonLine(record));
    CHECK(back->time == record.time);
    CHECK(back->knob == record.knob);
    CHECK(back->oldValue == record.oldValue);
    CHECK(back->newValue == record.newValue);
    CHECK(back->ref == record.ref);
    CHECK(back->until == record.until);
    CHECK(back->observation == record.observation);
    CHECK(back->cause == record.cause);
    CHECK(back->error == record.error);
  }

  SUBCASE("the line has its keys in a fixed order and leaves out fields without a value") {
    CHECK(toJsonLine(rows[2]) ==
          R"({"id":3,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"applied","netns":"init",)"
          R"("knob":"nf_conntrack_max","old":65536,"new":131072,"reason":"fill 0.91 >= high_water 0.80","ref":2})");
    CHECK(toJsonLine(rows[7]) ==
          R"({"id":8,"time":"2026-11-27T03:06:00.000Z","boot_id":"b1","kind":"hold","reason":"rollback --all",)"
          R"("until":"2026-11-27T04:06:00.000Z"})");
  }
}

TEST_CASE("a change's record carries its reason in words and its cause as data; older records have no cause") {
  using policy::Cause;
  using policy::Fact;
  using policy::Reason;
  Cause trigger{Reason::Drops, "gw", std::nullopt, {}, {}};
  trigger.with(Fact::Drops, 12.5).with(Fact::EarlyDrops, 0).with(Fact::Count, 65'536).with(Fact::Max, 65'536);
  trigger.with(Fact::Fill, 1);
  Cause rule{Reason::DropsDouble, "", std::nullopt, {}, {}};
  rule.with(Fact::Factor, 2);
  Cause budget{Reason::BudgetBounded, "", std::nullopt, {}, {{"gw", 65'536}, {"lab", 10}}};
  budget.with(Fact::Budget, 100'000).with(Fact::Total, 65'546);
  const policy::Action action{
      policy::ActionKind::RaiseMax, {"init", policy::Knob::ConntrackMax}, 65'536, 100'000, {trigger, rule, budget}};
  auto record = actionRecord(RecordKind::Intent, at("2026-11-27T03:05:47Z"), "b1", action);
  record.id = 1;
  CHECK(record.reason == policy::reasonText(action));
  CHECK(record.cause == nlohmann::json::parse(R"({"code":"drops","netns":"gw","drops_per_s":12.5,
      "early_drops_per_s":0,"count":65536,"max":65536,"fill":1,"then":[{"code":"drops_double","factor":2},
      {"code":"budget_bounded","budget_entries":100000,"total_entries":65546,
       "namespaces":[{"netns":"gw","count":65536},{"netns":"lab","count":10}]}]})"));
  const auto line = toJsonLine(record);
  CHECK(line.find(R"(,"cause":{"code":"drops",)") != std::string::npos);
  const auto back = parseJournalLine(line);
  REQUIRE(back.has_value());
  CHECK(back->cause == record.cause);

  const auto old = parseJournalLine(R"({"id":1,"time":"2026-11-27T03:05:47Z","boot_id":"b1","kind":"applied",)"
                                    R"("netns":"init","knob":"nf_conntrack_max","old":1,"new":2,"reason":"fill"})");
  REQUIRE(old.has_value());
  CHECK(old->cause.is_null());
  CHECK(toJsonLine(*old).find("cause") == std::string::npos);
  CHECK(causeJson({}).is_null());
}

TEST_CASE("a record that cannot be understood is Malformed and names the field") {
  const std::vector<std::pair<std::string, std::string>> rows{
      {R"([1,2])", "expected a JSON object"},
      {R"({"time":"2026-11-27T03:05:47Z","kind":"applied"})", "missing field 'id'"},
      {R"({"id":0,"time":"2026-11-27T03:05:47Z","kind":"applied"})", "field 'id'"},
      {R"({"id":1,"kind":"applied"})", "missing field 'time'"},
      {R"({"id":1,"time":"yesterday","kind":"applied"})", "field 'time'"},
      {R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"tuned"})", "field 'kind'"},
      {R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"applied","knob":"nf_conntrack_maxx"})", "field 'knob'"},
      {R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"applied","old":"65536"})", "field 'old'"},
      {R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"applied","new":1.5})", "field 'new'"},
      {R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"hold","until":"soon"})", "field 'until'"},
  };
  for (const auto& [text, expected] : rows) {
    const auto& label = text;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    const auto record = recordFromJson(nlohmann::json::parse(text));
    REQUIRE_FALSE(record.has_value());
    CHECK(record.error().code == Errc::Malformed);
    CHECK(record.error().what.find(expected) != std::string::npos);
  }
  SUBCASE("null is read as an absent field, and a knob may be given by its policy name") {
    const auto record = recordFromJson(nlohmann::json::parse(
        R"({"id":1,"time":"2026-11-27T03:05:47Z","kind":"applied","old":null,"knob":"tcp_timeout_time_wait"})"));
    REQUIRE(record.has_value());
    CHECK_FALSE(record->oldValue.has_value());
    CHECK(record->knob == policy::Knob::TcpTimeoutTimeWait);
  }
}

TEST_CASE("the file journal creates its directory and appends records with increasing ids") {
  TempDir tmp;
  const std::string dir = tmp.sub("state/ctpilot");
  auto journal = FileJournal::open(dir);
  REQUIRE(journal.has_value());
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
  CHECK((*journal)->records().empty());

  for (int i = 0; i < 3; ++i) {
    const auto stored = (*journal)->append(applied(1000 + i, 2000 + i));
    REQUIRE(stored.has_value());
    CHECK(stored->id == i + 1);
  }

  SUBCASE("each record is in the file, one line each, as soon as append returns") {
    const auto text = readFile(dir + "/journal.jsonl");
    const auto fileLines = lines(text);
    REQUIRE(fileLines.size() == 3);
    CHECK(text.back() == '\n');
    CHECK(fileLines[2] == toJsonLine((*journal)->records()[2]));
  }
  SUBCASE("a journal opened again reads the same records and continues the ids") {
    auto again = FileJournal::open(dir);
    REQUIRE(again.has_value());
    REQUIRE((*again)->records().size() == 3);
    CHECK((*again)->warnings().empty());
    CHECK(toJsonLine((*again)->records()[1]) == toJsonLine((*journal)->records()[1]));
    const auto next = (*again)->append(applied(1, 2));
    REQUIRE(next.has_value());
    CHECK(next->id == 4);
  }
}

TEST_CASE("a torn last line is ignored with a warning and removed by the next append") {
  const std::vector<std::pair<std::string, std::string>> rows{
      {"a last line cut before its newline", line(1) + "\n" + line(2) + "\n" + R"({"id":3,"time":"2026-11)"},
      {"a complete record without its newline", line(1) + "\n" + line(2) + "\n" + line(3)},
  };
  for (const auto& [name, text] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    TempDir tmp;
    std::filesystem::create_directories(tmp.sub("state"));
    const auto path = tmp.sub("state/journal.jsonl");
    writeFile(path, text);

    auto journal = FileJournal::open(tmp.sub("state"));
    REQUIRE(journal.has_value());
    CHECK((*journal)->records().size() == 2);
    REQUIRE((*journal)->warnings().size() == 1);
    CHECK((*journal)->warnings()[0].find("journal.jsonl:3: ignored a torn last line") != std::string::npos);
    CHECK((*journal)->refresh().has_value());
    CHECK((*journal)->warnings().size() == 1);

    const auto stored = (*journal)->append(applied(5, 6));
    REQUIRE(stored.has_value());
    CHECK(stored->id == 3);
    const auto fileLines = lines(readFile(path));
    REQUIRE(fileLines.size() == 3);
    CHECK(fileLines[2] == toJsonLine(*stored));

    auto again = FileJournal::open(tmp.sub("state"));
    REQUIRE(again.has_value());
    CHECK((*again)->warnings().empty());
    CHECK((*again)->records().size() == 3);
  }
}

TEST_CASE("a bad line before the last is Malformed and names its line number") {
  const std::vector<std::tuple<std::string, std::string, std::string>> rows{
      {"not JSON", line(1) + "\n" + "garbage\n" + line(3) + "\n", "journal.jsonl:2: invalid JSON"},
      {"an unknown kind", line(1) + "\n" + line(2, "tuned") + "\n" + line(3) + "\n", "journal.jsonl:2: field 'kind'"},
      {"ids going backwards", line(1) + "\n" + line(5) + "\n" + line(4) + "\n" + line(6) + "\n",
       "journal.jsonl:3: id 4 is not greater than the previous id 5"},
      {"a line after a blank one", line(1) + "\n\n" + "{\"id\":2}\n" + line(3) + "\n",
       "journal.jsonl:3: missing field 'time'"},
  };
  for (const auto& [name, text, expected] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    TempDir tmp;
    writeFile(tmp.sub("journal.jsonl"), text);
    auto journal = FileJournal::open(tmp.path);
    REQUIRE_FALSE(journal.has_value());
    CHECK(journal.error().code == Errc::Malformed);
    CAPTURE(journal.error().what);
    CHECK(journal.error().what.find(expected) != std::string::npos);
  }
}

TEST_CASE("a complete last line that fails validation is an error naming it, never cut away, its id never reused") {
  const std::vector<std::pair<std::string, std::string>> rows{
      {"a kind from a newer version", line(3, "compacted")},
      {"an unparsable line with its newline", "{\"id\":3,\"ti"},
  };
  for (const auto& [name, last] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    TempDir tmp;
    const auto path = tmp.sub("journal.jsonl");
    const std::string text = line(1) + "\n" + line(2) + "\n" + last + "\n";
    writeFile(path, text);
    auto journal = FileJournal::open(tmp.path);
    REQUIRE_FALSE(journal.has_value());
    CHECK(journal.error().code == Errc::Malformed);
    CHECK(journal.error().what.find("journal.jsonl:3: ") != std::string::npos);
    CHECK(readFile(path) == text);
    const auto read = readJournalFileForTest(path);
    CHECK(read.find("journal.jsonl:3: ") != std::string::npos);
  }
}

TEST_CASE("lines no journal record has are errors with their line number, never a crash") {
  const std::string deep =
      R"({"id":2,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"planned","observation":)" +
      std::string(100000, '[') + std::string(100000, ']') + "}";
  const std::string deepInString =
      R"({"id":2,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"planned","reason":")" +
      std::string(1000, '[') + "\"}";
  const std::vector<std::tuple<std::string, std::string, std::string>> rows{
      {"a number beyond a double",
       R"({"id":2,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"planned","observation":{"x":1e400}})",
       "journal.jsonl:2: invalid JSON"},
      {"an integer beyond 64 bits",
       R"({"id":2,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"applied","new":99999999999999999999})",
       "journal.jsonl:2: field 'new'"},
      {"100,000 levels of nesting", deep, "journal.jsonl:2: nested deeper than 64 levels"},
      {"a time in year 0", R"({"id":2,"time":"0000-01-01T00:00:00Z","boot_id":"b1","kind":"planned"})",
       "journal.jsonl:2: field 'time': not an RFC 3339 time between 1970 and 2200"},
      {"a hold until 9999",
       R"({"id":2,"time":"2026-11-27T03:05:47.123Z","boot_id":"b1","kind":"hold","until":"9999-12-31T23:59:59Z"})",
       "journal.jsonl:2: field 'until'"},
  };
  for (const auto& [name, bad, expected] : rows) {
    const auto& label = name;  // clang 14 cannot capture a structured binding
    CAPTURE(label);
    TempDir tmp;
    writeFile(tmp.sub("journal.jsonl"), line(1) + "\n" + bad + "\n" + line(3) + "\n");
    auto journal = FileJournal::open(tmp.path);
    REQUIRE_FALSE(journal.has_value());
    CAPTURE(journal.error().what);
    CHECK(journal.error().what.find(expected) != std::string::npos);
    CHECK(readJournalFileForTest(tmp.sub("journal.jsonl")).find(expected) != std::string::npos);
  }
  // Brackets inside a string are text, not nesting.
  CHECK(parseJournalLine(deepInString).has_value());
}

TEST_CASE("two journals on one file append alternately with increasing ids and see each other's records") {
  TempDir tmp;
  auto controller = FileJournal::open(tmp.path);
  auto rollback = FileJournal::open(tmp.path);
  REQUIRE(controller.has_value());
  REQUIRE(rollback.has_value());

  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto a = (*controller)->append(applied(i, i + 1));
    REQUIRE(a.has_value());
    ids.push_back(a->id);
    auto b = (*rollback)->append(applied(i + 1, i));
    REQUIRE(b.has_value());
    ids.push_back(b->id);
  }
  CHECK(ids == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});

  SUBCASE("refresh brings in what the other appended") {
    REQUIRE((*controller)->refresh().has_value());
    REQUIRE((*controller)->records().size() == 6);
    CHECK((*controller)->records()[5].id == 6);
    CHECK((*controller)->records()[5].oldValue == 3);
  }
  SUBCASE("the file holds each record once") { CHECK(lines(readFile(tmp.sub("journal.jsonl"))).size() == 6); }
}

TEST_CASE("two processes appending at the same time leave one valid line per record, ids 1..N") {
  TempDir tmp;
  constexpr int kEach = 100;
  {
    auto created = FileJournal::open(tmp.path);
    REQUIRE(created.has_value());
  }
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  // Both open before either appends, so each must catch up on the other's lines under the lock.
  auto journal = FileJournal::open(tmp.path);
  if (child == 0) {
    int failed = journal.has_value() ? 0 : 1;
    for (int i = 0; i < kEach && failed == 0; ++i) failed = (*journal)->append(applied(i, -1)).has_value() ? 0 : 1;
    ::_exit(failed);
  }
  REQUIRE(journal.has_value());
  for (int i = 0; i < kEach; ++i) REQUIRE((*journal)->append(applied(i, 1)).has_value());
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  auto all = FileJournal::open(tmp.path);
  REQUIRE(all.has_value());
  CHECK((*all)->warnings().empty());
  REQUIRE((*all)->records().size() == 2 * kEach);
  int fromChild = 0;
  for (std::size_t i = 0; i < (*all)->records().size(); ++i) {
    CHECK((*all)->records()[i].id == static_cast<std::int64_t>(i) + 1);
    if ((*all)->records()[i].newValue == -1) ++fromChild;
  }
  CHECK(fromChild == kEach);
}

TEST_CASE("an append the disk refuses returns the error and leaves the file as it was") {
  TempDir tmp;
  {
    auto journal = FileJournal::open(tmp.path);
    REQUIRE(journal.has_value());
    REQUIRE((*journal)->append(applied(1, 2)).has_value());
  }
  const auto path = tmp.sub("journal.jsonl");
  const auto before = readFile(path);
  // A file size limit makes the kernel cut the write short (then EFBIG), as a full disk would.
  // In a child process, so the limit cannot touch the test runner's own output.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto journal = FileJournal::open(tmp.path);
    if (!journal) ::_exit(10);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{static_cast<rlim_t>(before.size() + 20), static_cast<rlim_t>(before.size() + 20)};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(11);
    const auto refused = (*journal)->append(applied(2, 3));
    if (refused.has_value()) ::_exit(12);
    if (refused.error().what.find("journal.jsonl") == std::string::npos) ::_exit(13);
    if ((*journal)->records().size() != 1) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(readFile(path) == before);
  auto journal = FileJournal::open(tmp.path);
  REQUIRE(journal.has_value());
  CHECK((*journal)->warnings().empty());
  const auto next = (*journal)->append(applied(2, 3));
  REQUIRE(next.has_value());
  CHECK(next->id == 2);
}

TEST_CASE("a state directory that cannot be created is a one-line error naming it and what to do") {
  TempDir tmp;
  writeFile(tmp.sub("file"), "not a directory");
  // A regular file in the way fails even for root, unlike permissions.
  const auto dir = tmp.sub("file/state");
  auto journal = FileJournal::open(dir);
  REQUIRE_FALSE(journal.has_value());
  CHECK(journal.error().what == "cannot create state directory " + dir + ": Not a directory; pass --state-dir");
  SUBCASE("and so is a state directory path that names a file") {
    auto onFile = FileJournal::open(tmp.sub("file"));
    REQUIRE_FALSE(onFile.has_value());
    CHECK(onFile.error().what == "state directory " + tmp.sub("file") + " is not a directory; pass --state-dir DIR");
  }
}

TEST_CASE("the memory journal assigns ids and can be made to fail") {
  MemoryJournal journal;
  CHECK(journal.append(applied(1, 2))->id == 1);
  CHECK(journal.append(applied(2, 3))->id == 2);
  // Records loaded from a file whose first ids moved to journal.jsonl.1 keep theirs (refs name them).
  auto loaded = applied(3, 4);
  loaded.id = 40;
  CHECK(journal.append(loaded)->id == 40);
  loaded.id = 7;  // not above the last: the next id
  CHECK(journal.append(loaded)->id == 41);
  journal.failAppends = true;
  CHECK_FALSE(journal.append(applied(3, 4)).has_value());
  CHECK(journal.records().size() == 4);
}
