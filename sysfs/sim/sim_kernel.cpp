// SPDX-License-Identifier: Apache-2.0
#include "sysfs/sim/sim_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "policy/observation.h"
#include "sysfs/knob_registry.h"

namespace ctpilot::sysfs {
namespace {

constexpr std::size_t kNpos = std::numeric_limits<std::size_t>::max();

// The kernel allocates the hash in whole pages of bucket heads (8 bytes each) and rounds the
// requested size up: writing 1000 buckets reads back 1024.
constexpr std::int64_t kBucketsPerPage = 4096 / 8;
// Largest hash the kernel's vmalloc-backed table accepts, generously (2^28 buckets).
constexpr std::int64_t kMaxBuckets = std::int64_t{1} << 28;
// Timeouts are jiffies in an int: seconds above INT_MAX / 1000 are refused.
constexpr std::int64_t kMaxTimeoutSeconds = policy::kTimeoutRange.max;
// early_drop() looks at the chains of this many buckets next to the new entry's (NF_CT_EVICTION_RANGE).
constexpr double kEvictionRange = 8;
// __nf_conntrack_confirm refuses an insert when a chain is longer than a random limit in
// [MIN_CHAINLEN, MIN_CHAINLEN + MAX_CHAINLEN) = [50, 80) (counts chaintoolong and insert_failed).
constexpr int kMinChainLen = 50;
constexpr int kChainLenSpread = 30;

Netns makeNetns(const std::string& name, std::size_t index) {
  if (name == policy::kInitNetns) return Netns{name, "", 1};
  return Netns{name, "/run/netns/" + name, 0xF0000000ULL + index};
}

std::string pathOf(Knob knob) { return std::string(registryEntry(knob).path); }

}  // namespace

SimKernel::SimKernel(SimConfig config)
    : config_(std::move(config)), max_(config_.max), buckets_(config_.buckets), rng_(config_.seed) {
  if (config_.cpus < 1) config_.cpus = 1;
  if (config_.tick.count() <= 0) config_.tick = std::chrono::milliseconds(100);
  std::vector<std::string> names{policy::kInitNetns};
  for (const auto& name : config_.netns) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const auto& name : names) {
    NetnsState ns;
    ns.id = makeNetns(name, netns_.size());
    for (const auto& info : policy::allKnobs()) {
      if (info.timeout) ns.timeouts[info.knob] = info.kernelDefault;
    }
    ns.cpus.resize(static_cast<std::size_t>(config_.cpus));
    netns_.push_back(std::move(ns));
  }
  notePeaks();
}

std::unique_ptr<SimKernel> SimKernel::fromScenario(const Scenario& scenario, std::optional<std::uint64_t> seed) {
  SimConfig config;
  config.max = scenario.max;
  config.buckets = scenario.buckets;
  config.cpus = scenario.cpus;
  config.seed = seed.value_or(scenario.seed);
  config.netns = scenario.netns;
  auto kernel = std::make_unique<SimKernel>(config);
  for (const auto& t : scenario.timeouts) {
    const auto idx = kernel->netnsIndex(t.netns);
    if (idx != kNpos) kernel->netns_[idx].timeouts[t.knob] = t.seconds;
  }
  for (const auto& phase : scenario.phases) kernel->addPhase(phase);
  kernel->warmUp(scenario.warmup);
  return kernel;
}

std::size_t SimKernel::netnsIndex(const std::string& name) const {
  for (std::size_t i = 0; i < netns_.size(); ++i) {
    if (netns_[i].id.name == name) return i;
  }
  return kNpos;
}

Result<std::int64_t> SimKernel::read(const Netns& netns, Knob knob) const {
  const auto idx = netnsIndex(netns.name);
  if (idx == kNpos)
    return Error{Errc::Missing, "read " + pathOf(knob) + " in netns " + netns.name + ": No such file or directory"};
  const auto& ns = netns_[idx];
  switch (knob) {
    case Knob::ConntrackMax: return max_;
    case Knob::Buckets: return buckets_;
    case Knob::Count: return ns.count;
    default: break;
  }
  const auto found = ns.timeouts.find(knob);
  if (found == ns.timeouts.end()) return Error{Errc::Missing, "read " + pathOf(knob) + ": No such file or directory"};
  return found->second;
}

