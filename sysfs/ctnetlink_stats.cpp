// SPDX-License-Identifier: Apache-2.0
// Conntrack statistics over ctnetlink with libnl. libnl-nf-3 has no helper for the statistics
// messages, so requests are built with nfnlmsg_alloc_simple and replies parsed with nla_parse.

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "sysfs/ctnetlink_decode.h"
#include "sysfs/stats.h"

namespace ctpilot::sysfs {
namespace {

Errc errcFromNl(int err) {
  switch (err < 0 ? -err : err) {
    case NLE_PERM:
    case NLE_NOACCESS: return Errc::Refused;
    case NLE_OPNOTSUPP:
    case NLE_OBJ_NOTFOUND:
    case NLE_PROTO_MISMATCH:
    case NLE_AF_NOSUPPORT: return Errc::Missing;
    case NLE_INVAL: return Errc::Rejected;
    default: return Errc::Io;
  }
}

Error nlError(int err, const std::string& context) { return Error{errcFromNl(err), context + ": " + nl_geterror(err)}; }

struct SocketDeleter {
  void operator()(nl_sock* sock) const { nl_socket_free(sock); }
};
using SocketPtr = std::unique_ptr<nl_sock, SocketDeleter>;

struct Collector {
  ConntrackStats* stats = nullptr;
  ctnetlink::GlobalStatsReply global;
  std::optional<Error> error;
  bool complete = false;  // the dump's NLMSG_DONE, or the single reply, arrived
};

int onDumpDone(nl_msg* /*msg*/, void* arg) {
  static_cast<Collector*>(arg)->complete = true;
  return NL_STOP;
}

// The bytes of one netlink message, header included, as the decoders take them.
std::span<const std::uint8_t> messageBytes(nl_msg* msg) {
  const nlmsghdr* nlh = nlmsg_hdr(msg);
  return {reinterpret_cast<const std::uint8_t*>(nlh), nlh->nlmsg_len};
}

// Keeps the first error of a reply and returns `verdict` for libnl.
int keepError(Collector& collector, const Error& error, int verdict) {
  if (!collector.error) collector.error = error;
  return verdict;
}

int onGlobalMessage(nl_msg* msg, void* arg) {
  auto* collector = static_cast<Collector*>(arg);
  auto decoded = ctnetlink::decodeGlobalStats(messageBytes(msg));
  if (!decoded) return keepError(*collector, decoded.error(), NL_STOP);
  collector->global = *decoded;
  collector->complete = true;
  // The kernel flags this single reply NLM_F_MULTI but sends no NLMSG_DONE after it: stop here
  // or libnl would wait for the end of a dump forever.
  return NL_STOP;
}

// Feeds every reply on `sock` to `handler` until the kernel is done.
Result<void> receiveReply(nl_sock* sock, nl_recvmsg_msg_cb_t handler, Collector& collector, const char* what) {
  nl_socket_modify_cb(sock, NL_CB_VALID, NL_CB_CUSTOM, handler, &collector);
  nl_socket_modify_cb(sock, NL_CB_FINISH, NL_CB_CUSTOM, onDumpDone, &collector);
  const int received = nl_recvmsgs_default(sock);
  // A receive timeout (SO_RCVTIMEO) is EAGAIN: libnl 3.7 returns it as NLE_AGAIN, older libnl
  // as a read of nothing (nl_recvmsgs then returns 0 as for a finished reply: only the missing
  // end of the reply tells them apart).
  if (received == -NLE_AGAIN) return Error{Errc::Io, std::string(what) + ": no reply within the receive timeout"};
  if (received < 0) return nlError(received, what);
  if (collector.error) return *collector.error;
  if (!collector.complete) return Error{Errc::Io, std::string(what) + ": no complete reply within the receive timeout"};
  return {};
}

// Sends one ctnetlink request without payload.
Result<void> send(nl_sock* sock, int subtype, int flags, const char* what) {
  nl_msg* msg = nfnlmsg_alloc_simple(NFNL_SUBSYS_CTNETLINK, static_cast<std::uint8_t>(subtype), flags, AF_UNSPEC, 0);
  if (msg == nullptr) return Error{Errc::Io, std::string(what) + ": out of memory"};
  const int sent = nl_send_auto(sock, msg);
  nlmsg_free(msg);
  if (sent < 0) return nlError(sent, what);
  return {};
}

// Sends one ctnetlink request and feeds every reply to `handler` until the kernel is done.
Result<void> request(nl_sock* sock, int subtype, int flags, nl_recvmsg_msg_cb_t handler, Collector& collector,
                     const char* what) {
  if (auto sent = send(sock, subtype, flags, what); !sent) return sent.error();
  return receiveReply(sock, handler, collector, what);
}

constexpr const char* kCpuStatsWhat = "ctnetlink IPCTNL_MSG_CT_GET_STATS_CPU";
// The receive buffer: the largest dump message the kernel builds for a reader (32 KiB).
constexpr std::size_t kReceiveBuffer = 32768;

// The per-CPU request, written and read on the socket's descriptor without libnl: a paced tick
// pays for every allocation and copy on a cold cache, and libnl allocates a message to send and
// a receive buffer per read. The request is what nfnlmsg_alloc_simple builds, without payload.
Result<void> sendCpuStatsRequest(int fd, std::uint32_t seq) {
  struct {
    nlmsghdr header;
    nfgenmsg nfnl;
  } request{};
  static_assert(sizeof request == NLMSG_LENGTH(sizeof(nfgenmsg)));
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU);
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = seq;
  request.nfnl.nfgen_family = AF_UNSPEC;
  request.nfnl.version = NFNETLINK_V0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const auto sent =
      ::sendto(fd, &request, sizeof request, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
  if (sent < 0) return errnoError(errno, kCpuStatsWhat);
  if (static_cast<std::size_t>(sent) != sizeof request)
    return Error{Errc::Io, std::string(kCpuStatsWhat) + ": short send"};
  return {};
}

// One message of the per-CPU dump into `stats`; true at its end (NLMSG_DONE).
Result<bool> takeCpuMessage(const nlmsghdr* header, ConntrackStats& stats) {
  if (header->nlmsg_type == NLMSG_DONE) return true;
  if (header->nlmsg_type == NLMSG_ERROR) {
    if (header->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Error{Errc::Malformed, "short NLMSG_ERROR"};
    const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
    if (error->error == 0) return false;  // an acknowledgement
    return errnoError(-error->error, kCpuStatsWhat);
  }
  if (header->nlmsg_type < NLMSG_MIN_TYPE) return false;  // NLMSG_NOOP, NLMSG_OVERRUN
  auto decoded = ctnetlink::decodeCpuStats({reinterpret_cast<const std::uint8_t*>(header), header->nlmsg_len});
  if (!decoded) return decoded.error();
  if (decoded->cpu >= stats.cpus.size()) stats.cpus.resize(decoded->cpu + 1U);
  stats.cpus[decoded->cpu] = decoded->counters;
  return false;
}

// Reads the reply to a per-CPU dump from `fd` into `buffer` (kReceiveBuffer bytes) until its
// NLMSG_DONE. Messages of another sequence number (left from an earlier request) are skipped;
// seq 0 takes any. The first malformed message is the error, once the dump is read to its end.
Result<ConntrackStats> receiveCpuDump(int fd, std::uint32_t seq, std::vector<std::uint8_t>& buffer) {
  ConntrackStats stats;
  stats.source = StatsSource::Netlink;
  std::optional<Error> firstError;
  for (;;) {
    const auto got = ::recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Error{Errc::Io, std::string(kCpuStatsWhat) + ": no reply within the receive timeout"};
    }
    if (got < 0) return errnoError(errno, kCpuStatsWhat);
    if (got == 0) return Error{Errc::Io, std::string(kCpuStatsWhat) + ": socket closed"};
    if (static_cast<std::size_t>(got) > buffer.size()) {
      return Error{Errc::Malformed, std::string(kCpuStatsWhat) + ": a message larger than the receive buffer"};
    }
    // NLMSG_OK and NLMSG_NEXT spelled out with unsigned sizes (the macros compare an int with __u32):
    // a header that does not fit, or claims more than was received, ends the datagram.
    const auto size = static_cast<std::size_t>(got);
    for (std::size_t offset = 0; size - offset >= sizeof(nlmsghdr);) {
      const auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data() + offset);
      if (header->nlmsg_len < sizeof(nlmsghdr) || header->nlmsg_len > size - offset) break;
      offset = std::min<std::size_t>(size, offset + NLMSG_ALIGN(header->nlmsg_len));
      if (seq != 0 && header->nlmsg_seq != seq) continue;
      auto taken = takeCpuMessage(header, stats);
      if (!taken) {
        // An error reply ends the request; a message that does not decode leaves the rest to read.
        if (header->nlmsg_type == NLMSG_ERROR) return taken.error();
        if (!firstError) firstError = taken.error();
        continue;
      }
      if (*taken) return firstError ? Result<ConntrackStats>(*firstError) : Result<ConntrackStats>(std::move(stats));
    }
  }
}

}  // namespace

