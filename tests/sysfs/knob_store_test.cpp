// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sysfs/knob_registry.h"
#include "sysfs/knob_store.h"

#include "tests/temp_tree.h"

using namespace ctpilot;
using policy::Knob;

namespace {

// A temporary root with /proc and /sys files, and the registry's knobs by name.
struct TempTree : testing::TempTree {
  TempTree() : testing::TempTree("store") {}
  void writeKnob(Knob knob, const std::string& text) const {
    write(std::string(sysfs::registryEntry(knob).path), text);
  }
  std::string readKnob(Knob knob) const { return read(std::string(sysfs::registryEntry(knob).path)); }
};

// A namespace that is not the initial one; its path does not lead to a real namespace.
sysfs::Netns otherNetns(const TempTree& tree) {
  return sysfs::Netns{"gw", tree.at("/run/netns/gw").string(), 4026532999};
}

// A sysctl that is read-only (0444) even for root: the kernel answers a write open with EACCES.
constexpr const char* kReadOnlySysctl = "/proc/sys/kernel/ngroups_max";

}  // namespace

TEST_CASE("ProcKnobStore reads the integer in the knob's file under its root") {
  TempTree tree;
  tree.writeKnob(Knob::ConntrackMax, "262144\n");
  tree.writeKnob(Knob::TcpTimeoutTimeWait, "  120 \n");
  sysfs::ProcKnobStore store(tree.root.string());
  CHECK(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == 262144);
  CHECK(store.read(sysfs::initNetns(), Knob::TcpTimeoutTimeWait).value_or(-1) == 120);
}

TEST_CASE("ProcKnobStore sees a value changed in the file since its previous read") {
  TempTree tree;
  tree.writeKnob(Knob::ConntrackMax, "262144\n");
  tree.writeKnob(Knob::UdpTimeout, "30\n");
  sysfs::ProcKnobStore store(tree.root.string());
  REQUIRE(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == 262144);
  REQUIRE(store.read(sysfs::initNetns(), Knob::UdpTimeout).value_or(-1) == 30);
  // Rewritten in place, as `sysctl -w` or an admin's `echo >` does: shorter than before.
  tree.writeKnob(Knob::ConntrackMax, "65536\n");
  tree.writeKnob(Knob::UdpTimeout, "10\n");
  CHECK(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == 65536);
  CHECK(store.read(sysfs::initNetns(), Knob::UdpTimeout).value_or(-1) == 10);
  // A global knob read "from" another netns is the same file.
  CHECK(store.read(otherNetns(tree), Knob::ConntrackMax).value_or(-1) == 65536);
}

TEST_CASE("ProcKnobStore finds a knob whose file appears after a read found it missing") {
  TempTree tree;
  std::filesystem::create_directories(tree.at("/proc/sys/net"));
  sysfs::ProcKnobStore store(tree.root.string());
  const auto before = store.read(sysfs::initNetns(), Knob::ConntrackMax);
  REQUIRE_FALSE(before.has_value());
  CHECK(before.error().code == Errc::Missing);
  // nf_conntrack loaded after ctpilot started.
  tree.writeKnob(Knob::Count, "0\n");
  tree.writeKnob(Knob::ConntrackMax, "262144\n");
  CHECK(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == 262144);
}

TEST_CASE("ProcKnobStore writes a value, reads it back and returns what the file kept") {
  TempTree tree;
  tree.writeKnob(Knob::Count, "10\n");
  tree.writeKnob(Knob::TcpTimeoutTimeWait, "120\n");
  tree.writeKnob(Knob::ConntrackMax, "262144\n");
  sysfs::ProcKnobStore store(tree.root.string());
  SUBCASE("a per-netns timeout in the initial netns") {
    const auto kept = store.write(sysfs::initNetns(), Knob::TcpTimeoutTimeWait, 60);
    REQUIRE(kept.has_value());
    CHECK(*kept == 60);
    CHECK(tree.readKnob(Knob::TcpTimeoutTimeWait) == "60\n");
  }
  SUBCASE("a shorter value replaces a longer one entirely") {
    REQUIRE(store.write(sysfs::initNetns(), Knob::ConntrackMax, 7).has_value());
    CHECK(tree.readKnob(Knob::ConntrackMax) == "7\n");
    CHECK(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == 7);
  }
}

TEST_CASE("ProcKnobStore refuses what may not be written, without touching the file") {
  TempTree tree;
  tree.writeKnob(Knob::Count, "10\n");
  tree.writeKnob(Knob::ConntrackMax, "262144\n");
  tree.writeKnob(Knob::Buckets, "65536\n");
  sysfs::ProcKnobStore store(tree.root.string());
  SUBCASE("nf_conntrack_count is read-only") {
    const auto result = store.write(sysfs::initNetns(), Knob::Count, 5);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Refused);
    CHECK(result.error().what.find("nf_conntrack_count") != std::string::npos);
    CHECK(tree.readKnob(Knob::Count) == "10\n");
  }
  SUBCASE("global knobs from a non-initial netns") {
    for (const Knob knob : {Knob::ConntrackMax, Knob::Buckets}) {
      CAPTURE(policy::kernelName(knob));
      const auto before = tree.readKnob(knob);
      const auto result = store.write(otherNetns(tree), knob, 1'000'000);
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().code == Errc::Refused);
      CHECK(result.error().what.find("initial netns") != std::string::npos);
      CHECK(tree.readKnob(knob) == before);
    }
  }
}