Result<std::int64_t> SimKernel::write(const Netns& netns, Knob knob, std::int64_t value) {
  const auto& entry = registryEntry(knob);
  const auto path = pathOf(knob);
  if (!entry.writable) return Error{Errc::Refused, "write " + path + ": not writable"};
  const auto idx = netnsIndex(netns.name);
  if (idx == kNpos)
    return Error{Errc::Missing, "write " + path + " in netns " + netns.name + ": No such file or directory"};
  auto& ns = netns_[idx];
  // Like the kernel: the global knobs are 0444 in every netns but the initial one.
  if (entry.scope == Scope::Global && !ns.id.initial()) {
    return Error{Errc::Refused, "write " + path + " in netns " + netns.name + ": Permission denied"};
  }
  std::int64_t* target = nullptr;
  std::int64_t kept = value;
  if (knob == Knob::ConntrackMax) {
    if (value < 0 || value > policy::kTableSizeRange.max)
      return Error{Errc::Rejected, "write " + path + ": Invalid argument"};
    target = &max_;
  } else if (knob == Knob::Buckets) {
    if (value <= 0 || value > kMaxBuckets) return Error{Errc::Rejected, "write " + path + ": Invalid argument"};
    kept = (value + kBucketsPerPage - 1) / kBucketsPerPage * kBucketsPerPage;
    target = &buckets_;
  } else {
    if (value < 0 || value > kMaxTimeoutSeconds) return Error{Errc::Rejected, "write " + path + ": Invalid argument"};
    target = &ns.timeouts[knob];
  }
  if (knob == Knob::Buckets && *target != kept) {
    // Every packet through conntrack waits while the table is rehashed; new flows arriving
    // meanwhile are delayed by up to the whole stall.
    const double stallMs = static_cast<double>(totalCount_) * kResizeNsPerEntry / 1e6;
    worstStallMs_ = std::max(worstStallMs_, stallMs);
    stalledFlows_ += arrivalsPerSec_ * stallMs / 1000.0;
  }
  if (*target != kept) {
    changes_.push_back(
        {now_, entry.scope == Scope::Global ? std::string(policy::kInitNetns) : ns.id.name, knob, *target, kept});
  }
  *target = kept;
  notePeaks();
  return kept;
}

Result<ConntrackStats> SimKernel::read(const Netns& netns) {
  const auto idx = netnsIndex(netns.name);
  if (idx == kNpos)
    return Error{Errc::Missing, "read conntrack statistics in netns " + netns.name + ": No such file or directory"};
  ConntrackStats stats;
  stats.source = StatsSource::Simulated;
  stats.cpus = netns_[idx].cpus;
  stats.entries = netns_[idx].count;
  stats.maxEntries = max_;
  return stats;
}

std::vector<Netns> SimKernel::netns() const {
  std::vector<Netns> out;
  for (const auto& ns : netns_) out.push_back(ns.id);
  return out;
}

Result<std::vector<Netns>> SimKernel::discover(const policy::NetnsSelector& selector) const {
  using Mode = policy::NetnsSelector::Mode;
  if (selector.mode == Mode::Init) return std::vector<Netns>{netns_.front().id};
  if (selector.mode == Mode::All) return netns();
  std::vector<Netns> out;
  for (const auto& name : selector.names) {
    const auto idx = netnsIndex(name);
    if (idx == kNpos) return Error{Errc::Missing, "netns " + name + " not found in /run/netns (simulated machine)"};
    out.push_back(netns_[idx].id);
  }
  return out;
}

