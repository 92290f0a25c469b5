// SPDX-License-Identifier: Apache-2.0
#include "policy/unique_fd.h"

#include <fcntl.h>

#include <doctest/doctest.h>

namespace ctpilot {

namespace {
bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

TEST_CASE("UniqueFd closes its descriptor exactly once, wherever ownership went") {
  SUBCASE("going out of scope closes it") {
    int raw = -1;
    {
      const UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      raw = fd.get();
      REQUIRE(isOpen(raw));
    }
    CHECK_FALSE(isOpen(raw));
  }
  SUBCASE("a move hands it over and leaves the source empty") {
    UniqueFd first(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const int raw = first.get();
    UniqueFd second(std::move(first));
    CHECK_FALSE(first);
    CHECK(second.get() == raw);
    first.reset();
    CHECK(isOpen(raw));
    second.reset();
    CHECK_FALSE(isOpen(raw));
  }
  SUBCASE("release gives it up without closing") {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    const int raw = fd.release();
    CHECK_FALSE(fd);
    CHECK(isOpen(raw));
    ::close(raw);
  }
}

}  // namespace ctpilot
