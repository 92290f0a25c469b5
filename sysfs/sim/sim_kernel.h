// SPDX-License-Identifier: Apache-2.0
#pragma once
// A simulated conntrack table behind the same interfaces as the real kernel (KnobStore and
// StatsReader), in virtual time, seeded and deterministic. Flows arrive per class, live, close
// into their timeout state and occupy an entry until it expires; a full table early-drops
// unassured entries or drops the new flow; a hash too small for the table shows as
// chaintoolong. Entries are counted in FIFO queues per (timeout, value), not one object per
// flow, so millions of flows and a whole day run in seconds.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/sim/scenario.h"
#include "sysfs/stats.h"

namespace ctpilot::sysfs {

/// The simulated machine before any traffic.
/// The stall of a hash resize per entry rehashed, measured on Linux 6.18 (1M entries: ~0.4 s).
inline constexpr double kResizeNsPerEntry = 400;

struct SimConfig {
  std::int64_t max = 262144;
  std::int64_t buckets = 262144;
  int cpus = 2;
  std::int64_t entryBytes = 320;  // slab object (256 B) plus extensions
  std::uint64_t seed = 1;
  std::vector<std::string> netns{"init"};             // "init" is the initial netns; others are named ones
  SimDuration tick = std::chrono::milliseconds(100);  // internal resolution of advance()
};

/// One interval of recorded demand in one netns (`simulate --trace`): what arrived, and what the
/// recording says left the table by itself.
struct DemandStep {
  std::int64_t arrivals = 0;           // new flows: inserted + refused (drop) in the recording
  std::int64_t recordedInserts = 0;    // inserted in the recording: at most this many follow its departures
  std::int64_t departures = 0;         // recorded entries that timed out in the interval
  std::int64_t recordedEvictions = 0;  // early_drop in the recording
  double evictShare = 0;               // share of refused arrivals that evict an unassured entry
  SimDuration extraLife{0};            // how long an entry the recording never held stays
};

/// A knob value the simulated kernel changed because someone wrote it.
struct SimChange {
  SimDuration at{0};
  std::string netns;
  Knob knob;
  std::int64_t from = 0;
  std::int64_t to = 0;
};

/// 64-bit running totals of one netns' counters (the kernel's own are 32-bit and wrap).
struct SimTotals {
  std::uint64_t insert = 0, insertFailed = 0, drop = 0, earlyDrop = 0, chainTooLong = 0;
};

class SimKernel final : public KnobStore, public StatsReader {
 public:
  /// Creates an empty table with `config`'s knobs, every timeout at its kernel default.
  explicit SimKernel(SimConfig config);
  /// Creates the table a scenario describes (machine, namespaces, timeouts, phases); `seed`
  /// overrides the scenario's seed.
  static std::unique_ptr<SimKernel> fromScenario(const Scenario& scenario, std::optional<std::uint64_t> seed = {});

  // KnobStore: global knobs are writable only from "init" (Refused elsewhere, like the kernel);
  // nf_conntrack_count is read-only; an unknown netns is Errc::Missing.
  Result<std::int64_t> read(const Netns& netns, Knob knob) const override;
  Result<std::int64_t> write(const Netns& netns, Knob knob, std::int64_t value) override;
  // StatsReader: per-CPU 32-bit counters, source Simulated, entries = count, maxEntries = max.
  Result<ConntrackStats> read(const Netns& netns) override;

  /// Returns every namespace of the machine, "init" first.
  std::vector<Netns> netns() const;
  /// Lists the namespaces `selector` names, like discoverNetns(); Missing for an unknown name.
  Result<std::vector<Netns>> discover(const policy::NetnsSelector& selector) const;

  /// Adds a source of flows (a scenario phase). Its netns must exist.
  void addPhase(const ScenarioPhase& phase);
  /// Runs the traffic of time 0 for `length` before the clock starts, so the table starts
  /// as full as that traffic keeps it; then zeroes every counter, peak and change record.
  /// Call once, before advance().
  void warmUp(SimDuration length);
  /// Moves virtual time forward to `to` (since the start), in ticks of config.tick; no-op if not later.
  void advance(SimDuration to);
  /// Moves virtual time forward to `to` in one tick: what expires by then expires, whatever the
  /// gap. For a replay across a gap in the recording, where no scenario source sends traffic
  /// (a source would see the whole gap as one tick); no-op if not later.
  void leap(SimDuration to);
  /// Returns the virtual time since the start.
  SimDuration now() const { return now_; }

  /// Offers `n` new flows of `flow` in `netns` now, through the same admission as arrivals
  /// (drop / early_drop / chaintoolong). Admitted flows stay open until closeFlows(); one-packet
  /// classes (udp_oneway, syn_flood) go straight to their timeout. Returns how many were admitted.
  std::int64_t offer(const std::string& netns, FlowClass flow, std::int64_t n);
  /// Closes up to `n` flows opened with offer(): they enter their timeout state now with the
  /// CURRENT timeout value. Returns how many closed.
  std::int64_t closeFlows(const std::string& netns, FlowClass flow, std::int64_t n);

