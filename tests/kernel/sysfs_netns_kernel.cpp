// SPDX-License-Identifier: Apache-2.0
// Real-kernel test of the sysfs layer (root only): in a network namespace it creates, a timeout
// written through ProcKnobStore changes that namespace only, a global knob is refused there,
// and statistics come over ctnetlink from that namespace and agree with /proc/net/stat.
// Exits 77 (skipped) when not root, when `ip netns` or nftables are unavailable, or when
// nf_conntrack is not loaded. It never writes a global knob; the netns is deleted on exit.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"

using namespace ctpilot;
using policy::Knob;

namespace {

std::string gNetns;  // the namespace this run created

bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// Reads one line of `ip netns exec NETNS cat PATH`: an independent view of a knob in the netns.
std::string catInNetns(const std::string& path) {
  const std::string command = "ip netns exec " + gNetns + " cat " + path;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char buf[128] = {};
  const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
  ::pclose(pipe);
  std::string line = got ? buf : "";
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

sysfs::Netns testNetns() {
  policy::NetnsSelector selector;
  selector.mode = policy::NetnsSelector::Mode::Named;
  selector.names = {gNetns};
  auto found = sysfs::discoverNetns("/", selector);
  REQUIRE(found.has_value());
  REQUIRE(found->size() == 1);
  return found->front();
}

// Sends one UDP datagram to each of `flows` loopback ports from inside the netns: with the
// `ct state new` rule each one is a conntrack entry there (unreplied UDP lives 30 s).
void makeFlows(const sysfs::Netns& netns, int flows) {
  auto entered = sysfs::runInNetns(netns, [&] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < flows; ++i) {
      to.sin_port = htons(static_cast<std::uint16_t>(20000 + i));
      (void)::sendto(fd, "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
    ::close(fd);
  });
  REQUIRE(entered.has_value());
}

}  // namespace

TEST_CASE("runInNetns runs the function inside the namespace, and only that thread") {
  const auto netns = testNetns();
  struct stat inside {};
  auto entered = sysfs::runInNetns(netns, [&] { ::stat("/proc/thread-self/ns/net", &inside); });
  REQUIRE(entered.has_value());
  CHECK(static_cast<std::uint64_t>(inside.st_ino) == netns.inode);
  struct stat here {};
  REQUIRE(::stat("/proc/thread-self/ns/net", &here) == 0);
  CHECK(static_cast<std::uint64_t>(here.st_ino) == sysfs::initNetns().inode);
  CHECK(netns.inode != sysfs::initNetns().inode);
}

TEST_CASE("a timeout written inside a netns changes that netns only, and reads back") {
  const auto netns = testNetns();
  sysfs::ProcKnobStore store("/");
  const auto initBefore = store.read(sysfs::initNetns(), Knob::TcpTimeoutTimeWait);
  REQUIRE(initBefore.has_value());
  const auto before = store.read(netns, Knob::TcpTimeoutTimeWait);
  REQUIRE(before.has_value());
  const std::int64_t wanted = *before == 33 ? 34 : 33;

  const auto kept = store.write(netns, Knob::TcpTimeoutTimeWait, wanted);
  REQUIRE(kept.has_value());
  CHECK(*kept == wanted);
  CHECK(catInNetns("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait") == std::to_string(wanted));
  CHECK(store.read(sysfs::initNetns(), Knob::TcpTimeoutTimeWait).value_or(-1) == *initBefore);

  SUBCASE("a forgotten netns is reopened on the next read") {
    store.forget(netns);
    CHECK(store.read(netns, Knob::TcpTimeoutTimeWait).value_or(-1) == wanted);
  }
  // Restore (the netns is deleted at the end anyway).
  CHECK(store.write(netns, Knob::TcpTimeoutTimeWait, *before).value_or(-1) == *before);
}

TEST_CASE("a global knob is refused from a non-initial netns and stays as it was") {
  const auto netns = testNetns();
  sysfs::ProcKnobStore store("/");
  const auto max = store.read(sysfs::initNetns(), Knob::ConntrackMax);
  REQUIRE(max.has_value());
  CHECK(store.read(netns, Knob::ConntrackMax).value_or(-1) == *max);
  const auto refused = store.write(netns, Knob::ConntrackMax, *max + 1);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::Refused);
  CHECK(store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1) == *max);
}

TEST_CASE("statistics come over ctnetlink from the netns and agree with its /proc/net/stat and count") {
  const auto netns = testNetns();
  makeFlows(netns, 64);
  sysfs::ProcKnobStore store("/");
  sysfs::CtnetlinkStats netlink;
  sysfs::ProcfsStats procfs("/");

  const auto count = store.read(netns, Knob::Count);
  const auto viaNetlink = netlink.read(netns);
  const auto viaProcfs = procfs.read(netns);
  REQUIRE(count.has_value());
  REQUIRE(viaNetlink.has_value());
  REQUIRE(viaProcfs.has_value());

  CHECK(*count >= 64);
  CHECK(viaNetlink->source == sysfs::StatsSource::Netlink);
  CHECK(viaNetlink->entries == *count);
  CHECK(viaNetlink->maxEntries == store.read(sysfs::initNetns(), Knob::ConntrackMax).value_or(-1));
  CHECK(viaProcfs->entries == *count);
  CHECK_FALSE(viaNetlink->cpus.empty());
  CHECK(viaNetlink->cpus.size() == viaProcfs->cpus.size());
  for (std::size_t cpu = 0; cpu < viaNetlink->cpus.size() && cpu < viaProcfs->cpus.size(); ++cpu) {
    CAPTURE(cpu);
    CHECK(viaNetlink->cpus[cpu] == viaProcfs->cpus[cpu]);
  }
  // The initial netns tracks its own entries: not the 64 made here.
  const auto initStats = netlink.read(sysfs::initNetns());
  REQUIRE(initStats.has_value());
  CHECK(catInNetns("/proc/sys/net/netfilter/nf_conntrack_count") == std::to_string(*count));

  SUBCASE("the socket kept for the netns serves a second read, and a forgotten one is recreated") {
    CHECK(netlink.read(netns).has_value());
    netlink.forget(netns);
    const auto again = netlink.read(netns);
    REQUIRE(again.has_value());
    CHECK(again->entries == *count);
  }
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::puts("SKIP: needs root");
    return 77;
  }
  if (::access("/proc/sys/net/netfilter/nf_conntrack_count", F_OK) != 0) {
    std::puts("SKIP: nf_conntrack is not loaded");
    return 77;
  }
  // A namespace left by a run that crashed (its pid gone) is deleted first.
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/run/netns", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("ctp-sysfs-", 0) != 0) continue;
    const int pid = std::atoi(name.c_str() + 10);
    if (pid > 0 && ::kill(pid, 0) != 0) run("ip netns delete " + name);
  }
  gNetns = "ctp-sysfs-" + std::to_string(::getpid());
  if (!run("ip netns add " + gNetns)) {
    std::puts("SKIP: cannot create a network namespace (ip netns add)");
    return 77;
  }
  // Conntrack tracks in a netns only once a rule needs it.
  const std::string exec = "ip netns exec " + gNetns + " ";
  const bool ready = run(exec + "ip link set lo up") && run(exec + "nft add table inet t") &&
                     run(exec + "nft add chain inet t c '{ type filter hook output priority 0; }'") &&
                     run(exec + "nft add rule inet t c ct state new counter");
  int rc = 77;
  if (ready) {
    doctest::Context context(argc, argv);
    rc = context.run();
  } else {
    std::puts("SKIP: cannot set up nftables in the test netns");
  }
  run("ip netns delete " + gNetns);
  return rc;
}
