// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal_files.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace ctpilot;
using namespace ctpilot::controller;

namespace {

struct StateDir {
  StateDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ctpilot-files-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~StateDir() { std::filesystem::remove_all(path); }
  std::string read(const std::string& name) const {
    std::ifstream in(std::filesystem::path(path) / name, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(std::filesystem::path(path) / name, std::ios::binary | std::ios::trunc) << text;
  }
  std::string path;
};

std::string line(std::int64_t id, const std::string& boot) {
  return R"({"id":)" + std::to_string(id) + R"(,"time":"2026-11-27T03:05:47.123Z","boot_id":")" + boot +
         R"(","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":1,"new":2})" + "\n";
}

std::vector<std::int64_t> ids(const std::vector<JournalRecord>& records) {
  std::vector<std::int64_t> out;
  for (const auto& record : records) out.push_back(record.id);
  return out;
}

}  // namespace

TEST_CASE("earlier boots' records move to journal.jsonl.1 and history still reads them, each once") {
  StateDir dir;
  const std::string earlier = line(1, "b0") + line(2, "b0") + line(3, "b9");
  const std::string current = line(4, "b1") + line(5, "b1");
  dir.write("journal.jsonl", earlier + current);

  const auto moved = rotateJournal(dir.path, "b1");
  REQUIRE(moved.has_value());
  CHECK(*moved == 3);
  CHECK(dir.read("journal.jsonl.1") == earlier);
  CHECK(dir.read("journal.jsonl") == current);
  CHECK(rotateJournal(dir.path, "b1").value() == 0);  // nothing left to move

  std::vector<std::string> warnings;
  CHECK(ids(readAllJournals(dir.path, warnings).value()) == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  CHECK(ids(readJournalTail(dir.path, 2).value()) == std::vector<std::int64_t>{4, 5});
  CHECK(ids(readJournalTail(dir.path, 4).value()) == std::vector<std::int64_t>{2, 3, 4, 5});
  CHECK(ids(readJournalTail(dir.path, 100).value()) == std::vector<std::int64_t>{1, 2, 3, 4, 5});

  SUBCASE("the next boot appends to journal.jsonl.1") {
    dir.write("journal.jsonl", current + line(6, "b2"));
    CHECK(rotateJournal(dir.path, "b2").value() == 2);
    CHECK(dir.read("journal.jsonl.1") == earlier + current);
    CHECK(dir.read("journal.jsonl") == line(6, "b2"));
  }
  SUBCASE("a journal opened after everything moved continues the ids, never reusing one") {
    dir.write("journal.jsonl", line(6, "b2"));
    CHECK(rotateJournal(dir.path, "b3").value() == 1);
    CHECK(dir.read("journal.jsonl").empty());
    auto journal = FileJournal::open(dir.path);
    REQUIRE(journal.has_value());
    JournalRecord record;
    record.kind = RecordKind::Resume;
    record.bootId = "b3";
    CHECK((*journal)->append(record).value().id == 7);
  }
  SUBCASE("a journal opened after the move continues the ids") {
    auto journal = FileJournal::open(dir.path);
    REQUIRE(journal.has_value());
    JournalRecord record;
    record.kind = RecordKind::Resume;
    record.bootId = "b1";
    CHECK((*journal)->append(record).value().id == 6);
  }
}

TEST_CASE("a rotation cut short by a crash is finished by the next one without duplicates") {
  StateDir dir;
  // .1 was replaced, journal.jsonl not yet.
  dir.write("journal.jsonl.1", line(1, "b0") + line(2, "b0"));
  dir.write("journal.jsonl", line(1, "b0") + line(2, "b0") + line(3, "b1"));
  std::vector<std::string> warnings;
  CHECK(ids(readAllJournals(dir.path, warnings).value()) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(ids(readJournalTail(dir.path, 10).value()) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(rotateJournal(dir.path, "b1").value() == 0);
  CHECK(dir.read("journal.jsonl.1") == line(1, "b0") + line(2, "b0"));
  CHECK(dir.read("journal.jsonl") == line(3, "b1"));
}

TEST_CASE("a torn last line stays in journal.jsonl for its reader to repair, and the tail skips it") {
  StateDir dir;
  dir.write("journal.jsonl", line(1, "b0") + line(2, "b1") + R"({"id":3,"ti)");
  CHECK(rotateJournal(dir.path, "b1").value() == 1);
  CHECK(dir.read("journal.jsonl") == line(2, "b1") + R"({"id":3,"ti)");
  CHECK(ids(readJournalTail(dir.path, 5).value()) == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("a journal of this boot only, or none at all, is left alone") {
  StateDir dir;
  CHECK(rotateJournal(dir.path, "b1").value() == 0);
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(dir.path) / "journal.jsonl"));
  dir.write("journal.jsonl", line(1, "b1"));
  CHECK(rotateJournal(dir.path, "b1").value() == 0);
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(dir.path) / "journal.jsonl.1"));
}

TEST_CASE(
    "rollback's count of earlier boots' changes reads each file back a bounded number of lines, each record once") {
  StateDir dir;
  SUBCASE("both files, with a copy a rotation cut short left in both: every change once") {
    dir.write("journal.jsonl.1", line(1, "b0") + line(2, "b0") + line(3, "b9"));
    dir.write("journal.jsonl", line(3, "b9") + line(4, "b9") + line(5, "b1"));
    const auto counted = countEarlierBootChanges(dir.path, "b1", 5);
    REQUIRE(counted.has_value());
    CHECK(counted->count == 4);
    CHECK(counted->complete);
  }
  SUBCASE("more earlier-boot lines than the bound: the count stops there and says so") {
    std::string earlier;
    for (std::int64_t id = 1; id <= kEarlierBootScanLines + 5; ++id) earlier += line(id, "b0");
    dir.write("journal.jsonl", earlier + line(kEarlierBootScanLines + 6, "b1"));
    const auto counted = countEarlierBootChanges(dir.path, "b1", kEarlierBootScanLines + 6);
    REQUIRE(counted.has_value());
    CHECK(counted->count == kEarlierBootScanLines - 1);  // the bound counts this boot's line too
    CHECK_FALSE(counted->complete);
  }
  SUBCASE("no journal: nothing to count") {
    const auto counted = countEarlierBootChanges(dir.path, "b1", 0);
    REQUIRE(counted.has_value());
    CHECK(counted->count == 0);
    CHECK(counted->complete);
  }
}