void SimKernel::addPhase(const ScenarioPhase& phase) {
  const auto idx = netnsIndex(phase.netns);
  if (idx == kNpos) return;
  sources_.push_back(Source{phase, idx, /*manual=*/false, 0});
}

std::size_t SimKernel::manualSource(std::size_t netns, FlowClass flow) {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i].manual && sources_[i].netns == netns && sources_[i].phase.flow == flow) return i;
  }
  ScenarioPhase phase;
  phase.netns = netns_[netns].id.name;
  phase.flow = flow;
  phase.life = defaultLife(flow);
  sources_.push_back(Source{phase, netns, /*manual=*/true, 0});
  return sources_.size() - 1;
}

std::int64_t SimKernel::offer(const std::string& netns, FlowClass flow, std::int64_t n) {
  const auto idx = netnsIndex(netns);
  if (idx == kNpos || n <= 0) return 0;
  const auto source = manualSource(idx, flow);
  const auto admitted = admit(idx, {{source, n}});
  place(source, admitted[0], now_.count());
  notePeaks();
  return admitted[0];
}

std::int64_t SimKernel::closeFlows(const std::string& netns, FlowClass flow, std::int64_t n) {
  const auto idx = netnsIndex(netns);
  if (idx == kNpos || n <= 0) return 0;
  const auto source = manualSource(idx, flow);
  const auto closing = std::min(n, sources_[source].live);
  closeInto(idx, sources_[source], closing, now_.count());
  sources_[source].live -= closing;
  return closing;
}

std::int64_t SimKernel::count(const std::string& netns) const {
  const auto idx = netnsIndex(netns);
  return idx == kNpos ? 0 : netns_[idx].count;
}

std::int64_t SimKernel::memoryBytes() const { return totalCount_ * config_.entryBytes + buckets_ * 8; }

SimTotals SimKernel::totals(const std::string& netns) const {
  const auto idx = netnsIndex(netns);
  return idx == kNpos ? SimTotals{} : netns_[idx].totals;
}

SimTotals SimKernel::totals() const {
  SimTotals sum;
  for (const auto& ns : netns_) {
    sum.insert += ns.totals.insert;
    sum.insertFailed += ns.totals.insertFailed;
    sum.drop += ns.totals.drop;
    sum.earlyDrop += ns.totals.earlyDrop;
    sum.chainTooLong += ns.totals.chainTooLong;
  }
  return sum;
}

void SimKernel::setCounters(const std::string& netns, int cpu, const CpuCounters& counters) {
  const auto idx = netnsIndex(netns);
  if (idx == kNpos || cpu < 0 || cpu >= config_.cpus) return;
  netns_[idx].cpus[static_cast<std::size_t>(cpu)] = counters;
}

void SimKernel::warmUp(SimDuration length) {
  if (length.count() <= 0 || now_.count() != 0) return;
  now_ = -length;
  advance(SimDuration(0));
  for (auto& ns : netns_) {
    std::fill(ns.cpus.begin(), ns.cpus.end(), CpuCounters{});
    ns.totals = {};
  }
  changes_.clear();
  worstStallMs_ = 0;
  stalledFlows_ = 0;
  peakMemory_ = 0;
  peakFill_ = 0;
  peakCount_ = 0;
  notePeaks();
}

void SimKernel::advance(SimDuration to) {
  while (now_ < to) tick(std::min(to, now_ + config_.tick));
}

void SimKernel::leap(SimDuration to) {
  if (now_ < to) tick(to);
}