Result<void> setReceiveTimeout(nl_sock* sock, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(nl_socket_get_fd(sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    return errnoError(errno, "netlink socket receive timeout");
  }
  return {};
}

Result<ConntrackStats> receiveCpuStats(nl_sock* sock) {
  std::vector<std::uint8_t> buffer(kReceiveBuffer);
  return receiveCpuDump(nl_socket_get_fd(sock), 0, buffer);
}

struct CtnetlinkStats::State {
  // One socket per netns (key: inode; 0 for the initial netns): a netlink socket talks to the
  // namespace it was created in, whichever thread uses it later.
  std::map<std::uint64_t, SocketPtr> sockets;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kReceiveBuffer);  // reused by every read
  std::uint32_t seq = 0;                                                         // of the last request sent

  std::uint32_t nextSeq() {
    if (++seq == 0) seq = 1;  // 0 would take any message
    return seq;
  }

  static std::uint64_t key(const Netns& netns) { return netns.initial() ? 0 : netns.inode; }

  Result<nl_sock*> socketFor(const Netns& netns) {
    if (const auto found = sockets.find(key(netns)); found != sockets.end()) return found->second.get();
    SocketPtr sock(nl_socket_alloc());
    if (!sock) return Error{Errc::Io, "netlink socket: out of memory"};
    // Replies are read explicitly; an ACK after a one-message reply would confuse the next read.
    nl_socket_disable_auto_ack(sock.get());
    // libnl peeks at each message's size before reading it (two recvmsg per read). The replies
    // here are small, and the kernel sizes a dump's messages to the reader's buffer: one read
    // into a fixed buffer suffices (a longer message is an error, not a silent truncation).
    nl_socket_disable_msg_peek(sock.get());
    if (nl_socket_set_msg_buf_size(sock.get(), kReceiveBuffer) < 0)
      return Error{Errc::Io, "netlink socket buffer size"};
    int connected = 0;
    auto entered = runInNetns(netns, [&] { connected = nfnl_connect(sock.get()); });
    if (!entered) return entered.error();
    if (connected < 0) return nlError(connected, "connect ctnetlink in netns " + netns.name);
    // A receive that never returns would freeze the loop: a timeout makes it an error instead,
    // and FallbackStats then reads procfs for the tick.
    if (auto timed = setReceiveTimeout(sock.get(), kNetlinkReceiveTimeout); !timed) return timed.error();
    return sockets.emplace(key(netns), std::move(sock)).first->second.get();
  }
};

