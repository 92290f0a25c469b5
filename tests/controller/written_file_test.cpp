// SPDX-License-Identifier: Apache-2.0
// README Safety promise 13: the files ctpilot writes outside its state directory (textfile,
// trace_file, record --out) are never written through a link, a FIFO, a device or a directory,
// and what is found there is left as it was.
#include "controller/written_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "controller/metrics/textfile.h"
#include "tests/temp_tree.h"

namespace ctpilot::controller {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("openWrittenFile writes only regular files and leaves anything else as it was") {
  testing::TempTree tree("written");
  const auto path = (tree.root / "out").string();
  SUBCASE("a new file is created; an existing one is refused or truncated as asked") {
    auto fd = openWrittenFile(path, ExistingFile::Refuse);
    REQUIRE(fd);
    REQUIRE(writeAll(fd->get(), "hello", path));
    const auto again = openWrittenFile(path, ExistingFile::Refuse);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::Busy);
    CHECK(slurp(path) == "hello");
    REQUIRE(openWrittenFile(path, ExistingFile::Truncate));
    CHECK(slurp(path).empty());
  }
  SUBCASE("a FIFO is refused at once, without a reader or with one") {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    for (const auto existing : {ExistingFile::Refuse, ExistingFile::Truncate}) {
      const auto fd = openWrittenFile(path, existing);
      REQUIRE_FALSE(fd);
      CHECK(fd.error().what == path +
                                   " is a FIFO, not a regular file; ctpilot does not write through it or over it; "
                                   "remove it or name another file");
    }
    CHECK(fs::is_fifo(path));
  }
  SUBCASE("a symbolic link, dangling or not, is not followed and its target is not created") {
    const auto target = tree.root / "target";
    fs::create_symlink(target, path);
    CHECK_FALSE(openWrittenFile(path, ExistingFile::Truncate));
    CHECK_FALSE(fs::exists(target));
    std::ofstream(target) << "kept";
    const auto fd = openWrittenFile(path, ExistingFile::Truncate);
    REQUIRE_FALSE(fd);
    CHECK(fd.error().what.find("is a symbolic link") != std::string::npos);
    CHECK(slurp(target) == "kept");
  }
  SUBCASE("a directory is refused") {
    fs::create_directory(path);
    const auto fd = openWrittenFile(path, ExistingFile::Truncate);
    REQUIRE_FALSE(fd);
    CHECK(fd.error().what.find("is a directory") != std::string::npos);
  }
  SUBCASE("a device is refused and never opened") {
    fs::create_symlink("/dev/null", path);  // as good as a device node for lstat: refused before open
    CHECK_FALSE(checkReplaceable(path));
    CHECK(checkReplaceable("/dev/null").error().what.find("is a device") != std::string::npos);
  }
}

TEST_CASE("the textfile is written through a temporary file it creates itself, over a regular file only") {
  testing::TempTree tree("textfile");
  const auto path = (tree.root / "ctpilot.prom").string();
  const auto temp = path + ".tmp." + std::to_string(::getpid());
  SUBCASE("written and replaced") {
    REQUIRE(metrics::writeTextfile(path, "a 1\n"));
    REQUIRE(metrics::writeTextfile(path, "a 2\n"));
    CHECK(slurp(path) == "a 2\n");
    CHECK_FALSE(fs::exists(temp));
    CHECK((fs::status(path).permissions() & fs::perms::others_read) != fs::perms::none);
  }
  SUBCASE("a FIFO planted at the temporary name is refused at once and left there (it froze the daemon)") {
    REQUIRE(::mkfifo(temp.c_str(), 0600) == 0);
    const auto written = metrics::writeTextfile(path, "a 1\n");
    REQUIRE_FALSE(written);
    CHECK(written.error().what.find("is a FIFO") != std::string::npos);
    CHECK(fs::is_fifo(temp));
    CHECK_FALSE(fs::exists(path));
  }
  SUBCASE("a symbolic link at the temporary name is not followed") {
    const auto target = tree.root / "elsewhere";
    fs::create_symlink(target, temp);
    CHECK_FALSE(metrics::writeTextfile(path, "a 1\n"));
    CHECK_FALSE(fs::exists(target));
  }
  SUBCASE("a leftover regular file at the temporary name (an earlier run with our pid) is replaced") {
    std::ofstream(temp) << "stale";
    REQUIRE(metrics::writeTextfile(path, "a 1\n"));
    CHECK(slurp(path) == "a 1\n");
  }
  SUBCASE("a directory or a FIFO at the path itself is not renamed over") {
    fs::create_directory(path);
    const auto written = metrics::writeTextfile(path, "a 1\n");
    REQUIRE_FALSE(written);
    CHECK(written.error().what.find("is a directory") != std::string::npos);
    CHECK(fs::is_directory(path));
    CHECK_FALSE(fs::exists(temp));
    fs::remove(path);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK_FALSE(metrics::writeTextfile(path, "a 1\n"));
    CHECK(fs::is_fifo(path));
  }
}

}  // namespace ctpilot::controller