void SimKernel::tick(SimDuration to) {
  const auto from = now_;
  const double dtMs = static_cast<double>((to - from).count());
  // During warm-up (negative time) the traffic is what it will be at time 0.
  const auto mid = std::max(SimDuration(0), from + (to - from) / 2);
  now_ = to;
  const auto nowMs = to.count();
  for (auto& ns : netns_) expire(ns, nowMs);

  // Lifetimes are exponential, so every open flow closes in this tick with the same
  // probability whatever its age: one binomial draw per source instead of one per flow.
  for (auto& source : sources_) {
    if (source.manual || source.live == 0 || source.phase.life.count() <= 0) continue;
    const double p = -std::expm1(-dtMs / static_cast<double>(source.phase.life.count()));
    const auto closing = binomial(source.live, p);
    closeInto(source.netns, source, closing, nowMs);
    source.live -= closing;
  }

  std::int64_t offered = 0;
  for (std::size_t n = 0; n < netns_.size(); ++n) {
    std::vector<std::pair<std::size_t, std::int64_t>> arrivals;
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      const auto& source = sources_[i];
      if (source.manual || source.netns != n) continue;
      const double mean = source.phase.rateAt(mid) * dtMs / 1000.0;
      if (mean <= 0) continue;
      std::poisson_distribution<std::int64_t> poisson(mean);
      const auto k = poisson(rng_);
      if (k > 0) arrivals.emplace_back(i, k);
      offered += k;
    }
    if (arrivals.empty()) continue;
    const auto admitted = admit(n, arrivals);
    for (std::size_t a = 0; a < arrivals.size(); ++a) place(arrivals[a].first, admitted[a], nowMs);
  }
  if (dtMs > 0) arrivalsPerSec_ = static_cast<double>(offered) * 1000.0 / dtMs;
  notePeaks();
}

void SimKernel::expire(NetnsState& ns, std::int64_t nowMs) {
  for (auto& q : ns.queues) {
    while (!q.due.empty() && q.due.front().first <= nowMs) {
      const auto n = q.due.front().second;
      q.due.pop_front();
      q.entries -= n;
      ns.count -= n;
      totalCount_ -= n;
      if (!q.assured) ns.unassured -= n;
    }
  }
  // Queues of timeout values no longer in force are dropped once they drain.
  std::erase_if(ns.queues, [&](const ExpiryQueue& q) { return q.due.empty() && ns.timeouts[q.knob] != q.seconds; });
}

void SimKernel::closeInto(std::size_t netns, const Source& source, std::int64_t n, std::int64_t atMs) {
  if (n <= 0) return;
  auto& ns = netns_[netns];
  // The open flows' entries leave the "live" set and come back in their timeout queue.
  ns.count -= n;
  totalCount_ -= n;
  const bool assured = flowAssured(source.phase.flow);
  if (!assured) ns.unassured -= n;
  switch (source.phase.flow) {
    case FlowClass::TcpShort:
    case FlowClass::TcpLong: {
      // A flow that just goes quiet (client gone, no FIN) keeps its ESTABLISHED entry until the
      // established timeout; a RST leaves CLOSE; a normal close leaves TIME_WAIT.
      const auto abandoned = binomial(n, source.phase.abandon);
      const double rstShare = source.phase.abandon < 1 ? source.phase.rst / (1 - source.phase.abandon) : 0;
      const auto reset = binomial(n - abandoned, std::min(1.0, rstShare));
      enqueue(netns, Knob::TcpTimeoutEstablished, true, abandoned, atMs);
      enqueue(netns, Knob::TcpTimeoutClose, true, reset, atMs);
      enqueue(netns, Knob::TcpTimeoutTimeWait, true, n - abandoned - reset, atMs);
      break;
    }
    case FlowClass::UdpStream: enqueue(netns, Knob::UdpTimeoutStream, true, n, atMs); break;
    case FlowClass::UdpOneWay: enqueue(netns, Knob::UdpTimeout, false, n, atMs); break;
    case FlowClass::SynFlood: enqueue(netns, Knob::TcpTimeoutSynSent, false, n, atMs); break;
  }
}

