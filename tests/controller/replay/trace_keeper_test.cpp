#include "controller/replay/trace_keeper.h"

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
  TraceKeeper keeper(kernel, kernel, path, kMax, 1s, [&] { return now; }, [&](const std::string& w) { warning = w; });
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
    TraceKeeper broken(kernel, kernel, (tree.root / "missing" / "trace.jsonl").string(), kMax, 1s, [&] { return now; },
                       [&](const std::string& w) { warning = w; });
    CHECK(broken.read(init));
    CHECK_FALSE(broken.keeping());
    CHECK(warning.find("cannot write") != std::string::npos);
    CHECK(broken.read(init));
  }
}

}  // namespace ctpilot::controller
