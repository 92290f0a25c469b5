// SPDX-License-Identifier: Apache-2.0
// A ctnetlink receive that gets no answer must end as an error within the receive timeout, so
// FallbackStats reads procfs for that tick instead of the loop hanging (README "Running ctpilot
// as a service": the watchdog). The socket is a real NETLINK_NETFILTER socket to which nothing
// is sent, so the kernel never answers; the timeout is 1 ms.

#include <doctest/doctest.h>

#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <chrono>
#include <memory>

#include "sysfs/stats.h"

namespace sysfs = ctpilot::sysfs;

namespace {

struct Socket {
  Socket() : sock(nl_socket_alloc()) {
    REQUIRE(sock != nullptr);
    nl_socket_disable_auto_ack(sock);
    REQUIRE(nfnl_connect(sock) == 0);
    REQUIRE(sysfs::setReceiveTimeout(sock, std::chrono::milliseconds(1)));
  }
  ~Socket() { nl_socket_free(sock); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  nl_sock* sock;
};

}  // namespace

TEST_CASE("a ctnetlink statistics dump that never arrives is an error, never an empty reply") {
  Socket s;
  const auto stats = sysfs::receiveCpuStats(s.sock);
  REQUIRE_FALSE(stats.has_value());
  CHECK(stats.error().code == ctpilot::Errc::Io);
  INFO(stats.error().what);
  CHECK(stats.error().what.find("within the receive timeout") != std::string::npos);
}
