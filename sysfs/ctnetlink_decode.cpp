// SPDX-License-Identifier: Apache-2.0
// Pure encoding and decoding of ctnetlink statistics messages: the parsing half of
// CtnetlinkStats, kept apart so recorded kernel replies can be decoded (and fuzzed) without a
// kernel. Attributes are read with libnl's nla_parse, messages built with its message API.

#include "sysfs/ctnetlink_decode.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace ctpilot::sysfs {
namespace ctnetlink {
namespace {

constexpr std::uint16_t messageType(int subtype) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | subtype);
}

// nla_parse reads the attributes through struct pointers: decode from an aligned copy.
struct AlignedMessage {
  std::vector<std::uint32_t> storage;
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(storage.data()); }
};

Result<AlignedMessage> checkedCopy(std::span<const std::uint8_t> message, std::uint16_t expectedType,
                                   const char* what) {
  if (message.size() < NLMSG_HDRLEN + sizeof(nfgenmsg)) {
    return Error{Errc::Malformed,
                 std::string(what) + ": message of " + std::to_string(message.size()) + " bytes is truncated"};
  }
  AlignedMessage copy;
  copy.storage.resize((message.size() + 3) / 4);
  std::memcpy(copy.storage.data(), message.data(), message.size());
  const auto* nlh = copy.header();
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(nfgenmsg) || nlh->nlmsg_len > message.size()) {
    return Error{Errc::Malformed, std::string(what) + ": length " + std::to_string(nlh->nlmsg_len) + " does not fit " +
                                      std::to_string(message.size()) + " bytes"};
  }
  if (nlh->nlmsg_type != expectedType) {
    return Error{Errc::Malformed, std::string(what) + ": unexpected message type " + std::to_string(nlh->nlmsg_type)};
  }
  return copy;
}

// Attribute values are big-endian u32 (nla_put_be32 in the kernel); absent ones read as zero.
std::uint32_t be32(nlattr* const* attrs, int type) {
  return attrs[type] != nullptr ? ntohl(nla_get_u32(attrs[type])) : 0;
}

// A decoded message's attributes by type (nullptr where absent); `kMax` is the highest type.
template <int kMax>
struct Attributes {
  std::uint16_t resId = 0;  // nfgenmsg res_id: the CPU of a per-CPU reply
  std::array<nlattr*, kMax + 1> attrs{};
  AlignedMessage copy;  // owns the memory `attrs` points into
  std::uint32_t operator[](int type) const { return be32(attrs.data(), type); }
  bool has(int type) const { return attrs[type] != nullptr; }
};

// Checks that `message` is a ctnetlink `subtype` message and parses its u32 attributes.
template <int kMax>
Result<Attributes<kMax>> parseAttributes(std::span<const std::uint8_t> message, int subtype, const char* what) {
  auto copy = checkedCopy(message, messageType(subtype), what);
  if (!copy) return copy.error();
  Attributes<kMax> parsed;
  parsed.copy = std::move(*copy);
  nlmsghdr* nlh = parsed.copy.header();
  std::array<nla_policy, kMax + 1> policy{};
  for (auto& p : policy) p.type = NLA_U32;
  const int err = nla_parse(parsed.attrs.data(), kMax, nlmsg_attrdata(nlh, sizeof(nfgenmsg)),
                            nlmsg_attrlen(nlh, sizeof(nfgenmsg)), policy.data());
  if (err < 0) return Error{Errc::Malformed, std::string(what) + ": " + nl_geterror(err)};
  parsed.resId = nfnlmsg_res_id(nlh);
  return parsed;
}

}  // namespace

Result<CpuStatsReply> decodeCpuStats(std::span<const std::uint8_t> message) {
  auto a = parseAttributes<CTA_STATS_MAX>(message, IPCTNL_MSG_CT_GET_STATS_CPU, "IPCTNL_MSG_CT_GET_STATS_CPU");
  if (!a) return a.error();
  CpuStatsReply reply;
  reply.cpu = a->resId;
  for (const auto& f : counterFields()) reply.counters.*f.perCpu = (*a)[f.attribute];
  return reply;
}