void SimKernel::enqueue(std::size_t netns, Knob knob, bool assured, std::int64_t n, std::int64_t atMs) {
  if (n <= 0) return;
  auto& ns = netns_[netns];
  // The kernel sets an entry's expiry from the timeout in force when its last packet passed:
  // entries already waiting keep theirs when the knob changes later.
  const auto seconds = ns.timeouts[knob];
  auto found = std::find_if(ns.queues.begin(), ns.queues.end(), [&](const ExpiryQueue& q) {
    return q.knob == knob && q.seconds == seconds && q.assured == assured;
  });
  if (found == ns.queues.end()) {
    ns.queues.push_back(ExpiryQueue{knob, seconds, assured, {}, 0});
    found = std::prev(ns.queues.end());
  }
  const auto expiry = atMs + seconds * 1000;
  if (!found->due.empty() && found->due.back().first == expiry) {
    found->due.back().second += n;
  } else {
    found->due.emplace_back(expiry, n);
  }
  found->entries += n;
  ns.count += n;
  totalCount_ += n;
  if (!assured) ns.unassured += n;
}

void SimKernel::place(std::size_t source, std::int64_t n, std::int64_t atMs) {
  if (n <= 0) return;
  auto& s = sources_[source];
  auto& ns = netns_[s.netns];
  s.live += n;
  ns.count += n;
  totalCount_ += n;
  if (!flowAssured(s.phase.flow)) ns.unassured += n;
  // Flows without a lifetime (one packet: a DNS query, a spoofed SYN) go straight to their timeout.
  if (s.phase.life.count() <= 0) {
    closeInto(s.netns, s, n, atMs);
    s.live -= n;
  }
}

std::vector<std::int64_t> SimKernel::admit(std::size_t netns,
                                           const std::vector<std::pair<std::size_t, std::int64_t>>& arrivals) {
  auto& ns = netns_[netns];
  std::vector<std::int64_t> admitted(arrivals.size(), 0);
  std::int64_t total = 0;
  for (const auto& a : arrivals) total += a.second;
  // The limit is global but each netns compares its own count with it; 0 means no limit.
  const std::int64_t room = max_ == 0 ? total : std::max<std::int64_t>(0, max_ - ns.count);
  if (total <= room) {
    for (std::size_t i = 0; i < arrivals.size(); ++i) admitted[i] = arrivals[i].second;
  } else {
    // Share the room in proportion to the arrivals (they interleave within a tick).
    std::int64_t given = 0;
    for (std::size_t i = 0; i < arrivals.size(); ++i) {
      admitted[i] = room * arrivals[i].second / total;
      given += admitted[i];
    }
    for (std::size_t i = 0; given < room; i = (i + 1) % arrivals.size()) {
      if (admitted[i] < arrivals[i].second) {
        ++admitted[i];
        ++given;
      }
    }
    // Each refused flow makes the kernel look for an unassured entry of the same netns in the
    // chains of the next NF_CT_EVICTION_RANGE buckets: found with probability
    // 1 - exp(-range x unassured / buckets) (entries spread evenly over the hash).
    const std::int64_t refused = total - room;
    const double p = -std::expm1(-kEvictionRange * static_cast<double>(ns.unassured) / static_cast<double>(buckets_));
    const auto evicted = evictUnassured(ns, binomial(refused, p));
    bump(ns, &CpuCounters::earlyDrop, &SimTotals::earlyDrop, static_cast<std::uint64_t>(evicted));
    bump(ns, &CpuCounters::drop, &SimTotals::drop, static_cast<std::uint64_t>(refused - evicted));
    // Whoever got an evicted entry's slot: share in proportion to what was refused.
    std::int64_t left = evicted;
    for (std::size_t i = 0; i < arrivals.size() && left > 0; ++i) {
      const auto refusedHere = arrivals[i].second - admitted[i];
      const auto share = std::min(left, refused > 0 ? (evicted * refusedHere + refused - 1) / refused : 0);
      admitted[i] += share;
      left -= share;
    }
  }
  // A hash too small for the table: some chains are longer than the kernel accepts.
  const double failShare = chainTooLongShare();
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const auto failed = failShare > 0 ? binomial(admitted[i], failShare) : 0;
    admitted[i] -= failed;
    bump(ns, &CpuCounters::chainTooLong, &SimTotals::chainTooLong, static_cast<std::uint64_t>(failed));
    bump(ns, &CpuCounters::insertFailed, &SimTotals::insertFailed, static_cast<std::uint64_t>(failed));
    bump(ns, &CpuCounters::insert, &SimTotals::insert, static_cast<std::uint64_t>(admitted[i]));
  }
  return admitted;
}

