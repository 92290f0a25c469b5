// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conntrack statistics counters, one row each: the ctnetlink decoder and encoder, the
// /proc/net/stat/nf_conntrack parser, the trace (record, replay, Prometheus import), `ctpilot
// status` and the metrics all read this table. README "Code map" says how to add a counter.

#include <linux/netfilter/nfnetlink_conntrack.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ctpilot::sysfs {

// One row per counter, in the order `ctpilot status` and the metrics show them (most telling
// first): the member of CpuCounters and CounterTotals; the name (a trace's key, node_exporter's
// node_nf_conntrack_stat_NAME, the metric ctpilot_conntrack_NAME_total); the ctnetlink
// attribute (IPCTNL_MSG_CT_GET_STATS_CPU); the place of the key in a trace line; the column of
// /proc/net/stat/nf_conntrack and the key of `ctpilot status` where they differ from the name
// (nullptr: the name); the metric's help (nullptr: not a metric). Names are never renamed:
// traces, status scripts and dashboards keep them.
#define CTPILOT_COUNTERS(X)                                                                                        \
  X(drop, "drop", CTA_STATS_DROP, 1, nullptr, nullptr, "Packets dropped because the table was full (kernel drop)") \
  X(earlyDrop, "early_drop", CTA_STATS_EARLY_DROP, 2, nullptr, nullptr,                                            \
    "Unassured entries evicted to make room (kernel early_drop)")                                                  \
  X(insertFailed, "insert_failed", CTA_STATS_INSERT_FAILED, 3, nullptr, nullptr,                                   \
    "Entries that could not be inserted (kernel insert_failed)")                                                   \
  X(chainTooLong, "chaintoolong", CTA_STATS_CHAIN_TOOLONG, 9, "chainlength", nullptr,                              \
    "Inserts refused for a too long hash chain (kernel chaintoolong)")                                             \
  X(searchRestart, "search_restart", CTA_STATS_SEARCH_RESTART, 7, nullptr, nullptr, nullptr)                       \
  X(clashResolve, "clash_resolve", CTA_STATS_CLASH_RESOLVE, 8, "clashres", nullptr, nullptr)                       \
  X(insert, "insert", CTA_STATS_INSERT, 0, nullptr, nullptr, "Entries inserted (kernel insert)")                   \
  X(found, "found", CTA_STATS_FOUND, 4, nullptr, nullptr, nullptr)                                                 \
  X(invalid, "invalid", CTA_STATS_INVALID, 5, nullptr, nullptr, nullptr)                                           \
  X(error, "icmp_error", CTA_STATS_ERROR, 6, nullptr, "error", nullptr)

/// One CPU's counters, as the kernel keeps them (32-bit, wrapping).
struct CpuCounters {
#define CTPILOT_COUNTER_CPU(member, name, attribute, traceAt, procfs, status, help) std::uint32_t member = 0;
  CTPILOT_COUNTERS(CTPILOT_COUNTER_CPU)
#undef CTPILOT_COUNTER_CPU
  friend bool operator==(const CpuCounters&, const CpuCounters&) = default;
};

/// The per-CPU counters of one netns as 64-bit totals: summed over CPUs, or accumulated
/// across the 32-bit counters' wraps.
struct CounterTotals {
#define CTPILOT_COUNTER_TOTAL(member, name, attribute, traceAt, procfs, status, help) std::uint64_t member = 0;
  CTPILOT_COUNTERS(CTPILOT_COUNTER_TOTAL)
#undef CTPILOT_COUNTER_TOTAL
};

/// One row of CTPILOT_COUNTERS, with the aliases resolved.
struct CounterField {
  const char* name;          // "insert_failed", "icmp_error", "chaintoolong"
  int attribute;             // CTA_STATS_INSERT_FAILED
  std::size_t traceAt;       // 0 for the first counter key of a trace line
  const char* procfsColumn;  // "chainlength"
  const char* statusKey;     // "error"
  const char* metricHelp;    // nullptr: not a metric
  std::uint32_t CpuCounters::*perCpu;
  std::uint64_t CounterTotals::*total;
};

/// Every counter, in the order `ctpilot status` and the metrics show them.
inline constexpr CounterField kCounterFields[] = {
#define CTPILOT_COUNTER_FIELD(member, name, attribute, traceAt, procfs, status, help) \
  CounterField{name,                                                                  \
               attribute,                                                             \
               traceAt,                                                               \
               (procfs) == nullptr ? name : (procfs),                                 \
               (status) == nullptr ? name : (status),                                 \
               help,                                                                  \
               &CpuCounters::member,                                                  \
               &CounterTotals::member},
    CTPILOT_COUNTERS(CTPILOT_COUNTER_FIELD)
#undef CTPILOT_COUNTER_FIELD
};

/// How many counters there are.
inline constexpr std::size_t kCounterCount = std::size(kCounterFields);

/// Returns every counter, for code that treats them all alike.
constexpr std::span<const CounterField> counterFields() { return kCounterFields; }

/// Returns the counter names in the order a trace line holds them (README "Replay your own traffic").
constexpr std::array<const char*, kCounterCount> counterNamesInTraceOrder() {
  std::array<const char*, kCounterCount> names{};
  for (const auto& f : kCounterFields) names[f.traceAt] = f.name;
  return names;
}

namespace detail {
// Each place in a trace line holds exactly one counter.
constexpr bool traceOrderIsAPermutation() {
  std::array<int, kCounterCount> uses{};
  for (const auto& f : kCounterFields) {
    if (f.traceAt >= kCounterCount) return false;
    ++uses[f.traceAt];
  }
  for (const int n : uses) {
    if (n != 1) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::traceOrderIsAPermutation(), "CTPILOT_COUNTERS: trace places must be 0..N-1, each once");

}  // namespace ctpilot::sysfs
