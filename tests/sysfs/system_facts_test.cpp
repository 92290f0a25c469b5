// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sysfs/system_facts.h"

#include "tests/temp_tree.h"

using namespace ctpilot;

namespace {

struct TempRoot : testing::TempTree {
  TempRoot() : testing::TempTree("facts") {}
};

constexpr const char* kMeminfo =
    "MemTotal:       16318480 kB\n"
    "MemFree:         1227680 kB\n"
    "Slab:             512000 kB\n";

constexpr const char* kSlabinfo =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...\n"
    "nf_conntrack_expect      0      0    208   19    1 : tunables    0    0    0 : slabdata      0      0      0\n"
    "nf_conntrack          1024   1024    320   16    1 : tunables    0    0    0 : slabdata     64     64      0\n";

}  // namespace

TEST_CASE("readMemoryFacts reads MemTotal in bytes and the nf_conntrack object size") {
  TempRoot tree;
  tree.write("/proc/meminfo", kMeminfo);
  tree.write("/proc/slabinfo", kSlabinfo);
  const auto facts = sysfs::readMemoryFacts(tree.root.string());
  REQUIRE(facts.has_value());
  CHECK(facts->memTotalBytes == 16318480LL * 1024);
  CHECK(facts->slabObjectBytes == 320);
  // 320 B object + 64 B extension allowance + 8 B bucket / 4 entries per bucket.
  CHECK(facts->entryBytes() == 386);
}

TEST_CASE("readMemoryFacts without slabinfo assumes a 256-byte object") {
  TempRoot tree;
  tree.write("/proc/meminfo", kMeminfo);
  SUBCASE("no slabinfo") {}
  SUBCASE("a slabinfo without nf_conntrack (merged cache)") {
    tree.write("/proc/slabinfo", "slabinfo - version: 2.1\n");
  }
  const auto facts = sysfs::readMemoryFacts(tree.root.string());
  REQUIRE(facts.has_value());
  CHECK(facts->slabObjectBytes == 0);
  CHECK(facts->entryBytes() == 256 + 64 + 2);
}

TEST_CASE("readMemoryFacts fails clearly without a usable MemTotal") {
  TempRoot tree;
  SUBCASE("no meminfo") {
    const auto facts = sysfs::readMemoryFacts(tree.root.string());
    REQUIRE_FALSE(facts.has_value());
    CHECK(facts.error().code == Errc::Missing);
  }
  SUBCASE("no MemTotal line") {
    tree.write("/proc/meminfo", "MemFree: 1 kB\n");
    const auto facts = sysfs::readMemoryFacts(tree.root.string());
    REQUIRE_FALSE(facts.has_value());
    CHECK(facts.error().code == Errc::Malformed);
    CHECK(facts.error().what.find("MemTotal") != std::string::npos);
  }
  SUBCASE("MemTotal not a number") {
    tree.write("/proc/meminfo", "MemTotal: lots kB\n");
    const auto facts = sysfs::readMemoryFacts(tree.root.string());
    REQUIRE_FALSE(facts.has_value());
    CHECK(facts.error().code == Errc::Malformed);
  }
}

TEST_CASE("readBootId returns the boot id without its newline") {
  TempRoot tree;
  SUBCASE("present") {
    tree.write("/proc/sys/kernel/random/boot_id", "0b1c2d3e-aaaa-bbbb-cccc-000000000001\n");
    CHECK(sysfs::readBootId(tree.root.string()).value_or("") == "0b1c2d3e-aaaa-bbbb-cccc-000000000001");
  }
  SUBCASE("absent") {
    const auto id = sysfs::readBootId(tree.root.string());
    REQUIRE_FALSE(id.has_value());
    CHECK(id.error().code == Errc::Missing);
  }
}

TEST_CASE("readSlabEntries counts the entries of every namespace from the nf_conntrack slab") {
  TempRoot tree;
  tree.write("/proc/slabinfo", kSlabinfo);
  const auto entries = sysfs::readSlabEntries(tree.root.string());
  REQUIRE(entries.has_value());
  CHECK(*entries == 1024);
  CHECK_FALSE(sysfs::parseSlabEntries("slabinfo - version: 2.1\nkmalloc-64 10 10 64 64 1\n").has_value());
  TempRoot empty;
  CHECK_FALSE(sysfs::readSlabEntries(empty.root.string()).has_value());
}

TEST_CASE("readSysfsSlabObjects reads the nf_conntrack cache's objects only where the cache is its own") {
  TempRoot tree;
  CHECK(sysfs::parseSlabObjects("1024\n") == 1024);
  CHECK(sysfs::parseSlabObjects("70123 N0=40000 N1=30123\n") == 70123);
  CHECK_FALSE(sysfs::parseSlabObjects("").has_value());
  CHECK_FALSE(sysfs::parseSlabObjects("many\n").has_value());
  SUBCASE("a cache of its own") {
    tree.write("/sys/kernel/slab/nf_conntrack/objects", "3072 N0=3072\n");
    CHECK(sysfs::readSysfsSlabObjects(tree.root.string()).value_or(-1) == 3072);
  }
  SUBCASE("a link to a merged cache counts other objects: refused") {
    tree.write("/sys/kernel/slab/:0000320/objects", "99999\n");
    std::filesystem::create_directory_symlink(":0000320", tree.root / "sys/kernel/slab/nf_conntrack");
    const auto objects = sysfs::readSysfsSlabObjects(tree.root.string());
    REQUIRE_FALSE(objects.has_value());
    CHECK(objects.error().code == Errc::Missing);
    CHECK(objects.error().what.find("merged") != std::string::npos);
  }
  SUBCASE("no SLUB sysfs, or the module not loaded") {
    const auto objects = sysfs::readSysfsSlabObjects(tree.root.string());
    REQUIRE_FALSE(objects.has_value());
    CHECK(objects.error().code == Errc::Missing);
  }
  SUBCASE("garbage") {
    tree.write("/sys/kernel/slab/nf_conntrack/objects", "n/a\n");
    const auto objects = sysfs::readSysfsSlabObjects(tree.root.string());
    REQUIRE_FALSE(objects.has_value());
    CHECK(objects.error().code == Errc::Malformed);
  }
}

TEST_CASE("SlabObjectsReader opens the objects file once and reads it again at every call") {
  TempRoot tree;
  sysfs::SlabObjectsReader reader(tree.root.string());
  CHECK_FALSE(reader.read().has_value());  // not there yet (module not loaded): tried again later
  tree.write("/sys/kernel/slab/nf_conntrack/objects", "3072 N0=3072\n");
  CHECK(reader.read().value_or(-1) == 3072);
  tree.write("/sys/kernel/slab/nf_conntrack/objects", "40960 N0=40960\n");
  CHECK(reader.read().value_or(-1) == 40960);
}