std::int64_t SimKernel::evictUnassured(NetnsState& ns, std::int64_t n) {
  std::int64_t evicted = 0;
  for (auto& q : ns.queues) {
    if (q.assured) continue;
    while (evicted < n && !q.due.empty()) {
      auto& [expiry, entries] = q.due.front();
      const auto take = std::min(entries, n - evicted);
      entries -= take;
      q.entries -= take;
      evicted += take;
      if (entries == 0) q.due.pop_front();
    }
  }
  // Open one-way flows (unassured for their whole life) can be evicted too.
  for (auto& s : sources_) {
    if (evicted >= n) break;
    if (&netns_[s.netns] != &ns || flowAssured(s.phase.flow) || s.live == 0) continue;
    const auto take = std::min(s.live, n - evicted);
    s.live -= take;
    evicted += take;
  }
  ns.count -= evicted;
  totalCount_ -= evicted;
  ns.unassured -= evicted;
  return evicted;
}

void SimKernel::bump(NetnsState& ns, std::uint32_t CpuCounters::*field, std::uint64_t SimTotals::*total,
                     std::uint64_t n) {
  if (n == 0) return;
  ns.totals.*total += n;
  // Spread over the CPUs round-robin; the kernel's counters are 32-bit and wrap.
  const auto cpus = static_cast<std::uint64_t>(ns.cpus.size());
  const auto base = n / cpus;
  const auto extra = n % cpus;
  for (std::uint64_t i = 0; i < cpus; ++i) {
    const auto share = base + (((i + cpuRotor_) % cpus) < extra ? 1 : 0);
    auto& c = ns.cpus[i];
    c.*field = static_cast<std::uint32_t>(c.*field + static_cast<std::uint32_t>(share & 0xFFFFFFFFU));
  }
  cpuRotor_ = static_cast<unsigned>((cpuRotor_ + extra) % cpus);
}

double SimKernel::chainTooLongShare() const {
  // Each entry sits in two chains (original and reply tuple): mean chain length 2 x count / buckets,
  // Poisson-distributed. An insert fails when either chain exceeds the random limit.
  const double mean = 2.0 * static_cast<double>(totalCount_) / static_cast<double>(buckets_);
  if (mean < 10) return 0;  // P(chain > 50) < 1e-20
  if (mean > 300) return 1;
  double pmf = std::exp(-mean);
  double cdf = pmf;
  double tailSum = 0;
  const int top = kMinChainLen + kChainLenSpread;
  for (int k = 1; k < top; ++k) {
    pmf *= mean / k;
    cdf += pmf;
    if (k >= kMinChainLen) tailSum += std::max(0.0, 1 - cdf);  // P(chain > k) for limit k
  }
  const double q = tailSum / kChainLenSpread;
  return 1 - (1 - q) * (1 - q);
}

void SimKernel::notePeaks() {
  peakMemory_ = std::max(peakMemory_, memoryBytes());
  for (const auto& ns : netns_) peakCount_ = std::max(peakCount_, ns.count);
  if (max_ > 0) {
    for (const auto& ns : netns_)
      peakFill_ = std::max(peakFill_, static_cast<double>(ns.count) / static_cast<double>(max_));
  }
}

std::int64_t SimKernel::binomial(std::int64_t n, double p) {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  std::binomial_distribution<std::int64_t> dist(n, p);
  return dist(rng_);
}

}  // namespace ctpilot::sysfs

