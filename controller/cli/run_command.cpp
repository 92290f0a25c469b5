// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/controller.h"
#include "controller/daemon.h"
#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/replay/trace_keeper.h"
#include "controller/rollback.h"
#include "controller/state_lock.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// How often the daemon reads /proc/slabinfo where /sys/kernel/slab/nf_conntrack is not there
// (README "Cost"); in between, the watched namespaces' counts move the total.
constexpr auto kSlabinfoEvery = std::chrono::seconds(10);
// How often the daemon reads knobs that only a write changes (nf_conntrack_max, _buckets, the
// timeouts) and SLUB's count of entries (README "Cost"): at the default interval (1s) every tick;
// at fast_interval every tenth. Someone else's change is noticed within this, and ctpilot reads
// a reused value again before it changes anything on it.
constexpr auto kStableKnobsEvery = std::chrono::seconds(1);

// The opt-in of README Safety promise 9: undo this boot's changes when the daemon stops. A knob changed by
// someone else makes the whole rollback refuse (as `ctpilot rollback` without --force does).
// The running controller keeps a view, not the records: rollback reads the whole journal again.
void rollbackOnExit(sysfs::KnobStore& knobs, const std::string& bootId, const GlobalOptions& global) {
  const auto& root = global.root;
  auto lock =
      RollbackLock::acquire(global.stateDir, [] { spdlog::info("rollback_on_exit: waiting for a running rollback"); });
  if (!lock) {
    spdlog::error("rollback_on_exit: {}; tuned values stay in place", lock.error().what);
    return;
  }
  auto opened = FileJournal::open(global.stateDir);
  if (!opened) {
    spdlog::error("rollback_on_exit: cannot re-read the journal: {}; tuned values stay in place", opened.error().what);
    return;
  }
  auto& journal = **opened;
  auto steps = planRollback(journal.records(), bootId, RollbackSelection{RollbackSelection::Mode::All, 0});
  if (!steps) {
    spdlog::error("rollback_on_exit: {}; tuned values stay in place", steps.error().what);
    return;
  }
  if (steps->empty()) {
    spdlog::info("rollback_on_exit: nothing to undo");
    return;
  }
  RollbackOptions options;
  options.bootId = bootId;
  options.now = policy::Clock::now();
  options.hold = policy::Duration::zero();  // the controller is stopping: nothing to hold off
  options.command = "rollback_on_exit";
  const auto report = executeRollback(*steps, journal, knobs, systemNetnsResolver(root), options);
  if (report.refused) {
    for (const auto& conflict : report.conflicts) {
      spdlog::warn(
          "rollback_on_exit: {} is {}, not the {} ctpilot wrote; refusing to roll back (use ctpilot "
          "rollback --all --force)",
          policy::refName(conflict.ref), conflict.found, conflict.expected);
    }
    return;
  }
  int restored = 0;
  for (const auto& step : report.steps) {
    if (step.status == StepOutcome::Status::Restored) {
      ++restored;
      spdlog::info("rollback_on_exit: restored {} {} -> {}", policy::refName(step.step.ref), step.before, step.kept);
    } else if (step.status == StepOutcome::Status::Failed) {
      spdlog::error("rollback_on_exit: could not restore {}: {}", policy::refName(step.step.ref), step.error);
    }
  }
  if (!report.journalError.empty()) spdlog::error("rollback_on_exit: journal: {}", report.journalError);
  spdlog::info("stopped; rolled back {} of {} change(s)", restored, report.steps.size());
}

// Keeps journal.jsonl to this boot (README: History and rollback), so that start-up and every
// tick read this boot's records only. No rollback or resume appends meanwhile.
Result<void> rotateEarlierBoots(const std::string& stateDir, const std::string& bootId) {
  auto lock = RollbackLock::acquire(stateDir, [] { spdlog::info("waiting for a running rollback to finish"); });
  if (!lock) return lock.error();
  auto moved = rotateJournal(stateDir, bootId);
  if (!moved) return moved.error();
  if (*moved > 0) spdlog::info("moved {} record(s) of earlier boots to journal.jsonl.1", *moved);
  return {};
}

