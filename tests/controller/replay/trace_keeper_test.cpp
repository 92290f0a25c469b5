// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/trace_keeper.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "controller/simulation.h"
#include "sysfs/sim/sim_kernel.h"
#include "tests/temp_tree.h"

namespace ctpilot::controller {

using namespace std::chrono_literals;

TEST_CASE("the daemon's trace passes reads through, replays, and rotates within its bound") {
  testing::TempTree tree("keeper");
  const auto path = (tree.root / "trace.jsonl").string();
  sysfs::SimConfig config;
  config.max = 1000;
  sysfs::SimKernel kernel(config);
  auto now = simulationEpoch();
  std::string warning;
  constexpr std::int64_t kMax = 2000;  // about eight samples
  TraceKeeper keeper(
      kernel, kernel, path, kMax, 1s, [&] { return now; }, [&](const std::string& w) { warning = w; });
  const sysfs::Netns init{"init", "", 1};

  SUBCASE("each read is the inner reader's, and each becomes a sample") {
    kernel.offer("init", sysfs::FlowClass::UdpOneWay, 10);
    const auto stats = keeper.read(init);
    REQUIRE(stats);
    CHECK(stats->entries == 10);
    now += 1s;
    REQUIRE(keeper.read(init));
    std::ifstream in(path);
    const auto trace = parseTrace(in, path);
    REQUIRE(trace);
    CHECK(trace->interval == 1s);
    REQUIRE(trace->samples.size() == 2);
    CHECK(trace->samples[0].count == 10);
    CHECK(trace->samples[0].max == 1000);
    CHECK(trace->samples[1].counters.at("insert") == 10);
  }
  SUBCASE("beyond trace_max_size the file moves to FILE.1 and a new one starts with a header") {
    for (int i = 0; i < 30; ++i) {
      REQUIRE(keeper.read(init));
      now += 1s;
    }
    CHECK(std::filesystem::file_size(path) <= static_cast<std::uintmax_t>(kMax));
    CHECK(std::filesystem::file_size(path + ".1") <= static_cast<std::uintmax_t>(kMax));
    for (const auto& file : {path, path + ".1"}) {
      std::ifstream in(file);
      CHECK(parseTrace(in, file));
    }
    CHECK(keeper.keeping());
    CHECK(warning.empty());
  }
  SUBCASE("a trace that cannot be written is given up once, and reads go on") {
    TraceKeeper broken(
        kernel, kernel, (tree.root / "missing" / "trace.jsonl").string(), kMax, 1s, [&] { return now; },
        [&](const std::string& w) { warning = w; });
    CHECK(broken.read(init));
    CHECK_FALSE(broken.keeping());
    CHECK(warning.find("cannot write") != std::string::npos);
    CHECK(broken.read(init));
  }
  // README Safety promise 13: even in dry run, what sits at FILE or FILE.1 is moved or replaced
  // only when it is a regular file; anything else ends the trace with one line, untouched.
  SUBCASE("a dangling symbolic link at the path is not followed: its target is not created") {
    const auto target = tree.root / "target";
    std::filesystem::create_symlink(target, path);
    CHECK(keeper.read(init));
    CHECK_FALSE(keeper.keeping());
    CHECK(warning.find(path + " is a symbolic link") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(target));
    CHECK(std::filesystem::is_symlink(path));
    CHECK_FALSE(std::filesystem::exists(path + ".1"));
  }
  SUBCASE("a directory at the path is not moved") {
    std::filesystem::create_directory(path);
    CHECK(keeper.read(init));
    CHECK_FALSE(keeper.keeping());
    CHECK(warning.find("is a directory") != std::string::npos);
    CHECK(std::filesystem::is_directory(path));
    CHECK_FALSE(std::filesystem::exists(path + ".1"));
  }
  SUBCASE("a FIFO at FILE.1 is not replaced when an earlier run's trace is moved aside") {
    std::ofstream(path) << "earlier\n";
    REQUIRE(::mkfifo((path + ".1").c_str(), 0600) == 0);
    CHECK(keeper.read(init));
    CHECK_FALSE(keeper.keeping());
    CHECK(warning == "not keeping the trace any more: " + path +
                         ".1 is a FIFO, not a regular file; ctpilot does not write through it or over it; remove it or "
                         "name another file");
    CHECK(std::filesystem::is_fifo(path + ".1"));
    std::ifstream in(path);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "earlier\n");
  }
  SUBCASE("an earlier run's trace is moved to FILE.1, and the new one started afresh") {
    std::ofstream(path) << "earlier\n";
    CHECK(keeper.read(init));
    CHECK(keeper.keeping());
    std::ifstream in(path + ".1");
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "earlier\n");
  }
}

}  // namespace ctpilot::controller
