// SPDX-License-Identifier: Apache-2.0
// README Safety promise 12: the state directory is ctpilot's alone. No symlink in it is
// followed, it is created 0750 with files 0640, and one that others can write is refused.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "controller/state_dir.h"
#include "controller/state_lock.h"
#include "tests/temp_tree.h"

using namespace ctpilot;
using namespace ctpilot::controller;
using ctpilot::testing::TempTree;

namespace {

mode_t modeOf(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Pins the umask for one test so the created modes are the ones ctpilot asks for.
struct Umask {
  explicit Umask(mode_t mask) : old(::umask(mask)) {}
  ~Umask() { ::umask(old); }
  mode_t old;
};

const std::string kRecord =
    R"({"id":1,"time":"2026-01-01T00:00:00Z","kind":"baseline","boot_id":"b","knob":"nf_conntrack_max","old":1000,"new":1000})"
    "\n";

}  // namespace

TEST_CASE("a fresh state directory is created 0750 with its journal and lock 0640") {
  Umask mask(022);
  TempTree tree("statedir");
  const auto dir = tree.at("/var/lib/ctpilot");
  auto lock = StateLock::acquire(dir.string());
  REQUIRE(lock);
  auto journal = FileJournal::open(dir.string());
  REQUIRE(journal);
  CHECK(modeOf(dir) == 0750);
  CHECK(modeOf(dir.parent_path()) == 0750);
  CHECK(modeOf(dir / "lock") == 0640);
  CHECK(modeOf(dir / "journal.jsonl") == 0640);
}

TEST_CASE("a symlinked journal or lock is refused and its target left untouched") {
  TempTree tree("statedir");
  tree.dir("/state");
  tree.write("/elsewhere/precious", "one line without a newline");
  const std::string dir = tree.at("/state").string();
  SUBCASE("journal") {
    tree.link("/state/journal.jsonl", tree.at("/elsewhere/precious").string());
    auto journal = FileJournal::open(dir);
    REQUIRE_FALSE(journal);
    CHECK(journal.error().what == dir +
                                      "/journal.jsonl is a symbolic link, which ctpilot does not follow in its state "
                                      "directory; remove it");
    auto records = readJournalFile(dir + "/journal.jsonl");
    REQUIRE_FALSE(records);
    CHECK(records.error().what.find("symbolic link") != std::string::npos);
  }
  SUBCASE("lock") {
    tree.link("/state/lock", tree.at("/elsewhere/precious").string());
    auto lock = StateLock::acquire(dir);
    REQUIRE_FALSE(lock);
    CHECK(lock.error().code != Errc::Busy);
    CHECK(lock.error().what.find("symbolic link") != std::string::npos);
  }
  SUBCASE("a dangling link is not created through") {
    tree.link("/state/journal.jsonl", tree.at("/elsewhere/new").string());
    CHECK_FALSE(FileJournal::open(dir));
    CHECK_FALSE(std::filesystem::exists(tree.at("/elsewhere/new")));
  }
  SUBCASE("the state directory itself") {
    tree.link("/linked", dir);
    auto journal = FileJournal::open(tree.at("/linked").string());
    REQUIRE_FALSE(journal);
    CHECK(journal.error().what.find("is a symbolic link") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(tree.at("/state/journal.jsonl")));
  }
  CHECK(tree.read("/elsewhere/precious") == "one line without a newline");
}

TEST_CASE("a state directory or journal that others can write is refused with the chmod to run") {
  TempTree tree("statedir");
  tree.write("/state/journal.jsonl", kRecord);
  const auto dir = tree.at("/state");
  SUBCASE("a 0666 journal") {
    std::filesystem::permissions(dir / "journal.jsonl", std::filesystem::perms(0666));
    auto journal = FileJournal::open(dir.string());
    REQUIRE_FALSE(journal);
    CHECK(journal.error().what == (dir / "journal.jsonl").string() +
                                      " is writable by group or others (mode 0666); run chmod 0640 " +
                                      (dir / "journal.jsonl").string());
    CHECK_FALSE(readJournalFile((dir / "journal.jsonl").string()));
  }
  SUBCASE("a 0777 directory") {
    std::filesystem::permissions(dir, std::filesystem::perms(0777));
    auto journal = FileJournal::open(dir.string());
    REQUIRE_FALSE(journal);
    CHECK(journal.error().what == "state directory " + dir.string() +
                                      " is writable by group or others (mode 0777); run chmod 0750 " + dir.string());
    CHECK_FALSE(StateLock::acquire(dir.string()));
    CHECK_FALSE(readJournalFile((dir / "journal.jsonl").string()));
  }
  SUBCASE("a 0755 directory and a 0644 journal (older versions) are fine") {
    std::filesystem::permissions(dir, std::filesystem::perms(0755));
    std::filesystem::permissions(dir / "journal.jsonl", std::filesystem::perms(0644));
    auto journal = FileJournal::open(dir.string());
    REQUIRE(journal);
    CHECK((*journal)->records().size() == 1);
  }
}

TEST_CASE("a state directory owned by another user is refused") {
  if (::geteuid() != 0) return;  // only root can give a directory away; CI runs as root
  TempTree tree("statedir");
  tree.write("/state/journal.jsonl", kRecord);
  const auto dir = tree.at("/state");
  SUBCASE("the directory") {
    REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
    auto journal = FileJournal::open(dir.string());
    REQUIRE_FALSE(journal);
    CHECK(journal.error().what == "state directory " + dir.string() +
                                      " is owned by uid 65534, not by the user running ctpilot (uid 0) or root; run "
                                      "chown 0 " +
                                      dir.string());
  }
  SUBCASE("the journal") {
    REQUIRE(::chown((dir / "journal.jsonl").c_str(), 65534, 65534) == 0);
    CHECK_FALSE(FileJournal::open(dir.string()));
  }
}

TEST_CASE("a FIFO or directory in place of the journal is refused without blocking") {
  TempTree tree("statedir");
  tree.dir("/state");
  const auto dir = tree.at("/state");
  SUBCASE("FIFO") { REQUIRE(::mkfifo((dir / "journal.jsonl").c_str(), 0600) == 0); }
  SUBCASE("directory") { tree.dir("/state/journal.jsonl"); }
  auto journal = FileJournal::open(dir.string());
  REQUIRE_FALSE(journal);
  CHECK(journal.error().what ==
        (dir / "journal.jsonl").string() + " is not a regular file; remove it or pass --state-dir");
  CHECK_FALSE(readJournalFile((dir / "journal.jsonl").string()));
}

TEST_CASE("a state directory path that names a file is an error, a missing one is no journal") {
  TempTree tree("statedir");
  tree.write("/file", "x");
  auto onFile = stateFileExists(tree.at("/file").string(), "journal.jsonl");
  REQUIRE_FALSE(onFile);
  CHECK(onFile.error().what ==
        "state directory " + tree.at("/file").string() + " is not a directory; pass --state-dir DIR");
  auto missing = stateFileExists(tree.at("/nope").string(), "journal.jsonl");
  REQUIRE(missing);
  CHECK_FALSE(*missing);
  CHECK_FALSE(std::filesystem::exists(tree.at("/nope")));
}