// From journal.checkpoint and the records after it when it matches the journal (README "History
// and rollback"), else the whole journal; says why a checkpoint was not used.
Result<ControllerJournal> openJournal(const std::string& stateDir, const std::string& bootId) {
  auto opened = openControllerJournal(stateDir, bootId);
  if (!opened) return opened.error();
  if (opened->checkpointOffset > 0) {
    spdlog::info("journal: started from {} (up to record #{}), then {} record(s) after it", kCheckpointName,
                 opened->view.lastId(), opened->journal->records().size());
  }
  for (const auto& note : opened->notes) spdlog::info("journal: {}", note);
  for (const auto& warning : opened->warnings) spdlog::warn("journal: {}", warning);
  for (const auto& warning : opened->journal->warnings()) spdlog::warn("journal: {}", warning);
  return opened;
}

// [controller] trace_file: the controller's own reads, also written as a trace for
// `simulate --trace`; nothing when the policy names no file.
std::unique_ptr<TraceKeeper> traceKeeper(const policy::Policy& policy, sysfs::StatsReader& stats,
                                         const sysfs::KnobStore& knobs) {
  const auto& c = policy.controller;
  if (c.traceFile.empty()) return nullptr;
  spdlog::info("keeping a trace in {} (rotated into {}.1 beyond {} bytes)", c.traceFile, c.traceFile, c.traceMaxBytes);
  return std::make_unique<TraceKeeper>(
      stats, knobs, c.traceFile, c.traceMaxBytes, c.interval, [] { return policy::Clock::now(); },
      [](const std::string& what) { spdlog::warn("trace: {}", what); });
}

// What `run` holds while its loop runs.
struct RunState {
  std::optional<StateLock> lock;
  std::string bootId;
  std::optional<ControllerJournal> journal;  // from journal.checkpoint when it matches
  sysfs::MemoryFacts memory;
};

// Takes the state lock, reads the boot id, moves earlier boots' records aside, opens the journal
// and reads the memory facts; returns kExitOk, or the exit code after saying why not.
int startUp(const GlobalOptions& global, RunState& state) {
  // StateLock creates the state directory 0750 and refuses an unsafe one (README Safety
  // promise 12); its messages say what to do.
  auto lock = StateLock::acquire(global.stateDir);
  if (!lock) {
    std::cerr << "ctpilot run: " << lock.error().what << "\n";
    return lock.error().code == Errc::Busy ? kExitRefused : kExitFailure;
  }
  state.lock.emplace(std::move(*lock));
  const auto bootId = commandBootId(global, "run", "cannot read the boot id");
  if (!bootId) return kExitFailure;
  state.bootId = *bootId;
  if (auto rotated = rotateEarlierBoots(global.stateDir, state.bootId); !rotated) {
    std::cerr << "ctpilot run: cannot move earlier boots' records to journal.jsonl.1: " << rotated.error().what << "\n";
    return kExitFailure;
  }
  auto opened = openJournal(global.stateDir, state.bootId);
  if (!opened) {
    std::cerr << "ctpilot run: cannot open the journal in " << global.stateDir << ": " << opened.error().what << "\n";
    return kExitFailure;
  }
  state.journal.emplace(std::move(*opened));
  const auto memory = commandMemoryFacts(global, "run");
  if (!memory) return kExitFailure;
  state.memory = *memory;
  return kExitOk;
}