TEST_CASE("ProcKnobStore reads a global knob from any netns as the one global value") {
  TempTree tree;
  tree.writeKnob(Knob::ConntrackMax, "131072\n");
  sysfs::ProcKnobStore store(tree.root.string());
  // No namespace is entered: the initial netns' file holds the value every netns mirrors.
  CHECK(store.read(otherNetns(tree), Knob::ConntrackMax).value_or(-1) == 131072);
}

TEST_CASE("ProcKnobStore says Missing and what to do when nf_conntrack is not loaded") {
  TempTree tree;
  std::filesystem::create_directories(tree.at("/proc/sys/net"));
  sysfs::ProcKnobStore store(tree.root.string());
  SUBCASE("read") {
    const auto result = store.read(sysfs::initNetns(), Knob::ConntrackMax);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Missing);
    CHECK(result.error().what.find("modprobe nf_conntrack") != std::string::npos);
  }
  SUBCASE("write") {
    const auto result = store.write(sysfs::initNetns(), Knob::TcpTimeoutTimeWait, 60);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Missing);
    CHECK(result.error().what.find("modprobe nf_conntrack") != std::string::npos);
  }
}

TEST_CASE("ProcKnobStore tells a knob this kernel lacks from a module that is not loaded") {
  TempTree tree;
  tree.writeKnob(Knob::Count, "0\n");
  sysfs::ProcKnobStore store(tree.root.string());
  const auto result = store.read(sysfs::initNetns(), Knob::GreTimeout);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == Errc::Missing);
  CHECK(result.error().what.find("does not have") != std::string::npos);
  CHECK(result.error().what.find("modprobe") == std::string::npos);
}

TEST_CASE("ProcKnobStore reports a file that does not hold an integer as Malformed") {
  const char* rows[] = {"abc\n", "", "12 34\n", "99999999999999999999999\n", "1.5\n"};
  for (const char* text : rows) {
    CAPTURE(text);
    TempTree tree;
    tree.writeKnob(Knob::UdpTimeout, text);
    sysfs::ProcKnobStore store(tree.root.string());
    const auto result = store.read(sysfs::initNetns(), Knob::UdpTimeout);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Malformed);
    CHECK(result.error().what.find("nf_conntrack_udp_timeout") != std::string::npos);
  }
}

TEST_CASE("ProcKnobStore classifies a write the kernel refuses as Refused") {
  REQUIRE(std::filesystem::exists(kReadOnlySysctl));
  TempTree tree;
  tree.link(std::string(sysfs::registryEntry(Knob::TcpTimeoutTimeWait).path), kReadOnlySysctl);
  sysfs::ProcKnobStore store(tree.root.string());
  const auto result = store.write(sysfs::initNetns(), Knob::TcpTimeoutTimeWait, 60);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == Errc::Refused);
  CHECK(result.error().what.find("Permission denied") != std::string::npos);
}

TEST_CASE("ProcKnobStore resizes through the hashsize module parameter when nf_conntrack_buckets is refused") {
  REQUIRE(std::filesystem::exists(kReadOnlySysctl));
  TempTree tree;
  tree.link(std::string(sysfs::registryEntry(Knob::Buckets).path), kReadOnlySysctl);
  tree.write("/sys/module/nf_conntrack/parameters/hashsize", "65536\n");
  sysfs::ProcKnobStore store(tree.root.string());
  const auto result = store.write(sysfs::initNetns(), Knob::Buckets, 131072);
  REQUIRE(result.has_value());
  CHECK(tree.read("/sys/module/nf_conntrack/parameters/hashsize") == "131072\n");
  // What the kernel kept is read back from nf_conntrack_buckets, here the read-only stand-in.
  std::ifstream in(kReadOnlySysctl);
  std::int64_t standIn = -1;
  in >> standIn;
  CHECK(*result == standIn);
}

TEST_CASE("ProcKnobStore reports a vanished netns as Missing and forgets it without harm") {
  TempTree tree;
  tree.writeKnob(Knob::TcpTimeoutTimeWait, "120\n");
  sysfs::ProcKnobStore store(tree.root.string());
  const auto gone = otherNetns(tree);
  SUBCASE("read") {
    const auto result = store.read(gone, Knob::TcpTimeoutTimeWait);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Missing);
    CHECK(result.error().what.find("gw") != std::string::npos);
  }
  SUBCASE("write") {
    const auto result = store.write(gone, Knob::TcpTimeoutTimeWait, 60);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == Errc::Missing);
    CHECK(tree.readKnob(Knob::TcpTimeoutTimeWait) == "120\n");
  }
  store.forget(gone);
  CHECK(store.read(sysfs::initNetns(), Knob::TcpTimeoutTimeWait).value_or(-1) == 120);
}
