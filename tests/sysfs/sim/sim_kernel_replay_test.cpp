// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "sysfs/sim/sim_kernel.h"

namespace ctpilot::sysfs {

using namespace std::chrono_literals;

TEST_CASE("recorded demand fed to the simulated kernel is admitted, refused and departs as recorded") {
  SimConfig config;
  config.max = 100;
  config.buckets = 4096;
  SimKernel kernel(config);
  kernel.seedRecorded("init", 100);
  REQUIRE(kernel.count("init") == 100);

  SUBCASE("a full table drops what has no room") {
    CHECK(kernel.feed("init", DemandStep{.arrivals = 30}) == 0);
    CHECK(kernel.count("init") == 100);
    CHECK(kernel.totals("init").drop == 30);
  }
  SUBCASE("the recorded early_drop share of the refused evicts instead") {
    CHECK(kernel.feed("init", DemandStep{.arrivals = 30, .recordedEvictions = 15, .evictShare = 0.5}) == 15);
    CHECK(kernel.count("init") == 100);
    CHECK(kernel.totals("init").drop == 15);
    CHECK(kernel.totals("init").earlyDrop == 15);
  }
  SUBCASE("recorded departures make room for the arrivals of the same interval") {
    CHECK(kernel.feed("init", DemandStep{.arrivals = 30, .recordedInserts = 30, .departures = 20}) == 20);
    CHECK(kernel.count("init") == 100);
    CHECK(kernel.totals("init").drop == 10);
  }
  SUBCASE("a larger limit admits what the recording refused; it leaves after extraLife") {
    REQUIRE(kernel.write(Netns{"init", "", 1}, policy::Knob::ConntrackMax, 200));
    CHECK(kernel.feed("init", DemandStep{.arrivals = 30, .recordedInserts = 10, .extraLife = 5s}) == 30);
    CHECK(kernel.count("init") == 130);
    CHECK(kernel.totals("init").drop == 0);
    kernel.advance(4s);
    kernel.feed("init", DemandStep{});
    CHECK(kernel.count("init") == 130);
    kernel.advance(5s);
    kernel.feed("init", DemandStep{.departures = 10});
    CHECK(kernel.count("init") == 100);
  }
  SUBCASE("entries the recording evicted but a larger table kept leave after extraLife") {
    REQUIRE(kernel.write(Netns{"init", "", 1}, policy::Knob::ConntrackMax, 200));
    kernel.feed(
        "init",
        DemandStep{.arrivals = 10, .recordedInserts = 10, .recordedEvictions = 10, .evictShare = 1, .extraLife = 2s});
    CHECK(kernel.totals("init").earlyDrop == 0);
    CHECK(kernel.count("init") == 110);
    kernel.advance(2s);
    kernel.feed("init", DemandStep{});
    CHECK(kernel.count("init") == 100);
  }
}

}  // namespace ctpilot::sysfs
