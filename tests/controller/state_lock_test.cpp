// SPDX-License-Identifier: Apache-2.0
#include "controller/state_lock.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <doctest/doctest.h>

using ctpilot::controller::StateLock;

TEST_CASE("a second lock on the same state directory fails and names the holder's pid") {
  const auto dir = std::filesystem::temp_directory_path() / ("ctpilot-lock-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    auto first = StateLock::acquire(dir.string());
    REQUIRE(first);
    std::ifstream pidFile(dir / "lock");
    std::string pid;
    pidFile >> pid;
    CHECK(pid == std::to_string(::getpid()));

    auto second = StateLock::acquire(dir.string());
    REQUIRE_FALSE(second);
    CHECK(second.error().code == ctpilot::Errc::Busy);
    CHECK(second.error().what == "another ctpilot (pid " + std::to_string(::getpid()) + ") holds " +
                                     (dir / "lock").string() + "; stop it first");
  }
  SUBCASE("released when the holder goes away") {
    auto again = StateLock::acquire(dir.string());
    CHECK(again);
  }
  SUBCASE("a directory that does not exist is created (run starts on a fresh machine)") {
    auto created = StateLock::acquire((dir / "nope").string());
    CHECK(created);
    CHECK(std::filesystem::is_regular_file(dir / "nope" / "lock"));
  }
  std::filesystem::remove_all(dir);
}
