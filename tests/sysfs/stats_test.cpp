// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sysfs/stats.h"

#include "tests/temp_tree.h"

using namespace ctpilot;

namespace {

std::string readData(const std::string& name) {
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/tests/sysfs/data/" + name);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TempRoot : testing::TempTree {
  TempRoot() : testing::TempTree("stats") {}
};

// A reader that returns a fixed answer and counts its calls.
struct FixedStats final : sysfs::StatsReader {
  Result<sysfs::ConntrackStats> answer;
  int* calls;
  FixedStats(Result<sysfs::ConntrackStats> a, int* c) : answer(std::move(a)), calls(c) {}
  Result<sysfs::ConntrackStats> read(const sysfs::Netns&) override {
    ++*calls;
    return answer;
  }
};

constexpr const char* kHeader618 =
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  "
    "expect_new expect_create expect_delete search_restart\n";

}  // namespace

TEST_CASE("parseProcfsStats reads a table recorded on Linux 6.18") {
  const auto stats = sysfs::parseProcfsStats(readData("procfs_stats_6.18.txt"));
  REQUIRE(stats.has_value());
  CHECK(stats->source == sysfs::StatsSource::Procfs);
  REQUIRE(stats->cpus.size() == 2);
  CHECK(stats->entries == 350);
  CHECK_FALSE(stats->maxEntries.has_value());
  CHECK(stats->cpus[1].invalid == 14);
  CHECK(stats->cpus[1].drop == 1);
  CHECK(stats->cpus[0] == sysfs::CpuCounters{});
}

TEST_CASE("parseProcfsStats maps each 6.18 column by its header name, including chainlength and clashres") {
  const std::string row =
      "00000005  00000001 00000002 0000000a 00000003 0000000b 0000000c 00000004 00000005 00000006 "
      "00000007 00000008 00000009  0000000d 0000000e 0000000f 0000000a\n";
  const auto stats = sysfs::parseProcfsStats(std::string(kHeader618) + row);
  REQUIRE(stats.has_value());
  REQUIRE(stats->cpus.size() == 1);
  const auto& c = stats->cpus[0];
  CHECK(stats->entries == 5);
  CHECK(c.clashResolve == 1);
  CHECK(c.found == 2);
  CHECK(c.invalid == 3);
  CHECK(c.chainTooLong == 4);
  CHECK(c.insert == 5);
  CHECK(c.insertFailed == 6);
  CHECK(c.drop == 7);
  CHECK(c.earlyDrop == 8);
  CHECK(c.error == 9);
  CHECK(c.searchRestart == 10);
}

TEST_CASE("parseProcfsStats reads kernels with other columns: unknown ones ignored, absent ones zero") {
  // Linux 4.19: no clashres or chainlength, and columns since removed.
  const std::string old =
      "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  "
      "expect_new expect_create expect_delete search_restart\n"
      "00000010  00000063 00000001 00000062 00000002 00000064 00000065 00000066 00000003 00000004 00000005 00000006 "
      "00000007  00000067 00000068 00000069 00000008\n";
  const auto stats = sysfs::parseProcfsStats(old);
  REQUIRE(stats.has_value());
  REQUIRE(stats->cpus.size() == 1);
  const auto& c = stats->cpus[0];
  CHECK(stats->entries == 16);
  CHECK(c.found == 1);
  CHECK(c.invalid == 2);
  CHECK(c.insert == 3);
  CHECK(c.insertFailed == 4);
  CHECK(c.drop == 5);
  CHECK(c.earlyDrop == 6);
  CHECK(c.error == 7);
  CHECK(c.searchRestart == 8);
  CHECK(c.clashResolve == 0);
  CHECK(c.chainTooLong == 0);

  // A future kernel with a new column in the middle.
  const auto future =
      sysfs::parseProcfsStats("entries drop shiny_new early_drop\n00000001 00000002 ffffffff 00000003\n");
  REQUIRE(future.has_value());
  CHECK(future->cpus[0].drop == 2);
  CHECK(future->cpus[0].earlyDrop == 3);
}

TEST_CASE("counters stay 32-bit per CPU and totals() sums them into 64 bits") {
  const auto stats = sysfs::parseProcfsStats(
      "entries drop early_drop insert_failed\n"
      "100000000 ffffffff fffffffe 00000001\n"
      "100000000 ffffffff 00000002 1ffffffff\n");
  REQUIRE(stats.has_value());
  CHECK(stats->entries == 0x100000000LL);
  CHECK(stats->cpus[1].insertFailed == 0xffffffffU);  // wider than the kernel's unsigned int: truncated
  const auto totals = stats->totals();
  CHECK(totals.drop == 0x1fffffffeULL);
  CHECK(totals.earlyDrop == 0x100000000ULL);
  CHECK(totals.insertFailed == 0x100000000ULL);
  CHECK(totals.found == 0);
}