// After the loop: rollback_on_exit, or why --once could not sample; returns the exit code.
int stop(const Controller& controller, const TickReport& last, RunState& state, sysfs::KnobStore& knobs,
         const GlobalOptions& global, bool once) {
  if (controller.policy().controller.rollbackOnExit && !controller.dryRun()) {
    if (once) {
      spdlog::info("rollback_on_exit is ignored with --once (it would undo what this run just did)");
    } else {
      rollbackOnExit(knobs, state.bootId, global);
      return kExitOk;
    }
  }
  if (once && !last.sampled) {
    std::cerr << "ctpilot run: could not sample conntrack" << (last.error ? ": " + last.error->what : std::string())
              << "; is nf_conntrack loaded (modprobe nf_conntrack)?\n";
    return kExitFailure;
  }
  spdlog::info(controller.dryRun() ? "stopped (dry run: nothing was changed)" : "stopped; tuned values stay in place");
  return kExitOk;
}

}  // namespace

// long: its options table, one option a line (kept out of clang-format's call-chain wrapping)
int runCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool dryRunFlag = false;
  bool once = false;
  po::options_description options("run options");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("dry-run", po::bool_switch(&dryRunFlag), "never write a knob; journal planned changes only")
      ("once", po::bool_switch(&once), "sample 3 times at the policy interval, act once, exit");
  // clang-format on
  po::variables_map vm;
  CommandSyntax syntax;
  syntax.usage = "usage: ctpilot run [--dry-run] [--once]\n\n";
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;

  std::string source;
  auto loaded = commandPolicy(global, "run", &source);
  if (!loaded) return kExitUsage;
  policy::Policy policy = std::move(*loaded);

  RunState state;
  if (const int code = startUp(global, state); code != kExitOk) return code;
  const std::string& bootId = state.bootId;
  Checkpointer checkpointer(global.stateDir, *state.journal->journal, state.journal->checkpointOffset);
  sysfs::ProcKnobStore knobs(global.root);
  auto stats = sysfs::makeStatsReader(global.root);
  auto trace = traceKeeper(policy, *stats, knobs);
  const std::string root = global.root;
  // The entries of every namespace: SLUB's one small sysfs file every second where the cache has
  // its own; else /proc/slabinfo, which formats every cache of the kernel, every 10 s.
  const bool slabInSysfs = sysfs::readSysfsSlabObjects(root).has_value();
  ControllerDeps deps{
      .knobs = knobs,
      .stats = trace ? static_cast<sysfs::StatsReader&>(*trace) : *stats,
      .journal = *state.journal->journal,
      .discover = [root](const policy::NetnsSelector& selector) { return sysfs::discoverNetns(root, selector); },
      .memory = state.memory,
      .bootId = bootId,
      .dryRun = dryRunFlag,
      .forget = [&knobs](const sysfs::Netns& netns) { knobs.forget(netns); },
      .totalEntries =
          [root, slabInSysfs, slab = std::make_shared<sysfs::SlabObjectsReader>(root)] {
            return slabInSysfs ? slab->read() : sysfs::readSlabEntries(root);
          },
      .totalEntriesEvery = slabInSysfs ? policy::Duration(kStableKnobsEvery) : kSlabinfoEvery,
      .namespacesStamp = [stamp = std::make_shared<sysfs::NamedNetnsStamp>(root)] { return (*stamp)(); },
      .stableKnobsEvery = kStableKnobsEvery,
      .journalView = std::move(state.journal->view),
      .journalFolded =
          [&checkpointer, warned = false](const JournalView& view) mutable {
            if (auto written = checkpointer.maybeWrite(view); !written && !warned) {
              spdlog::warn("journal: cannot write {} ({}); start-up reads the whole journal", kCheckpointName,
                           written.error().what);
              warned = true;
            }
          },
  };
  spdlog::info("policy: {}; state: {}", source, global.stateDir);
  Controller controller(std::move(policy), std::move(deps));
  Daemon daemon(controller, [&global] { return loadEffectivePolicy(global); });
  daemon.run(once);
  return stop(controller, daemon.lastReport(), state, knobs, global, once);
}

}  // namespace ctpilot::controller
