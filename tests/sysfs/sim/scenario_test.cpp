// SPDX-License-Identifier: Apache-2.0
#include "sysfs/sim/scenario.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "sysfs/sim/sim_kernel.h"

namespace ctpilot::sysfs {
namespace {

using namespace std::chrono_literals;

bool mentions(const std::vector<std::string>& problems, const std::string& needle) {
  for (const auto& p : problems) {
    if (p.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string examplesDir() { return std::string(CTPILOT_SOURCE_DIR) + "/examples/scenarios"; }

}  // namespace

TEST_CASE("a scenario file parses into the machine and its namespaces and timeouts and phases") {
  const auto load = parseScenario(R"(# a gateway
name gw-test
description two namespaces, a ramp
duration 1h
step 5s
seed 42
max 64k
buckets 16384
memory 2GiB
cpus 4
netns gw
timeout gw tcp_timeout_time_wait 60s
phase 0s..30m tcp_short rate=1k/s..2k/s life=2s rst=10%   # the ramp
phase 10m..20m udp_oneway rate=600/m netns=init
phase 0s..1h tcp_long rate=10/s life=1h abandon=5% shape=diurnal peak=20h
)",
                                  "gw.scenario");
  for (const auto& p : load.problems) CAPTURE(p);
  REQUIRE(load.ok());
  const auto& s = load.scenario;
  CHECK(s.name == "gw-test");
  CHECK(s.description == "two namespaces, a ramp");
  CHECK(s.duration == 1h);
  CHECK(s.step == 5s);
  CHECK(s.seed == 42);
  CHECK(s.max == 65536);
  CHECK(s.buckets == 16384);
  CHECK(s.memTotalBytes == 2LL << 30);
  CHECK(s.cpus == 4);
  CHECK(s.netns == std::vector<std::string>{"init", "gw"});
  REQUIRE(s.timeouts.size() == 1);
  CHECK(s.timeouts[0].knob == policy::Knob::TcpTimeoutTimeWait);
  CHECK(s.timeouts[0].seconds == 60);
  REQUIRE(s.phases.size() == 3);
  CHECK(s.phases[0].netns == "gw");  // the first declared netns is the default
  CHECK(s.phases[0].flow == FlowClass::TcpShort);
  CHECK(s.phases[0].rateFrom == 1000);
  CHECK(s.phases[0].rateTo == 2000);
  CHECK(s.phases[0].life == 2s);
  CHECK(s.phases[0].rst == doctest::Approx(0.1));
  CHECK(s.phases[1].netns == "init");
  CHECK(s.phases[1].rateFrom == doctest::Approx(10));
  CHECK(s.phases[1].life == 0s);
  CHECK(s.phases[2].shape == ScenarioPhase::Shape::Diurnal);
  CHECK(s.phases[2].abandon == doctest::Approx(0.05));
}

TEST_CASE("phase rates ramp linearly or follow a day curve") {
  ScenarioPhase ramp;
  ramp.start = 10s;
  ramp.end = 20s;
  ramp.rateFrom = 100;
  ramp.rateTo = 300;
  CHECK(ramp.rateAt(10s) == doctest::Approx(100));
  CHECK(ramp.rateAt(15s) == doctest::Approx(200));
  CHECK(ramp.rateAt(9s) == 0);
  CHECK(ramp.rateAt(20s) == 0);

  ScenarioPhase day;
  day.end = 24h;
  day.rateFrom = 100;
  day.rateTo = 1000;
  day.shape = ScenarioPhase::Shape::Diurnal;
  day.peak = 21h;
  CHECK(day.rateAt(21h) == doctest::Approx(1000));
  CHECK(day.rateAt(9h) == doctest::Approx(100));
  CHECK(day.rateAt(15h) == doctest::Approx(550));
}

TEST_CASE("scenario errors name the file and line and every one is reported") {
  struct Row {
    const char* text;
    const char* expected;
  };
  const Row rows[] = {
      {"duration 10m\nfrobnicate 3\nphase 0s..1m tcp_short rate=1/s\n", "s.scenario:2: unknown statement 'frobnicate'"},
      {"duration 10m\nphase 0s..1m tcp_short rate=fast\n", "s.scenario:2: rate 'fast' is not a rate"},
      {"duration 10m\nphase 0s..1m tcp_short\n", "s.scenario:2: phase needs a rate"},
      {"duration 10m\nphase 0s..1m tcp_quick rate=1/s\n", "s.scenario:2: unknown flow class 'tcp_quick'"},
      {"duration 10m\nphase 1m..0s tcp_short rate=1/s\n", "s.scenario:2: phase 1m..0s ends before it starts"},
      {"duration 10m\nphase 0s..11m tcp_short rate=1/s\n",
       "s.scenario:2: phase ends at 660s, after the scenario's duration"},
      {"duration 10m\nphase 0s..1m tcp_short rate=1/s netns=gw\n", "s.scenario:2: netns 'gw' is not declared"},
      {"duration 10x\nphase 0s..1m tcp_short rate=1/s\n", "s.scenario:1: duration '10x' is not a positive duration"},
      {"duration 10m\nmax -5\nphase 0s..1m tcp_short rate=1/s\n", "s.scenario:2: max '-5' is not a positive count"},
      {"duration 10m\ntimeout init tcp_timeout_nap 5\nphase 0s..1m tcp_short rate=1/s\n",
       "s.scenario:2: 'tcp_timeout_nap' is not a conntrack timeout"},
      {"duration 10m\nphase 0s..1m tcp_short rate=1/s abandon=150%\n", "s.scenario:2: abandon '150%' is not a share"},
      {"duration 10m\n", "s.scenario:0: no phase"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto load = parseScenario(row.text, "s.scenario");
    for (const auto& p : load.problems) CAPTURE(p);
    CHECK_FALSE(load.ok());
    CHECK(mentions(load.problems, row.expected));
  }
  SUBCASE("all problems are reported at once") {
    const auto load = parseScenario("bogus\nduration 1q\nphase 0s..1m tcp_short rate=1/s\n", "s.scenario");
    CHECK(load.problems.size() == 2);
  }
}

TEST_CASE("a statement given twice is refused, naming the first line") {
  const auto load = parseScenario("duration 10m\nduration 20m\nphase 0s..1m tcp_short rate=1/s\n", "s.scenario");
  CHECK_FALSE(load.ok());
  CHECK(mentions(load.problems, "s.scenario:2: 'duration' is given twice (first on line 1); keep one"));
  const auto timeouts = parseScenario(
      "timeout init tcp_timeout_time_wait 60\ntimeout init tcp_timeout_time_wait 120\nphase 0s..1m tcp_short "
      "rate=1/s\n",
      "s.scenario");
  CHECK(mentions(timeouts.problems, "s.scenario:2: timeout init tcp_timeout_time_wait is given twice"));
}

TEST_CASE("scenario numbers are bounded so that simulated time and rates cannot overflow") {
  struct Row {
    const char* text;
    const char* expected;
  };
  const Row rows[] = {
      {"duration 100000000000d\n", "s.scenario:1: duration '100000000000d' is longer than 31d"},
      {"duration 32d\n", "s.scenario:1: duration '32d' is longer than 31d"},
      {"warmup 9999999999d\n", "s.scenario:1: warmup '9999999999d' is longer than 31d"},
      {"phase 0s..1m tcp_short rate=1e30/s\n", "s.scenario:1: rate '1e30/s' is not a rate"},
      {"phase 0s..1m tcp_short rate=20M/s\n", "s.scenario:1: rate '20M/s' is not a rate or ramp up to 10M/s"},
      {"phase 0s..1m tcp_short "
       "rate=1/s..1000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
       "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000/s\n",
       "s.scenario:1: rate '1/s..1000"},
      {"phase 0s..1m tcp_short rate=1/s life=100000d\n", "s.scenario:1: life '100000d' is not a duration up to 31d"},
      {"max 4G\n", "s.scenario:1: max '4G' is above 2147483647"},
      {"timeout init tcp_timeout_time_wait 9999999999\n", "s.scenario:1: timeout value '9999999999' is not a whole"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto load = parseScenario(row.text, "s.scenario");
    for (const auto& p : load.problems) CAPTURE(p);
    CHECK(mentions(load.problems, row.expected));
  }
  SUBCASE("the bounds themselves are accepted") {
    const auto load =
        parseScenario("duration 31d\nwarmup 31d\nphase 0s..31d tcp_short rate=10M/s life=31d\n", "s.scenario");
    for (const auto& p : load.problems) CAPTURE(p);
    CHECK(load.ok());
  }
}

TEST_CASE("control bytes from a scenario file are escaped in messages") {
  const auto load = parseScenario("duration 10\x1b[2J\nphase 0s..1m tcp_short rate=1/s\n", "s\n.scenario");
  REQUIRE(load.problems.size() == 1);
  CHECK(load.problems[0] ==
        "s\\n.scenario:1: duration '10\\x1b[2J' is not a positive duration (examples: 500ms, 30s, 10m, 24h)");
}

TEST_CASE("scenario units are those of policy files, with decimal rates on top") {
  const auto load = parseScenario(
      "duration 10m\nwarmup 0\nmax 64k\nmemory 512MiB\ntimeout init udp_timeout 30\n"
      "phase 0..10m tcp_short rate=0.5/s..1.5k/s abandon=0.2%\n",
      "s.scenario");
  for (const auto& p : load.problems) CAPTURE(p);
  REQUIRE(load.ok());
  const auto& s = load.scenario;
  CHECK(s.warmup == 0s);
  CHECK(s.max == 65536);  // a count's k is 1024...
  CHECK(s.memTotalBytes == 512LL << 20);
  REQUIRE(s.timeouts.size() == 1);
  CHECK(s.timeouts[0].seconds == 30);
  REQUIRE(s.phases.size() == 1);
  CHECK(s.phases[0].rateFrom == doctest::Approx(0.5));
  CHECK(s.phases[0].rateTo == doctest::Approx(1500));  // ...a rate's k is 1000
  CHECK(s.phases[0].abandon == doctest::Approx(0.002));

  struct Row {
    const char* text;
    const char* expected;
  };
  // Policy files take whole numbers only; so do scenarios (rates excepted).
  const Row rows[] = {
      {"duration 1.5h\n", "s.scenario:1: duration '1.5h' is not a positive duration"},
      {"max 1.5k\n", "s.scenario:1: max '1.5k' is not a positive count"},
      {"memory 1.5GiB\n", "s.scenario:1: memory '1.5GiB' is not a size"},
      {"timeout init udp_timeout 99999999999999999999\n", "s.scenario:1: timeout value '99999999999999999999' is not"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto bad = parseScenario(std::string(row.text) + "phase 0s..1m tcp_short rate=1/s\n", "s.scenario");
    for (const auto& p : bad.problems) CAPTURE(p);
    CHECK(mentions(bad.problems, row.expected));
  }
}

TEST_CASE("the shipped scenarios all parse and cover the documented situations") {
  const auto names = listScenarios({examplesDir()});
  for (const char* expected : {"steady-growth", "flash-crowd", "syn-flood", "isp-nat-day", "churn-storm"}) {
    CAPTURE(expected);
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }
  for (const auto& name : names) {
    CAPTURE(name);
    const auto path = resolveScenario(name, {examplesDir()});
    REQUIRE(path);
    const auto load = loadScenarioFile(*path);
    for (const auto& p : load.problems) CAPTURE(p);
    CHECK(load.ok());
    CHECK(load.scenario.name == name);
    CHECK_FALSE(load.scenario.description.empty());
  }
}

TEST_CASE("a scenario argument is a file path or a name looked up in the scenario directories") {
  const auto dir = std::filesystem::temp_directory_path() / "ctpilot-scenario-test";
  std::filesystem::create_directories(dir);
  const auto file = dir / "mine.scenario";
  std::ofstream(file) << "duration 1m\nphase 0s..1m tcp_short rate=1/s\n";
  CHECK(*resolveScenario(file.string(), {}) == file.string());
  CHECK(*resolveScenario("mine", {"/nonexistent", dir.string()}) == file.string());
  const auto unknown = resolveScenario("theirs", {dir.string()});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::Missing);
  CHECK(unknown.error().what.find("known: mine") != std::string::npos);
  CHECK(resolveScenario("./nope.scenario", {dir.string()}).error().what.find("not found") != std::string::npos);
  CHECK(loadScenarioFile((dir / "absent.scenario").string()).problems.at(0).find("cannot read") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a scenario's machine and timeouts become the simulated kernel's") {
  const auto load = parseScenario(
      "duration 1m\nmax 5000\nbuckets 1024\nnetns gw\ntimeout gw udp_timeout 10\nphase 0s..1m udp_oneway rate=50/s\n",
      "m.scenario");
  REQUIRE(load.ok());
  auto kernel = SimKernel::fromScenario(load.scenario);
  CHECK(kernel->max() == 5000);
  CHECK(kernel->buckets() == 1024);
  const Netns gw{"gw", "/run/netns/gw", 0};
  CHECK(*kernel->read(gw, policy::Knob::UdpTimeout) == 10);
  kernel->advance(1min);
  // 50/s for 10 s of udp_timeout: about 500 entries, all in gw.
  CHECK(kernel->count("gw") > 350);
  CHECK(kernel->count("gw") < 650);
  CHECK(kernel->count("init") == 0);
}

}  // namespace ctpilot::sysfs