  /// Starts a replay in `netns` with `n` entries that leave as the recording says (see feed()).
  void seedRecorded(const std::string& netns, std::int64_t n);
  /// Applies one interval of recorded demand in `netns` now: recorded departures leave, arrivals
  /// go through admission (room, early_drop at step.evictShare, drop, chaintoolong); admitted
  /// flows beyond the recorded inserts, and entries the recording evicted but this table kept,
  /// stay step.extraLife. Returns how many were admitted.
  std::int64_t feed(const std::string& netns, const DemandStep& step);

  /// Returns nf_conntrack_count of `netns` (0 for an unknown one).
  std::int64_t count(const std::string& netns) const;
  /// Returns the entries in every netns together (the shared hash table's load).
  std::int64_t totalCount() const { return totalCount_; }
  std::int64_t max() const { return max_; }
  std::int64_t buckets() const { return buckets_; }
  /// Returns the memory the table holds now: entries x entryBytes + buckets x 8 bytes.
  std::int64_t memoryBytes() const;
  /// Returns the highest memoryBytes() seen so far.
  std::int64_t peakMemoryBytes() const { return peakMemory_; }
  /// Returns the longest stall of one hash resize so far, in ms: like the kernel, a resize
  /// rehashes every entry of every netns under every bucket lock (kResizeNsPerEntry each).
  double worstStallMs() const { return worstStallMs_; }
  /// Returns the new flows that arrived while a resize stalled the table (their packets waited).
  double stalledFlows() const { return stalledFlows_; }
  /// Returns the highest count / max seen in any netns so far.
  double peakFill() const { return peakFill_; }
  /// Returns the highest count seen in any netns so far.
  std::int64_t peakCount() const { return peakCount_; }
  /// Returns `netns`' 64-bit counter totals (zeros for an unknown one).
  SimTotals totals(const std::string& netns) const;
  /// Returns the counter totals of all namespaces added up.
  SimTotals totals() const;
  /// Returns every write that changed a value, oldest first.
  const std::vector<SimChange>& changes() const { return changes_; }
  /// Sets one CPU's raw 32-bit counters (tests of wrap handling).
  void setCounters(const std::string& netns, int cpu, const CpuCounters& counters);

 private:
  // Entries that expire after one timeout value, in closing order (so expiries are sorted).
  struct ExpiryQueue {
    Knob knob;
    std::int64_t seconds;
    bool assured;
    std::deque<std::pair<std::int64_t, std::int64_t>> due;  // (expiry ms, entries)
    std::int64_t entries = 0;
  };
  // Open flows of one source: their entries never expire while the flow lives.
  struct Source {
    ScenarioPhase phase;
    std::size_t netns;
    bool manual;  // opened by offer(): closes only through closeFlows()
    std::int64_t live = 0;
  };
  struct NetnsState {
    Netns id;
    std::map<Knob, std::int64_t> timeouts;
    std::vector<ExpiryQueue> queues;
    std::int64_t count = 0;
    std::int64_t unassured = 0;
    std::vector<CpuCounters> cpus;
    SimTotals totals;
  };

  // A replayed netns: entries that follow the recording's departures, and the others.
  struct ReplayPool {
    std::int64_t recorded = 0;
    std::deque<std::pair<std::int64_t, std::int64_t>> extra;  // (expiry ms, entries)
  };
  std::int64_t takeFromPool(NetnsState& ns, ReplayPool& pool, std::int64_t n);
  void keepExtra(ReplayPool& pool, std::int64_t n, std::int64_t expiryMs);

  std::size_t netnsIndex(const std::string& name) const;  // npos when unknown
  std::size_t manualSource(std::size_t netns, FlowClass flow);
  void tick(SimDuration to);
  void expire(NetnsState& ns, std::int64_t nowMs);
  void closeInto(std::size_t netns, const Source& source, std::int64_t n, std::int64_t atMs);
  void enqueue(std::size_t netns, Knob knob, bool assured, std::int64_t n, std::int64_t atMs);
  // Runs admission for arrivals per source in one netns; returns the admitted count per source.
  std::vector<std::int64_t> admit(std::size_t netns, const std::vector<std::pair<std::size_t, std::int64_t>>& arrivals);
  std::int64_t evictUnassured(NetnsState& ns, std::int64_t n);
  void place(std::size_t source, std::int64_t n, std::int64_t atMs);
  void bump(NetnsState& ns, std::uint32_t CpuCounters::*field, std::uint64_t SimTotals::*total, std::uint64_t n);
  double chainTooLongShare() const;
  void notePeaks();
  std::int64_t binomial(std::int64_t n, double p);

  SimConfig config_;
  std::int64_t max_;
  std::int64_t buckets_;
  std::vector<NetnsState> netns_;
  std::vector<Source> sources_;
  std::int64_t totalCount_ = 0;
  std::int64_t peakMemory_ = 0;
  double worstStallMs_ = 0;
  double stalledFlows_ = 0;
  double arrivalsPerSec_ = 0;  // new flows offered in the last tick, per second
  double peakFill_ = 0;
  std::int64_t peakCount_ = 0;
  SimDuration now_{0};
  std::vector<SimChange> changes_;
  std::mt19937_64 rng_;
  unsigned cpuRotor_ = 0;
  std::map<std::size_t, ReplayPool> replay_;  // netns index -> replay state
};

}  // namespace ctpilot::sysfs
