// SPDX-License-Identifier: Apache-2.0
#include "sysfs/knob_registry.h"

#include <array>

namespace ctpilot::sysfs {
namespace {

// Every knob ctpilot may touch. The kernel keeps nf_conntrack_max and the bucket count global
// (writable only from the initial netns); count and timeouts exist per netns.
constexpr std::array kRegistry{
    RegistryEntry{Knob::ConntrackMax, "/proc/sys/net/netfilter/nf_conntrack_max", Scope::Global, true},
    RegistryEntry{Knob::Buckets, "/proc/sys/net/netfilter/nf_conntrack_buckets", Scope::Global, true},
    RegistryEntry{Knob::Count, "/proc/sys/net/netfilter/nf_conntrack_count", Scope::Netns, false},
    RegistryEntry{Knob::TcpTimeoutSynSent, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_sent", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutSynRecv, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_syn_recv", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutEstablished, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutFinWait, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_fin_wait", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutCloseWait, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutLastAck, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_last_ack", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutTimeWait, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutClose, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutMaxRetrans, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_max_retrans", Scope::Netns, true},
    RegistryEntry{Knob::TcpTimeoutUnacknowledged, "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_unacknowledged", Scope::Netns, true},
    RegistryEntry{Knob::UdpTimeout, "/proc/sys/net/netfilter/nf_conntrack_udp_timeout", Scope::Netns, true},
    RegistryEntry{Knob::UdpTimeoutStream, "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream", Scope::Netns, true},
    RegistryEntry{Knob::IcmpTimeout, "/proc/sys/net/netfilter/nf_conntrack_icmp_timeout", Scope::Netns, true},
    RegistryEntry{Knob::Icmpv6Timeout, "/proc/sys/net/netfilter/nf_conntrack_icmpv6_timeout", Scope::Netns, true},
    RegistryEntry{Knob::GenericTimeout, "/proc/sys/net/netfilter/nf_conntrack_generic_timeout", Scope::Netns, true},
    RegistryEntry{Knob::GreTimeout, "/proc/sys/net/netfilter/nf_conntrack_gre_timeout", Scope::Netns, true},
    RegistryEntry{Knob::GreTimeoutStream, "/proc/sys/net/netfilter/nf_conntrack_gre_timeout_stream", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutClosed, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_closed", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutCookieWait, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_cookie_wait", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutCookieEchoed, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_cookie_echoed", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutEstablished, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_established", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutShutdownSent, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_shutdown_sent", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutShutdownRecd, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_shutdown_recd", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutShutdownAckSent, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_shutdown_ack_sent", Scope::Netns, true},
    RegistryEntry{Knob::SctpTimeoutHeartbeatSent, "/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_heartbeat_sent", Scope::Netns, true},
};

}  // namespace

const RegistryEntry& registryEntry(Knob knob) { return kRegistry[static_cast<std::size_t>(knob)]; }


}  // namespace ctpilot::sysfs
