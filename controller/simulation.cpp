// SPDX-License-Identifier: Apache-2.0
#include "controller/simulation.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "controller/controller.h"
#include "policy/decide.h"
#include "sysfs/system_facts.h"

namespace ctpilot::controller {
namespace {

using policy::Knob;

// Timeouts shown in the CSV: the ones a policy shortens and the ones scenarios exercise.
constexpr Knob kCsvTimeouts[] = {Knob::TcpTimeoutTimeWait, Knob::TcpTimeoutCloseWait, Knob::TcpTimeoutEstablished,
                                 Knob::UdpTimeout, Knob::UdpTimeoutStream};

// The nf_conntrack slab object on the simulated kernel (256 B measured in /proc/slabinfo on Linux 6.18).
constexpr std::int64_t kSimSlabObjectBytes = 256;

void writeRows(std::ostream& out, const sysfs::SimKernel& kernel, sysfs::SimDuration at) {
  for (const auto& ns : kernel.netns()) {
    const auto totals = kernel.totals(ns.name);
    out << at.count() / 1000 << '.' << (at.count() % 1000) / 100 << ',' << ns.name << ',' << kernel.count(ns.name)
        << ',' << kernel.max() << ',' << kernel.buckets() << ',' << totals.drop << ',' << totals.earlyDrop << ','
        << totals.insertFailed;
    for (const auto knob : kCsvTimeouts) out << ',' << kernel.read(ns, knob).value_or(0);
    out << '\n';
  }
}

}  // namespace

policy::TimePoint simulationEpoch() { return policy::TimePoint(std::chrono::seconds(1767225600)); }

struct CtpilotTuner::State {
  std::unique_ptr<Controller> controller;
  sysfs::SimKernel* kernel = nullptr;
  std::optional<policy::Duration> pace;  // after the last tick (README "What each tick does")
};

CtpilotTuner::CtpilotTuner(policy::Policy policy, std::string label)
    : policy_(std::move(policy)), label_(std::move(label)), state_(std::make_unique<State>()) {}

CtpilotTuner::~CtpilotTuner() = default;

std::string CtpilotTuner::name() const { return label_.empty() ? "ctpilot" : label_; }

sysfs::SimDuration CtpilotTuner::interval() const {
  const auto pace = state_->pace.value_or(policy_.controller.interval);
  return std::max(sysfs::SimDuration(1), std::chrono::duration_cast<sysfs::SimDuration>(pace));
}

void CtpilotTuner::start(sysfs::SimKernel& kernel, const sysfs::Scenario& scenario, policy::TimePoint) {
  state_->kernel = &kernel;
  const auto memory = simulatedMemory(scenario);
  ControllerDeps deps{
      .knobs = kernel,
      .stats = kernel,
      .journal = journal_,
      .discover = [&kernel](const policy::NetnsSelector& selector) { return kernel.discover(selector); },
      .memory = memory,
      .bootId = "simulated-boot",
      .dryRun = false,
      .forget = {},
      .totalEntries = [&kernel]() -> Result<std::int64_t> { return kernel.totalCount(); },
  };
  state_->controller = std::make_unique<Controller>(policy_, deps);
}

void CtpilotTuner::tick(sysfs::SimKernel&, policy::TimePoint now) {
  if (state_->controller) state_->pace = nextPace(policy_, state_->controller->tick(now)).interval;
}

std::vector<ExplainedChange> CtpilotTuner::explainedChanges() const {
  std::vector<ExplainedChange> out;
  for (const auto& record : journal_.records()) {
    if (record.kind != RecordKind::Applied || !record.knob) continue;
    out.push_back({std::chrono::duration_cast<sysfs::SimDuration>(record.time - simulationEpoch()), record.netns,
                   *record.knob, record.oldValue.value_or(0), record.newValue.value_or(0), record.reason});
  }
  return out;
}

std::string csvHeader() {
  std::string header = "time_s,netns,count,max,buckets,drop,early_drop,insert_failed";
  for (const auto knob : kCsvTimeouts) header += "," + std::string(policy::policyName(knob));
  return header;
}

SimulationSummary runSimulation(const sysfs::Scenario& scenario, SimTuner& tuner, const SimulationOptions& options) {
  auto kernel = sysfs::SimKernel::fromScenario(scenario, options.seed);
  SimulationSummary summary;
  summary.scenario = scenario.name;
  summary.tuner = tuner.name();
  summary.duration = scenario.duration;
  summary.seed = options.seed.value_or(scenario.seed);
  summary.initialMax = kernel->max();
  summary.initialBuckets = kernel->buckets();
  summary.peakMax = kernel->max();

  const auto epoch = simulationEpoch();
  tuner.start(*kernel, scenario, epoch);
  const auto step = std::max(sysfs::SimDuration(1), scenario.step);
  if (options.csv != nullptr) *options.csv << csvHeader() << '\n';

  sysfs::SimDuration nextTick{0};
  sysfs::SimDuration nextRow{0};
  for (;;) {
    const auto t = std::min(nextTick, nextRow);
    if (t > scenario.duration) break;
    kernel->advance(t);
    if (t == nextTick) {
      tuner.tick(*kernel, epoch + t);
      nextTick += std::max(sysfs::SimDuration(1), tuner.interval());  // a tuner's pace may change
    }
    summary.peakMax = std::max(summary.peakMax, kernel->max());
    if (t == nextRow) {
      if (options.csv != nullptr) writeRows(*options.csv, *kernel, t);
      nextRow += step;
    }
  }

  summarize(*kernel, summary);
  return summary;
}

void summarize(const sysfs::SimKernel& kernel, SimulationSummary& summary) {
  const auto totals = kernel.totals();
  summary.drops = totals.drop;
  summary.earlyDrops = totals.earlyDrop;
  summary.insertFailed = totals.insertFailed;
  summary.inserts = totals.insert;
  summary.peakFill = kernel.peakFill();
  summary.peakCount = kernel.peakCount();
  summary.peakMemoryBytes = kernel.peakMemoryBytes();
  summary.worstStallMs = kernel.worstStallMs();
  summary.stalledFlows = kernel.stalledFlows();
  summary.finalMax = kernel.max();
  summary.finalBuckets = kernel.buckets();
  summary.changes = kernel.changes();
}

sysfs::MemoryFacts simulatedMemory(const sysfs::Scenario& scenario) {
  sysfs::MemoryFacts memory;
  memory.memTotalBytes = scenario.memTotalBytes;
  memory.slabObjectBytes = kSimSlabObjectBytes;
  return memory;
}

StaticSetting staticAtBudget(const policy::Policy& policy, const sysfs::MemoryFacts& memory) {
  constexpr std::int64_t kBucketsPerPage = 512;
  policy::Observation facts;
  facts.memTotalBytes = memory.memTotalBytes;
  facts.entryBytes = memory.entryBytes();
  StaticSetting setting;
  setting.max =
      std::min<std::int64_t>(policy::memoryCapEntries(policy, facts), std::numeric_limits<std::int32_t>::max());
  const std::int64_t perBucket = std::max<std::int64_t>(policy.hashsize.entriesPerBucket, 1);
  const std::int64_t buckets = (setting.max + perBucket - 1) / perBucket;
  setting.buckets = (buckets + kBucketsPerPage - 1) / kBucketsPerPage * kBucketsPerPage;
  return setting;
}

std::vector<std::string> unwatchedNetns(const sysfs::Scenario& scenario, const policy::Policy& policy) {
  std::set<std::string> busy;
  for (const auto& phase : scenario.phases) busy.insert(phase.netns);
  return unwatchedNetns(std::vector<std::string>(busy.begin(), busy.end()), policy);
}

std::vector<std::string> unwatchedNetns(const std::vector<std::string>& busy, const policy::Policy& policy) {
  using Mode = policy::NetnsSelector::Mode;
  std::vector<std::string> out;
  for (const auto& name : busy) {
    const auto& sel = policy.controller.netns;
    const bool watched =
        sel.mode == Mode::All || (sel.mode == Mode::Init && name == policy::kInitNetns) ||
        (sel.mode == Mode::Named && std::find(sel.names.begin(), sel.names.end(), name) != sel.names.end());
    if (!watched) out.push_back(name);
  }
  return out;
}

}  // namespace ctpilot::controller
