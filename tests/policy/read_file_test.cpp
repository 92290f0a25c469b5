// SPDX-License-Identifier: Apache-2.0
#include "policy/read_file.h"

#include <fcntl.h>

#include <string>

#include <doctest/doctest.h>

#include "tests/temp_tree.h"

namespace ctpilot {

TEST_CASE("readAll reads an open file to its end, and no further than the bound it is given") {
  testing::TempTree tree("read-all");
  const std::string text(100'000, 'x');  // more than one read(2) of the 64 KiB buffer
  tree.write("/f", text);
  const auto path = tree.at("/f").string();
  SUBCASE("within the bound: every byte") {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    const auto read = readAll(fd.get(), text.size(), path);
    REQUIRE(read);
    CHECK(*read == text);
  }
  SUBCASE("one byte beyond the bound: refused, naming the file and the bound") {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    const auto read = readAll(fd.get(), text.size() - 1, path);
    REQUIRE_FALSE(read);
    CHECK(read.error().code == Errc::Malformed);
    CHECK(read.error().what == path + " is larger than 99999 bytes; is this the right file?");
  }
  SUBCASE("readRegularFile is openRegularFile and readAll") {
    CHECK(readRegularFile(path, text.size()).value_or("") == text);
    CHECK_FALSE(readRegularFile(path, 10));
  }
}

TEST_CASE("readAt reads a span at an offset whole, and only what is there at the end of the file") {
  testing::TempTree tree("read-at");
  tree.write("/f", "0123456789");
  const auto path = tree.at("/f").string();
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(readAt(fd.get(), 2, 3, path).value_or("") == "234");
  CHECK(readAt(fd.get(), 8, 5, path).value_or("?") == "89");
  CHECK(readAt(fd.get(), 20, 5, path).value_or("?").empty());
  const auto bad = readAt(-1, 0, 1, path);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().what == "read " + path + ": Bad file descriptor");
}

}  // namespace ctpilot
