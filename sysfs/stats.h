// SPDX-License-Identifier: Apache-2.0
#pragma once
// Conntrack statistics per netns: per-CPU counters over ctnetlink (IPCTNL_MSG_CT_GET_STATS_CPU)
// and the table-wide entries/max (IPCTNL_MSG_CT_GET_STATS), with /proc/net/stat/nf_conntrack
// as the fallback. Counters are 32-bit in the kernel and wrap.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/result.h"
#include "sysfs/counters.h"
#include "sysfs/netns.h"

struct nl_sock;  // libnl

namespace ctpilot::sysfs {

/// Sums per-CPU counters into 64-bit totals (for display, not for rates).
CounterTotals sumCounters(const std::vector<CpuCounters>& cpus);

enum class StatsSource { Netlink, Procfs, Simulated };

/// Returns "netlink", "procfs" or "simulated".
const char* statsSourceName(StatsSource source);

/// A snapshot of one netns' statistics.
struct ConntrackStats {
  StatsSource source = StatsSource::Netlink;
  std::vector<CpuCounters> cpus;           // indexed by CPU id
  std::optional<std::int64_t> entries;     // CTA_STATS_GLOBAL_ENTRIES (netlink) / entries column
  std::optional<std::int64_t> maxEntries;  // CTA_STATS_GLOBAL_MAX_ENTRIES (netlink only)
  std::string fallbackReason;              // FallbackStats: why the primary failed (empty: it did not)
  /// Names the totals as callers of totals() know them.
  using Totals = CounterTotals;
  /// Sums the per-CPU counters into 64-bit totals (for display, not for rates).
  Totals totals() const { return sumCounters(cpus); }
};

/// Reads conntrack statistics for a namespace.
class StatsReader {
 public:
  virtual ~StatsReader() = default;
  /// Returns the current statistics of `netns`. Errc::Missing when nf_conntrack is absent.
  virtual Result<ConntrackStats> read(const Netns& netns) = 0;
  /// Returns the per-CPU counters of `netns`; `entries` and `maxEntries` may be left unset. For
  /// the tick, which reads the count itself: a reader may skip a request for the rest.
  virtual Result<ConntrackStats> readCounters(const Netns& netns) { return read(netns); }
};

/// Reads statistics over ctnetlink with libnl; keeps one socket per netns (a netlink socket
/// belongs to the netns it was created in).
class CtnetlinkStats final : public StatsReader {
 public:
  CtnetlinkStats();
  ~CtnetlinkStats() override;
  CtnetlinkStats(const CtnetlinkStats&) = delete;  // owns its sockets
  CtnetlinkStats& operator=(const CtnetlinkStats&) = delete;
  Result<ConntrackStats> read(const Netns& netns) override;
  /// Only the per-CPU dump: no table-wide IPCTNL_MSG_CT_GET_STATS request.
  Result<ConntrackStats> readCounters(const Netns& netns) override;
  /// Closes the socket held for `netns`.
  void forget(const Netns& netns);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The longest CtnetlinkStats waits for one ctnetlink reply; after it the read is an error and
/// FallbackStats reads procfs for that tick.
inline constexpr std::chrono::milliseconds kNetlinkReceiveTimeout{1000};

/// Sets the receive timeout (SO_RCVTIMEO) of a libnl socket.
Result<void> setReceiveTimeout(nl_sock* sock, std::chrono::milliseconds timeout);

/// Waits on `sock` (a connected libnl NETLINK_NETFILTER socket) for the reply to a per-CPU
/// statistics dump already requested and decodes it. A receive timeout before the dump's end is
/// Errc::Io, never an empty reply (libnl reports a timeout as a read of nothing).
Result<ConntrackStats> receiveCpuStats(nl_sock* sock);

/// Reads /proc/net/stat/nf_conntrack (under a root prefix), columns found by header name.
class ProcfsStats final : public StatsReader {
 public:
  explicit ProcfsStats(std::string root);
  Result<ConntrackStats> read(const Netns& netns) override;

 private:
  std::string root_;
};

/// Parses the text of /proc/net/stat/nf_conntrack; columns are found by header name, so
/// kernels with other columns parse too. Errc::Malformed on a bad header or row.
Result<ConntrackStats> parseProcfsStats(const std::string& text);

/// Tries ctnetlink first and falls back to procfs when netlink is unavailable.
class FallbackStats final : public StatsReader {
 public:
  FallbackStats(std::unique_ptr<StatsReader> primary, std::unique_ptr<StatsReader> fallback);
  Result<ConntrackStats> read(const Netns& netns) override;
  Result<ConntrackStats> readCounters(const Netns& netns) override;

 private:
  using ReadFn = Result<ConntrackStats> (StatsReader::*)(const Netns&);
  Result<ConntrackStats> readWith(const Netns& netns, ReadFn primaryRead);  // primary, else the fallback's read
  std::unique_ptr<StatsReader> primary_;
  std::unique_ptr<StatsReader> fallback_;
};

/// Builds the production reader: ctnetlink with the /proc/net/stat fallback on the real system;
/// only procfs under a fake `root`, since a netlink socket cannot be redirected there.
std::unique_ptr<StatsReader> makeStatsReader(const std::string& root);

}  // namespace ctpilot::sysfs