TEST_CASE("counterFields pairs each of the ten per-CPU counters with its own total, and sumCounters adds them") {
  sysfs::CpuCounters cpu;
  std::uint32_t value = 1;
  for (const auto& f : sysfs::counterFields()) {
    CAPTURE(f.name);
    CHECK(cpu.*f.perCpu == 0);  // each counter is named once
    cpu.*f.perCpu = value++;
  }
  CHECK(sysfs::counterFields().size() == 10);
  CHECK(cpu.chainTooLong != 0);
  CHECK(cpu.error != 0);
  const auto totals = sysfs::sumCounters({cpu, cpu});
  for (const auto& f : sysfs::counterFields()) {
    CAPTURE(f.name);
    CHECK(totals.*f.total == 2ULL * (cpu.*f.perCpu));
  }
}

TEST_CASE("parseProcfsStats reports a bad table as Malformed and says where") {
  struct Row {
    const char* text;
    const char* says;
  };
  const Row rows[] = {
      {"", "empty"},
      {"drop early_drop\n00000001 00000002\n", "entries"},
      {"entries drop\n00000001\n", "line 2"},
      {"entries drop\n00000001 0000zz01\n", "drop"},
      {"entries drop\n00000001 -0000001\n", "not hex"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto stats = sysfs::parseProcfsStats(row.text);
    REQUIRE_FALSE(stats.has_value());
    CHECK(stats.error().code == Errc::Malformed);
    CHECK(stats.error().what.find(row.says) != std::string::npos);
  }
}

TEST_CASE("ProcfsStats reads /proc/net/stat/nf_conntrack under its root") {
  TempRoot tree;
  sysfs::ProcfsStats reader(tree.root.string());
  SUBCASE("present") {
    tree.write("/proc/net/stat/nf_conntrack", readData("procfs_stats_6.18.txt"));
    const auto stats = reader.read(sysfs::initNetns());
    REQUIRE(stats.has_value());
    CHECK(stats->totals().invalid == 14);
  }
  SUBCASE("absent: Missing, naming the module and the kernel option") {
    const auto stats = reader.read(sysfs::initNetns());
    REQUIRE_FALSE(stats.has_value());
    CHECK(stats.error().code == Errc::Missing);
    CHECK(stats.error().what.find("nf_conntrack is not loaded") != std::string::npos);
  }
}

TEST_CASE("makeStatsReader under a fake root reads procfs (a fake tree has no netlink)") {
  TempRoot tree;
  tree.write("/proc/net/stat/nf_conntrack", readData("procfs_stats_6.18.txt"));
  const auto reader = sysfs::makeStatsReader(tree.root.string());
  const auto stats = reader->read(sysfs::initNetns());
  REQUIRE(stats.has_value());
  CHECK(stats->source == sysfs::StatsSource::Procfs);
  CHECK(stats->entries == 350);
}

TEST_CASE("FallbackStats uses the fallback only when the primary fails") {
  sysfs::ConntrackStats fromNetlink;
  fromNetlink.source = sysfs::StatsSource::Netlink;
  sysfs::ConntrackStats fromProcfs;
  fromProcfs.source = sysfs::StatsSource::Procfs;
  const Error netlinkDown{Errc::Missing, "ctnetlink: Object not found"};
  const Error procfsDown{Errc::Missing, "read /proc/net/stat/nf_conntrack: No such file or directory"};
  int primaryCalls = 0;
  int fallbackCalls = 0;
  SUBCASE("primary works") {
    sysfs::FallbackStats reader(std::make_unique<FixedStats>(fromNetlink, &primaryCalls),
                                std::make_unique<FixedStats>(fromProcfs, &fallbackCalls));
    const auto stats = reader.read(sysfs::initNetns());
    REQUIRE(stats.has_value());
    CHECK(stats->source == sysfs::StatsSource::Netlink);
    CHECK(fallbackCalls == 0);
  }
  SUBCASE("primary fails") {
    sysfs::FallbackStats reader(std::make_unique<FixedStats>(netlinkDown, &primaryCalls),
                                std::make_unique<FixedStats>(fromProcfs, &fallbackCalls));
    const auto stats = reader.read(sysfs::initNetns());
    REQUIRE(stats.has_value());
    CHECK(stats->source == sysfs::StatsSource::Procfs);
    CHECK(primaryCalls == 1);
    CHECK(fallbackCalls == 1);
  }
  SUBCASE("both fail: one error naming both causes") {
    sysfs::FallbackStats reader(std::make_unique<FixedStats>(netlinkDown, &primaryCalls),
                                std::make_unique<FixedStats>(procfsDown, &fallbackCalls));
    const auto stats = reader.read(sysfs::initNetns());
    REQUIRE_FALSE(stats.has_value());
    CHECK(stats.error().code == Errc::Missing);
    CHECK(stats.error().what.find("ctnetlink") != std::string::npos);
    CHECK(stats.error().what.find("/proc/net/stat/nf_conntrack") != std::string::npos);
  }
}

TEST_CASE("statsSourceName names each source") {
  CHECK(std::string(sysfs::statsSourceName(sysfs::StatsSource::Netlink)) == "netlink");
  CHECK(std::string(sysfs::statsSourceName(sysfs::StatsSource::Procfs)) == "procfs");
  CHECK(std::string(sysfs::statsSourceName(sysfs::StatsSource::Simulated)) == "simulated");
}
