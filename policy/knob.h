// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conntrack knobs ctpilot knows, by their kernel names. Paths and scopes live in
// sysfs/knob_registry.h; this file is the pure vocabulary the policy and decide() use.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ctpilot::policy {

enum class Knob : std::uint8_t {
  ConntrackMax,  // nf_conntrack_max (global)
  Buckets,       // nf_conntrack_buckets (global)
  Count,         // nf_conntrack_count (per netns, read-only)
  TcpTimeoutSynSent,
  TcpTimeoutSynRecv,
  TcpTimeoutEstablished,
  TcpTimeoutFinWait,
  TcpTimeoutCloseWait,
  TcpTimeoutLastAck,
  TcpTimeoutTimeWait,
  TcpTimeoutClose,
  TcpTimeoutMaxRetrans,
  TcpTimeoutUnacknowledged,
  UdpTimeout,
  UdpTimeoutStream,
  IcmpTimeout,
  Icmpv6Timeout,
  GenericTimeout,
  GreTimeout,
  GreTimeoutStream,
  SctpTimeoutClosed,
  SctpTimeoutCookieWait,
  SctpTimeoutCookieEchoed,
  SctpTimeoutEstablished,
  SctpTimeoutShutdownSent,
  SctpTimeoutShutdownRecd,
  SctpTimeoutShutdownAckSent,
  SctpTimeoutHeartbeatSent,
};

/// Describes one knob: its kernel name and, for timeouts, the kernel's default in seconds.
struct KnobInfo {
  Knob knob;
  std::string_view kernelName;     // "nf_conntrack_tcp_timeout_time_wait"
  std::int64_t kernelDefault;      // seconds for timeouts; 0 where the kernel derives it from RAM
  bool timeout;
};

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

/// The values a knob can sensibly hold, both ends included.
struct ValueRange {
  std::int64_t min = 0;
  std::int64_t max = 0;
};

/// Returns the values ctpilot may ever write to `knob`: nf_conntrack_max and the buckets
/// 1..2^31-1 (the kernel's int), timeouts 1..2147483 seconds (jiffies must fit an int at
/// HZ=1000).
ValueRange validRange(Knob knob);

}  // namespace ctpilot::policy