namespace ctpilot::sysfs {

void SimKernel::seedRecorded(const std::string& netns, std::int64_t n) {
  const auto idx = netnsIndex(netns);
  if (idx == kNpos || n <= 0) return;
  replay_[idx].recorded += n;
  netns_[idx].count += n;
  totalCount_ += n;
  notePeaks();
}

std::int64_t SimKernel::takeFromPool(NetnsState& ns, ReplayPool& pool, std::int64_t n) {
  // Recorded entries first (the recording says nothing about which ones leave), then the oldest extra.
  auto taken = std::min(n, pool.recorded);
  pool.recorded -= taken;
  while (taken < n && !pool.extra.empty()) {
    auto& [expiry, entries] = pool.extra.front();
    const auto take = std::min(entries, n - taken);
    entries -= take;
    taken += take;
    if (entries == 0) pool.extra.pop_front();
  }
  ns.count -= taken;
  totalCount_ -= taken;
  return taken;
}

void SimKernel::keepExtra(ReplayPool& pool, std::int64_t n, std::int64_t expiryMs) {
  if (n <= 0) return;
  if (!pool.extra.empty() && pool.extra.back().first == expiryMs) {
    pool.extra.back().second += n;
  } else {
    pool.extra.emplace_back(expiryMs, n);
  }
}

std::int64_t SimKernel::feed(const std::string& netns, const DemandStep& step) {
  const auto idx = netnsIndex(netns);
  if (idx == kNpos) return 0;
  auto& ns = netns_[idx];
  auto& pool = replay_[idx];
  const auto nowMs = now_.count();
  while (!pool.extra.empty() && pool.extra.front().first <= nowMs) {
    ns.count -= pool.extra.front().second;
    totalCount_ -= pool.extra.front().second;
    pool.extra.pop_front();
  }
  // Departures come first: the slots they free within the interval are there for its arrivals.
  const auto departed = std::min(std::max<std::int64_t>(0, step.departures), pool.recorded);
  pool.recorded -= departed;
  ns.count -= departed;
  totalCount_ -= departed;

  const auto arrivals = std::max<std::int64_t>(0, step.arrivals);
  const std::int64_t room = max_ == 0 ? arrivals : std::max<std::int64_t>(0, max_ - ns.count);
  auto admitted = std::min(arrivals, room);
  const auto refused = arrivals - admitted;
  const auto wantEvict = std::llround(static_cast<double>(refused) * std::clamp(step.evictShare, 0.0, 1.0));
  const auto evicted = takeFromPool(ns, pool, wantEvict);
  admitted += evicted;
  // Entries the recording evicted but this table had room to keep: they leave after a lifetime.
  const auto kept = std::min(pool.recorded, std::max<std::int64_t>(0, step.recordedEvictions - evicted));
  pool.recorded -= kept;
  keepExtra(pool, kept, nowMs + step.extraLife.count());

  const double failShare = chainTooLongShare();
  const auto failed = failShare > 0 ? binomial(admitted, failShare) : 0;
  admitted -= failed;
  const auto followRecording = std::min(admitted, std::max<std::int64_t>(0, step.recordedInserts));
  pool.recorded += followRecording;
  keepExtra(pool, admitted - followRecording, nowMs + step.extraLife.count());
  ns.count += admitted;
  totalCount_ += admitted;

  bump(ns, &CpuCounters::earlyDrop, &SimTotals::earlyDrop, static_cast<std::uint64_t>(evicted));
  bump(ns, &CpuCounters::drop, &SimTotals::drop, static_cast<std::uint64_t>(refused - evicted));
  bump(ns, &CpuCounters::chainTooLong, &SimTotals::chainTooLong, static_cast<std::uint64_t>(failed));
  bump(ns, &CpuCounters::insertFailed, &SimTotals::insertFailed, static_cast<std::uint64_t>(failed));
  bump(ns, &CpuCounters::insert, &SimTotals::insert, static_cast<std::uint64_t>(admitted));
  notePeaks();
  return admitted;
}

}  // namespace ctpilot::sysfs