Result<GlobalStatsReply> decodeGlobalStats(std::span<const std::uint8_t> message) {
  auto a = parseAttributes<CTA_STATS_GLOBAL_MAX>(message, IPCTNL_MSG_CT_GET_STATS, "IPCTNL_MSG_CT_GET_STATS");
  if (!a) return a.error();
  GlobalStatsReply reply;
  if (a->has(CTA_STATS_GLOBAL_ENTRIES)) reply.entries = (*a)[CTA_STATS_GLOBAL_ENTRIES];
  if (a->has(CTA_STATS_GLOBAL_MAX_ENTRIES)) reply.maxEntries = (*a)[CTA_STATS_GLOBAL_MAX_ENTRIES];
  return reply;
}

Result<std::vector<std::span<const std::uint8_t>>> splitMessages(std::span<const std::uint8_t> buffer) {
  std::vector<std::span<const std::uint8_t>> messages;
  std::size_t offset = 0;
  while (offset < buffer.size()) {
    if (buffer.size() - offset < NLMSG_HDRLEN)
      return Error{Errc::Malformed, "netlink buffer: truncated header at byte " + std::to_string(offset)};
    std::uint32_t len = 0;
    std::memcpy(&len, buffer.data() + offset, sizeof(len));
    if (len < NLMSG_HDRLEN || len > buffer.size() - offset) {
      return Error{Errc::Malformed,
                   "netlink buffer: bad length " + std::to_string(len) + " at byte " + std::to_string(offset)};
    }
    messages.push_back(buffer.subspan(offset, len));
    offset += NLMSG_ALIGN(len);
  }
  return messages;
}

namespace {

std::vector<std::uint8_t> bytesOf(nl_msg* msg) {
  const nlmsghdr* nlh = nlmsg_hdr(msg);
  const auto* data = reinterpret_cast<const std::uint8_t*>(nlh);
  std::vector<std::uint8_t> bytes(data, data + nlh->nlmsg_len);
  nlmsg_free(msg);
  return bytes;
}

}  // namespace

std::vector<std::uint8_t> encodeCpuStats(const CpuStatsReply& reply) {
  nl_msg* msg =
      nfnlmsg_alloc_simple(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_MULTI, AF_UNSPEC, reply.cpu);
  // The kernel puts the attributes in the order of their numbers (ctnetlink_ct_stat_cpu_fill_info).
  std::array<const CounterField*, kCounterCount> byAttribute{};
  for (std::size_t i = 0; i < kCounterCount; ++i) byAttribute[i] = &counterFields()[i];
  std::sort(byAttribute.begin(), byAttribute.end(), [](auto* a, auto* b) { return a->attribute < b->attribute; });
  for (const auto* f : byAttribute) nla_put_u32(msg, f->attribute, htonl(reply.counters.*f->perCpu));
  return bytesOf(msg);
}

std::vector<std::uint8_t> encodeGlobalStats(const GlobalStatsReply& reply) {
  nl_msg* msg = nfnlmsg_alloc_simple(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS, 0, AF_UNSPEC, 0);
  if (reply.entries) nla_put_u32(msg, CTA_STATS_GLOBAL_ENTRIES, htonl(static_cast<std::uint32_t>(*reply.entries)));
  if (reply.maxEntries)
    nla_put_u32(msg, CTA_STATS_GLOBAL_MAX_ENTRIES, htonl(static_cast<std::uint32_t>(*reply.maxEntries)));
  return bytesOf(msg);
}

Result<std::vector<std::uint8_t>> parseHex(std::string_view text) {
  std::vector<std::uint8_t> bytes;
  int pending = -1;
  bool comment = false;
  for (const char ch : text) {
    if (comment) {
      comment = ch != '\n';
      continue;
    }
    if (ch == '#') {
      comment = true;
      continue;
    }
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') continue;
    int digit = -1;
    if (ch >= '0' && ch <= '9') digit = ch - '0';
    if (ch >= 'a' && ch <= 'f') digit = ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') digit = ch - 'A' + 10;
    if (digit < 0) return Error{Errc::Malformed, std::string("hex: bad digit '") + ch + "'"};
    if (pending < 0) {
      pending = digit;
    } else {
      bytes.push_back(static_cast<std::uint8_t>(pending * 16 + digit));
      pending = -1;
    }
  }
  if (pending >= 0) return Error{Errc::Malformed, "hex: odd number of digits"};
  return bytes;
}

}  // namespace ctnetlink

}  // namespace ctpilot::sysfs
