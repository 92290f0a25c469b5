// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conntrack knobs ctpilot knows, by their kernel names: one table (CTPILOT_KNOBS) with
// their scope, kind, valid range and kernel default. sysfs/knob_registry.h derives the paths
// from it; this file is the pure vocabulary the policy and decide() use.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

namespace ctpilot::policy {

/// Where the kernel keeps a knob: one value for the machine, written from the initial netns
/// (Global), or one per network namespace (Netns).
enum class KnobScope : std::uint8_t { Global, Netns };

/// What a knob holds: a table size (Limit), a timeout in seconds (Timeout), or a figure ctpilot
/// only reads (ReadOnly).
enum class KnobKind : std::uint8_t { Limit, Timeout, ReadOnly };

/// The values a knob can sensibly hold, both ends included.
struct ValueRange {
  std::int64_t min = 0;
  std::int64_t max = 0;
};

/// The values of a table size (nf_conntrack_max, the buckets): 1..2^31-1, the kernel's int.
inline constexpr ValueRange kTableSizeRange{1, 2147483647};
/// The values of a timeout in seconds: 1..2147483, since jiffies must fit an int at HZ=1000.
inline constexpr ValueRange kTimeoutRange{1, kTableSizeRange.max / 1000};

// One row per knob, the only list of them (README "Code map" says how to add one): enum name,
// kernel name (its file is /proc/sys/net/netfilter/NAME, sysfs/knob_registry.cpp), scope, kind
// (which gives the valid range: validRange()), and the kernel's default in seconds for
// timeouts, 0 where the kernel derives it from RAM. Defaults as compiled into Linux 6.x
// (net/netfilter/nf_conntrack_proto_*.c). Policy files name timeouts without "nf_conntrack_".
#define CTPILOT_KNOBS(X)                                                                          \
  X(ConntrackMax, "nf_conntrack_max", Global, Limit, 0)                                           \
  X(Buckets, "nf_conntrack_buckets", Global, Limit, 0)                                            \
  X(Count, "nf_conntrack_count", Netns, ReadOnly, 0)                                              \
  X(TcpTimeoutSynSent, "nf_conntrack_tcp_timeout_syn_sent", Netns, Timeout, 120)                  \
  X(TcpTimeoutSynRecv, "nf_conntrack_tcp_timeout_syn_recv", Netns, Timeout, 60)                   \
  X(TcpTimeoutEstablished, "nf_conntrack_tcp_timeout_established", Netns, Timeout, 432000)        \
  X(TcpTimeoutFinWait, "nf_conntrack_tcp_timeout_fin_wait", Netns, Timeout, 120)                  \
  X(TcpTimeoutCloseWait, "nf_conntrack_tcp_timeout_close_wait", Netns, Timeout, 60)               \
  X(TcpTimeoutLastAck, "nf_conntrack_tcp_timeout_last_ack", Netns, Timeout, 30)                   \
  X(TcpTimeoutTimeWait, "nf_conntrack_tcp_timeout_time_wait", Netns, Timeout, 120)                \
  X(TcpTimeoutClose, "nf_conntrack_tcp_timeout_close", Netns, Timeout, 10)                        \
  X(TcpTimeoutMaxRetrans, "nf_conntrack_tcp_timeout_max_retrans", Netns, Timeout, 300)            \
  X(TcpTimeoutUnacknowledged, "nf_conntrack_tcp_timeout_unacknowledged", Netns, Timeout, 300)     \
  X(UdpTimeout, "nf_conntrack_udp_timeout", Netns, Timeout, 30)                                   \
  X(UdpTimeoutStream, "nf_conntrack_udp_timeout_stream", Netns, Timeout, 120)                     \
  X(IcmpTimeout, "nf_conntrack_icmp_timeout", Netns, Timeout, 30)                                 \
  X(Icmpv6Timeout, "nf_conntrack_icmpv6_timeout", Netns, Timeout, 30)                             \
  X(GenericTimeout, "nf_conntrack_generic_timeout", Netns, Timeout, 600)                          \
  X(GreTimeout, "nf_conntrack_gre_timeout", Netns, Timeout, 30)                                   \
  X(GreTimeoutStream, "nf_conntrack_gre_timeout_stream", Netns, Timeout, 180)                     \
  X(SctpTimeoutClosed, "nf_conntrack_sctp_timeout_closed", Netns, Timeout, 10)                    \
  X(SctpTimeoutCookieWait, "nf_conntrack_sctp_timeout_cookie_wait", Netns, Timeout, 3)            \
  X(SctpTimeoutCookieEchoed, "nf_conntrack_sctp_timeout_cookie_echoed", Netns, Timeout, 3)        \
  X(SctpTimeoutEstablished, "nf_conntrack_sctp_timeout_established", Netns, Timeout, 210)         \
  X(SctpTimeoutShutdownSent, "nf_conntrack_sctp_timeout_shutdown_sent", Netns, Timeout, 3)        \
  X(SctpTimeoutShutdownRecd, "nf_conntrack_sctp_timeout_shutdown_recd", Netns, Timeout, 3)        \
  X(SctpTimeoutShutdownAckSent, "nf_conntrack_sctp_timeout_shutdown_ack_sent", Netns, Timeout, 3) \
  X(SctpTimeoutHeartbeatSent, "nf_conntrack_sctp_timeout_heartbeat_sent", Netns, Timeout, 30)

/// A conntrack knob, by its row in CTPILOT_KNOBS.
enum class Knob : std::uint8_t {
#define CTPILOT_KNOB_ENUM(name, kernel, scope, kind, kernelDefault) name,
  CTPILOT_KNOBS(CTPILOT_KNOB_ENUM)
#undef CTPILOT_KNOB_ENUM
};

/// Describes one knob: one row of CTPILOT_KNOBS.
struct KnobInfo {
  Knob knob;
  std::string_view kernelName;  // "nf_conntrack_tcp_timeout_time_wait"
  std::int64_t kernelDefault;   // seconds for timeouts; 0 where the kernel derives it from RAM
  bool timeout;                 // kind == KnobKind::Timeout
  KnobScope scope;
  KnobKind kind;
};

/// Every knob, in the order of the enum.
inline constexpr KnobInfo kKnobs[] = {
#define CTPILOT_KNOB_INFO(name, kernel, scope_, kind_, kernelDefault_)                              \
  KnobInfo{Knob::name,        kernel,         kernelDefault_, KnobKind::kind_ == KnobKind::Timeout, \
           KnobScope::scope_, KnobKind::kind_},
    CTPILOT_KNOBS(CTPILOT_KNOB_INFO)
#undef CTPILOT_KNOB_INFO
};

namespace detail {
// knobInfo() indexes kKnobs by the enum's value: row i must be enum value i. Every kernel name
// starts with "nf_conntrack_" (policyName() drops it from timeouts) and is unique; a timeout's
// default is in its valid range, other knobs have none.
constexpr bool knobRowsValid() {
  constexpr std::string_view kPrefix = "nf_conntrack_";
  for (std::size_t i = 0; i < std::size(kKnobs); ++i) {
    const auto& info = kKnobs[i];
    if (static_cast<std::size_t>(info.knob) != i || !info.kernelName.starts_with(kPrefix)) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (kKnobs[j].kernelName == info.kernelName) return false;
    }
    const bool defaultFits = info.timeout
                                 ? info.kernelDefault >= kTimeoutRange.min && info.kernelDefault <= kTimeoutRange.max
                                 : info.kernelDefault == 0;
    if (!defaultFits) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::knobRowsValid(),
              "CTPILOT_KNOBS: a row is out of enum order, misnamed, duplicated or has a bad default");

/// Returns every knob ctpilot knows, in declaration order.
std::span<const KnobInfo> allKnobs();

/// Returns the description of `knob`.
const KnobInfo& knobInfo(Knob knob);

/// Returns the kernel name, e.g. "nf_conntrack_max".
std::string_view kernelName(Knob knob);

/// Returns the name used in policy files: the kernel name without "nf_conntrack_"
/// for timeouts ("tcp_timeout_time_wait"), the kernel name otherwise.
std::string_view policyName(Knob knob);

/// Finds a knob by kernel name or policy name; nullopt when unknown.
std::optional<Knob> knobByName(std::string_view name);

/// Tells whether `knob` is a conntrack timeout (per-netns, seconds).
bool isTimeout(Knob knob);

/// Returns the kernel's default for a timeout in seconds (0 for non-timeouts).
std::int64_t kernelDefault(Knob knob);

/// Returns the values ctpilot may ever write to `knob`: kTimeoutRange for timeouts,
/// kTableSizeRange otherwise.
constexpr ValueRange validRange(Knob knob) {
  return kKnobs[static_cast<std::size_t>(knob)].kind == KnobKind::Timeout ? kTimeoutRange : kTableSizeRange;
}

}  // namespace ctpilot::policy