CtnetlinkStats::CtnetlinkStats() : state_(std::make_unique<State>()) {}

CtnetlinkStats::~CtnetlinkStats() = default;

Result<ConntrackStats> CtnetlinkStats::readCounters(const Netns& netns) {
  auto sock = state_->socketFor(netns);
  if (!sock) return sock.error();
  // The kernel answers the per-CPU request as a dump: one message per possible CPU, the CPU id
  // in nfgenmsg.res_id, ended by NLMSG_DONE.
  const int fd = nl_socket_get_fd(*sock);
  const auto seq = state_->nextSeq();
  const auto sent = sendCpuStatsRequest(fd, seq);
  auto cpus = sent ? receiveCpuDump(fd, seq, state_->buffer) : Result<ConntrackStats>(sent.error());
  if (!cpus) {
    // A half-read dump would leave messages behind: start over with a fresh socket next time.
    forget(netns);
    return Error{cpus.error().code, cpus.error().what + " (netns " + netns.name + ")"};
  }
  return cpus;
}

Result<ConntrackStats> CtnetlinkStats::read(const Netns& netns) {
  auto cpus = readCounters(netns);
  if (!cpus) return cpus;
  auto stats = std::move(cpus.value());
  // readCounters opened the socket, or found it open.
  auto sock = state_->socketFor(netns);
  if (!sock) return stats;
  Collector globalCollector{&stats, {}, {}};
  auto global =
      request(*sock, IPCTNL_MSG_CT_GET_STATS, 0, onGlobalMessage, globalCollector, "ctnetlink IPCTNL_MSG_CT_GET_STATS");
  if (global) {
    stats.entries = globalCollector.global.entries;
    stats.maxEntries = globalCollector.global.maxEntries;
  } else {
    // Old kernels lack the table-wide message; the per-CPU counters still stand.
    forget(netns);
  }
  return stats;
}

void CtnetlinkStats::forget(const Netns& netns) { state_->sockets.erase(State::key(netns)); }

}  // namespace ctpilot::sysfs
