// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "sysfs/ctnetlink_decode.h"
#include "sysfs/stats.h"

using namespace ctpilot;
namespace ctnl = ctpilot::sysfs::ctnetlink;

namespace {

std::vector<std::uint8_t> readHex(const std::string& name) {
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/tests/sysfs/data/" + name);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  auto bytes = ctnl::parseHex(text.str());
  REQUIRE(bytes.has_value());
  return *bytes;
}

// nlmsghdr (16) + nfgenmsg (4), little-endian host, as the kernel writes them.
std::vector<std::uint8_t> header(std::uint16_t type, std::uint32_t length, std::uint16_t resId) {
  std::vector<std::uint8_t> bytes(20, 0);
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<std::uint8_t>(length >> (8 * i));
  bytes[4] = static_cast<std::uint8_t>(type);
  bytes[5] = static_cast<std::uint8_t>(type >> 8);
  bytes[18] = static_cast<std::uint8_t>(resId >> 8);  // res_id is big-endian
  bytes[19] = static_cast<std::uint8_t>(resId);
  return bytes;
}

constexpr std::uint16_t kStatsCpuType = (1 << 8) | 4;  // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU
constexpr std::uint16_t kStatsType = (1 << 8) | 5;     // IPCTNL_MSG_CT_GET_STATS

}  // namespace

TEST_CASE("a per-CPU statistics dump recorded on Linux 6.18 decodes to one entry per CPU") {
  const auto buffer = readHex("ctnetlink_stats_cpu.hex");
  const auto messages = ctnl::splitMessages(buffer);
  REQUIRE(messages.has_value());
  REQUIRE(messages->size() == 3);  // CPU 0, CPU 1, NLMSG_DONE
  const auto cpu0 = ctnl::decodeCpuStats((*messages)[0]);
  const auto cpu1 = ctnl::decodeCpuStats((*messages)[1]);
  REQUIRE(cpu0.has_value());
  REQUIRE(cpu1.has_value());
  CHECK(cpu0->cpu == 0);
  CHECK(cpu1->cpu == 1);
  CHECK(cpu0->counters == sysfs::CpuCounters{});
  CHECK(cpu1->counters.invalid == 14);
  CHECK(cpu1->counters.drop == 1);
  CHECK(cpu1->counters.earlyDrop == 0);
  // The same moment as read from /proc/net/stat/nf_conntrack (recorded right after).
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/tests/sysfs/data/procfs_stats_6.18.txt");
  std::stringstream text;
  text << in.rdbuf();
  const auto procfs = sysfs::parseProcfsStats(text.str());
  REQUIRE(procfs.has_value());
  CHECK(procfs->cpus[1] == cpu1->counters);
}

TEST_CASE("the table-wide statistics reply recorded on Linux 6.18 decodes entries and max") {
  const auto buffer = readHex("ctnetlink_stats.hex");
  const auto global = ctnl::decodeGlobalStats(buffer);
  REQUIRE(global.has_value());
  CHECK(global->entries == 350);
  CHECK(global->maxEntries == 256);
}

TEST_CASE("messages built with libnl decode to the values put in, attribute by attribute") {
  for (std::uint32_t field = 0; field < 10; ++field) {
    CAPTURE(field);
    ctnl::CpuStatsReply reply;
    reply.cpu = 37;
    std::uint32_t* members[] = {&reply.counters.found,        &reply.counters.invalid,
                                &reply.counters.insert,       &reply.counters.insertFailed,
                                &reply.counters.drop,         &reply.counters.earlyDrop,
                                &reply.counters.error,        &reply.counters.searchRestart,
                                &reply.counters.clashResolve, &reply.counters.chainTooLong};
    *members[field] = 0xfedcba98U - field;
    const auto decoded = ctnl::decodeCpuStats(ctnl::encodeCpuStats(reply));
    REQUIRE(decoded.has_value());
    CHECK(decoded->cpu == 37);
    CHECK(decoded->counters == reply.counters);
  }
  ctnl::GlobalStatsReply global;
  global.entries = 123456;
  global.maxEntries = 4194304;
  const auto decoded = ctnl::decodeGlobalStats(ctnl::encodeGlobalStats(global));
  REQUIRE(decoded.has_value());
  CHECK(decoded->entries == 123456);
  CHECK(decoded->maxEntries == 4194304);
}

TEST_CASE("attributes a kernel does not send decode as zero or absent") {
  SUBCASE("a CPU message with only CTA_STATS_DROP") {
    auto bytes = header(kStatsCpuType, 28, 3);
    const std::uint8_t drop[] = {8, 0, 10, 0, 0, 0, 0x01, 0x02};  // CTA_STATS_DROP = 10, be32 258
    bytes.insert(bytes.end(), std::begin(drop), std::end(drop));
    const auto decoded = ctnl::decodeCpuStats(bytes);
    REQUIRE(decoded.has_value());
    CHECK(decoded->cpu == 3);
    sysfs::CpuCounters expected;
    expected.drop = 258;
    CHECK(decoded->counters == expected);
  }
  SUBCASE("a table-wide message without max") {
    ctnl::GlobalStatsReply onlyEntries;
    onlyEntries.entries = 5;
    const auto decoded = ctnl::decodeGlobalStats(ctnl::encodeGlobalStats(onlyEntries));
    REQUIRE(decoded.has_value());
    CHECK(decoded->entries == 5);
    CHECK_FALSE(decoded->maxEntries.has_value());
  }
}

TEST_CASE("bad ctnetlink messages are Malformed") {
  const auto good = ctnl::encodeCpuStats({});
  SUBCASE("truncated below the headers") {
    const auto decoded = ctnl::decodeCpuStats(std::span(good).first(12));
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().code == Errc::Malformed);
  }
  SUBCASE("a length beyond the bytes given") {
    const auto decoded = ctnl::decodeCpuStats(std::span(good).first(good.size() - 4));
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().code == Errc::Malformed);
  }
  SUBCASE("another message type") {
    const auto decoded = ctnl::decodeCpuStats(ctnl::encodeGlobalStats({}));
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().what.find("unexpected message type") != std::string::npos);
    CHECK_FALSE(ctnl::decodeGlobalStats(good).has_value());
  }
  SUBCASE("a u32 attribute two bytes short") {
    auto bytes = header(kStatsCpuType, 28, 0);
    const std::uint8_t shortDrop[] = {6, 0, 10, 0, 0, 1, 0, 0};
    bytes.insert(bytes.end(), std::begin(shortDrop), std::end(shortDrop));
    const auto decoded = ctnl::decodeCpuStats(bytes);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error().code == Errc::Malformed);
  }
  SUBCASE("a buffer whose second message runs past the end") {
    auto bytes = header(kStatsType, 20, 0);
    const auto second = header(kStatsType, 200, 0);
    bytes.insert(bytes.end(), second.begin(), second.end());
    const auto split = ctnl::splitMessages(bytes);
    REQUIRE_FALSE(split.has_value());
    CHECK(split.error().what.find("byte 20") != std::string::npos);
  }
  SUBCASE("hex text with a bad digit") {
    CHECK_FALSE(ctnl::parseHex("0a 0g").has_value());
    CHECK_FALSE(ctnl::parseHex("0a 0").has_value());
    CHECK(ctnl::parseHex("# comment 0g\n0a ff\n").value_or(std::vector<std::uint8_t>{}) ==
          std::vector<std::uint8_t>{0x0a, 0xff});
  }
}
