// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include "sysfs/netns.h"
#include "tests/temp_tree.h"

using namespace ctpilot;
using Mode = policy::NetnsSelector::Mode;

namespace {

// A fake root whose /proc/PID/ns/net and /run/netns/NAME are symlinks with the kernel's
// "net:[INODE]" text, as the real magic links read.
struct NetnsTree : testing::TempTree {
  NetnsTree() : testing::TempTree("netns") {}
  void ns(const std::string& path, std::uint64_t inode) const { link(path, "net:[" + std::to_string(inode) + "]"); }
};

constexpr std::uint64_t kInit = 4026531840;

policy::NetnsSelector select(Mode mode, std::vector<std::string> names = {}) {
  policy::NetnsSelector selector;
  selector.mode = mode;
  selector.names = std::move(names);
  return selector;
}

}  // namespace

TEST_CASE("discoverNetns in init mode returns the initial netns with its inode") {
  NetnsTree tree;
  SUBCASE("from /proc/self") { tree.ns("/proc/self/ns/net", kInit); }
  SUBCASE("from /proc/1 when the tree has no /proc/self") { tree.ns("/proc/1/ns/net", kInit); }
  const auto found = sysfs::discoverNetns(tree.root.string(), select(Mode::Init));
  REQUIRE(found.has_value());
  REQUIRE(found->size() == 1);
  CHECK((*found)[0] == sysfs::Netns{"init", "", kInit});
  CHECK((*found)[0].initial());
}

TEST_CASE("discoverNetns in named mode returns init and the /run/netns names asked for") {
  NetnsTree tree;
  tree.ns("/proc/self/ns/net", kInit);
  tree.ns("/run/netns/gw", 4026532100);
  tree.ns("/run/netns/cust", 4026532200);
  SUBCASE("names that exist, in the order given, without repeats") {
    const auto found = sysfs::discoverNetns(tree.root.string(), select(Mode::Named, {"cust", "init", "gw", "cust"}));
    REQUIRE(found.has_value());
    REQUIRE(found->size() == 3);
    CHECK((*found)[0] == sysfs::Netns{"cust", tree.at("/run/netns/cust"), 4026532200});
    CHECK((*found)[1].initial());
    CHECK((*found)[2] == sysfs::Netns{"gw", tree.at("/run/netns/gw"), 4026532100});
  }
  SUBCASE("a name that does not exist is Missing and says how to fix it") {
    const auto found = sysfs::discoverNetns(tree.root.string(), select(Mode::Named, {"gw", "blue"}));
    REQUIRE_FALSE(found.has_value());
    CHECK(found.error().code == Errc::Missing);
    CHECK(found.error().what.find("'blue'") != std::string::npos);
    CHECK(found.error().what.find("ip netns add blue") != std::string::npos);
    CHECK(found.error().what.find("[controller] netns") != std::string::npos);
  }
}

TEST_CASE("discoverNetns in all mode lists each distinct netns once: init, names, then unnamed by pid") {
  NetnsTree tree;
  tree.ns("/proc/self/ns/net", kInit);
  tree.ns("/proc/1/ns/net", kInit);
  tree.ns("/run/netns/b", 4026532002);
  tree.ns("/run/netns/a", 4026532001);
  tree.ns("/run/netns/a-again", 4026532001);  // `ip netns attach`: a second name, same netns
  tree.ns("/proc/2/ns/net", 4026532001);      // a process inside netns a
  tree.ns("/proc/10/ns/net", 4026532010);
  tree.ns("/proc/9/ns/net", 4026532009);
  tree.ns("/proc/11/ns/net", 4026532010);  // another process in the same unnamed netns
  tree.dir("/proc/12");                    // a process that exited while we looked
  tree.dir("/proc/sys");                   // not a pid
  const auto found = sysfs::discoverNetns(tree.root.string(), select(Mode::All));
  REQUIRE(found.has_value());
  std::vector<std::string> names;
  for (const auto& netns : *found) names.push_back(netns.name);
  CHECK(names == std::vector<std::string>{"init", "a", "b", "netns:4026532009", "netns:4026532010"});
  REQUIRE(found->size() == 5);
  CHECK((*found)[3].path == tree.at("/proc/9/ns/net"));
  CHECK((*found)[4].path == tree.at("/proc/10/ns/net"));
  CHECK((*found)[4].inode == 4026532010);
}

TEST_CASE("discoverNetns in all mode without /run/netns still finds init") {
  NetnsTree tree;
  tree.ns("/proc/self/ns/net", kInit);
  const auto found = sysfs::discoverNetns(tree.root.string(), select(Mode::All));
  REQUIRE(found.has_value());
  REQUIRE(found->size() == 1);
  CHECK((*found)[0].initial());
}

TEST_CASE("runInNetns runs the function for the initial netns") {
  bool ran = false;
  const auto result = sysfs::runInNetns(sysfs::initNetns(), [&] { ran = true; });
  CHECK(result.has_value());
  CHECK(ran);
}

TEST_CASE("runInNetns reports a netns that is gone or is not a netns as Missing and does not run the function") {
  NetnsTree tree;
  tree.dir("/run/netns");
  std::ofstream(tree.at("/run/netns/plain")) << "not a namespace\n";
  const char* rows[] = {"/run/netns/gone", "/run/netns/plain"};
  for (const char* path : rows) {
    CAPTURE(path);
    bool ran = false;
    const auto result = sysfs::runInNetns(sysfs::Netns{"x", tree.at(path), 0}, [&] { ran = true; });
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Missing);
    CHECK_FALSE(ran);
  }
}

namespace {

void setMtime(const std::filesystem::path& path, time_t seconds) {
  const std::array<timespec, 2> times{timespec{seconds, 0}, timespec{seconds, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times.data(), 0) == 0);
}

constexpr std::int64_t kNsPerSecond = 1'000'000'000;

}  // namespace

TEST_CASE("NamedNetnsStamp gives namedNetnsStamp's value from a held /run/netns, and follows its removal") {
  testing::TempTree tree("netns-stamp");
  const auto root = tree.root.string();
  sysfs::NamedNetnsStamp stamp(root);
  CHECK(stamp() == 0);  // no /run/netns yet
  tree.dir("/run/netns");
  setMtime(tree.at("/run/netns"), 1000);
  CHECK(stamp() == 1000 * kNsPerSecond);
  CHECK(stamp() == sysfs::namedNetnsStamp(root));
  setMtime(tree.at("/run/netns"), 2000);  // `ip netns add` touches the directory held open
  CHECK(stamp() == 2000 * kNsPerSecond);
  std::filesystem::remove(tree.at("/run/netns"));
  tree.dir("/run/netns");
  setMtime(tree.at("/run/netns"), 3000);
  CHECK(stamp() == 3000 * kNsPerSecond);  // the removed directory is let go, the new one opened
  std::filesystem::remove(tree.at("/run/netns"));
  CHECK(stamp() == 0);
  CHECK(sysfs::namedNetnsStamp(root) == 0);
}
