// SPDX-License-Identifier: Apache-2.0
#include "policy/knob.h"

#include <array>

namespace ctpilot::policy {
namespace {

// Defaults as compiled into Linux 6.x (net/netfilter/nf_conntrack_proto_*.c).
constexpr std::array kKnobs{
    KnobInfo{Knob::ConntrackMax, "nf_conntrack_max", 0, false},
    KnobInfo{Knob::Buckets, "nf_conntrack_buckets", 0, false},
    KnobInfo{Knob::Count, "nf_conntrack_count", 0, false},
    KnobInfo{Knob::TcpTimeoutSynSent, "nf_conntrack_tcp_timeout_syn_sent", 120, true},
    KnobInfo{Knob::TcpTimeoutSynRecv, "nf_conntrack_tcp_timeout_syn_recv", 60, true},
    KnobInfo{Knob::TcpTimeoutEstablished, "nf_conntrack_tcp_timeout_established", 432000, true},
    KnobInfo{Knob::TcpTimeoutFinWait, "nf_conntrack_tcp_timeout_fin_wait", 120, true},
    KnobInfo{Knob::TcpTimeoutCloseWait, "nf_conntrack_tcp_timeout_close_wait", 60, true},
    KnobInfo{Knob::TcpTimeoutLastAck, "nf_conntrack_tcp_timeout_last_ack", 30, true},
    KnobInfo{Knob::TcpTimeoutTimeWait, "nf_conntrack_tcp_timeout_time_wait", 120, true},
    KnobInfo{Knob::TcpTimeoutClose, "nf_conntrack_tcp_timeout_close", 10, true},
    KnobInfo{Knob::TcpTimeoutMaxRetrans, "nf_conntrack_tcp_timeout_max_retrans", 300, true},
    KnobInfo{Knob::TcpTimeoutUnacknowledged, "nf_conntrack_tcp_timeout_unacknowledged", 300, true},
    KnobInfo{Knob::UdpTimeout, "nf_conntrack_udp_timeout", 30, true},
    KnobInfo{Knob::UdpTimeoutStream, "nf_conntrack_udp_timeout_stream", 120, true},
    KnobInfo{Knob::IcmpTimeout, "nf_conntrack_icmp_timeout", 30, true},
    KnobInfo{Knob::Icmpv6Timeout, "nf_conntrack_icmpv6_timeout", 30, true},
    KnobInfo{Knob::GenericTimeout, "nf_conntrack_generic_timeout", 600, true},
    KnobInfo{Knob::GreTimeout, "nf_conntrack_gre_timeout", 30, true},
    KnobInfo{Knob::GreTimeoutStream, "nf_conntrack_gre_timeout_stream", 180, true},
    KnobInfo{Knob::SctpTimeoutClosed, "nf_conntrack_sctp_timeout_closed", 10, true},
    KnobInfo{Knob::SctpTimeoutCookieWait, "nf_conntrack_sctp_timeout_cookie_wait", 3, true},
    KnobInfo{Knob::SctpTimeoutCookieEchoed, "nf_conntrack_sctp_timeout_cookie_echoed", 3, true},
    KnobInfo{Knob::SctpTimeoutEstablished, "nf_conntrack_sctp_timeout_established", 210, true},
    KnobInfo{Knob::SctpTimeoutShutdownSent, "nf_conntrack_sctp_timeout_shutdown_sent", 3, true},
    KnobInfo{Knob::SctpTimeoutShutdownRecd, "nf_conntrack_sctp_timeout_shutdown_recd", 3, true},
    KnobInfo{Knob::SctpTimeoutShutdownAckSent, "nf_conntrack_sctp_timeout_shutdown_ack_sent", 3, true},
    KnobInfo{Knob::SctpTimeoutHeartbeatSent, "nf_conntrack_sctp_timeout_heartbeat_sent", 30, true},
};

constexpr std::string_view kPrefix = "nf_conntrack_";

}  // namespace

std::span<const KnobInfo> allKnobs() { return kKnobs; }

const KnobInfo& knobInfo(Knob knob) { return kKnobs[static_cast<std::size_t>(knob)]; }

std::string_view kernelName(Knob knob) { return knobInfo(knob).kernelName; }

std::string_view policyName(Knob knob) {
  const auto& info = knobInfo(knob);
  return info.timeout ? info.kernelName.substr(kPrefix.size()) : info.kernelName;
}

std::optional<Knob> knobByName(std::string_view name) {
  for (const auto& info : kKnobs) {
    if (info.kernelName == name || policyName(info.knob) == name) return info.knob;
  }
  return std::nullopt;
}

bool isTimeout(Knob knob) { return knobInfo(knob).timeout; }

std::int64_t kernelDefault(Knob knob) { return knobInfo(knob).kernelDefault; }

ValueRange validRange(Knob knob) {
  constexpr std::int64_t kIntMax = 2147483647;
  if (isTimeout(knob)) return {1, kIntMax / 1000};
  return {1, kIntMax};
}

}  // namespace ctpilot::policy
