// SPDX-License-Identifier: Apache-2.0
#pragma once
// Pure encoding and decoding of ctnetlink statistics messages (a netlink header, an nfgenmsg
// and attributes), so that recorded kernel replies can be decoded without a kernel.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "policy/result.h"
#include "sysfs/stats.h"

namespace ctpilot::sysfs::ctnetlink {

/// One CPU's reply to IPCTNL_MSG_CT_GET_STATS_CPU.
struct CpuStatsReply {
  std::uint16_t cpu = 0;  // nfgenmsg res_id
  CpuCounters counters;
};

/// The reply to IPCTNL_MSG_CT_GET_STATS: the netns entry count and the global limit.
struct GlobalStatsReply {
  std::optional<std::int64_t> entries;
  std::optional<std::int64_t> maxEntries;
};

/// Decodes one IPCTNL_MSG_CT_GET_STATS_CPU message (starting at its nlmsghdr). Missing
/// attributes are zero. Errc::Malformed when truncated or of another message type.
Result<CpuStatsReply> decodeCpuStats(std::span<const std::uint8_t> message);

/// Decodes one IPCTNL_MSG_CT_GET_STATS message. Errc::Malformed when truncated or of another type.
Result<GlobalStatsReply> decodeGlobalStats(std::span<const std::uint8_t> message);

/// Splits a buffer of back-to-back netlink messages into messages; Errc::Malformed on a bad length.
Result<std::vector<std::span<const std::uint8_t>>> splitMessages(std::span<const std::uint8_t> buffer);

/// Builds an IPCTNL_MSG_CT_GET_STATS_CPU message as the kernel sends it (libnl's message API).
std::vector<std::uint8_t> encodeCpuStats(const CpuStatsReply& reply);

/// Builds an IPCTNL_MSG_CT_GET_STATS message; absent values are left out.
std::vector<std::uint8_t> encodeGlobalStats(const GlobalStatsReply& reply);

/// Parses hex text (whitespace and '#' comments ignored) into bytes; Errc::Malformed on a bad digit.
Result<std::vector<std::uint8_t>> parseHex(std::string_view text);

}  // namespace ctpilot::sysfs::ctnetlink
