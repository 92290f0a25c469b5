// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/rollback.h"
#include "policy/units.h"
#include "sysfs/knob_store.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Longer holds are a policy decision, and far longer ones overflow the clock (year 2262).
constexpr policy::Duration kMaxHold = std::chrono::hours(24 * 365);

constexpr const char* kSynopsis =
    "ctpilot rollback (--last N | --to ID | --all) [--dry-run] [--force] [--hold DURATION]";

std::string stepText(const RollbackStep& step) {
  return (step.intentOnly ? "intent #" : "#") + std::to_string(step.appliedId) + " of " + formatTime(step.time) +
         (step.reason.empty() ? "" : ": " + step.reason);
}

// Prints what happened: results on stdout, problems on stderr.
void printReport(const RollbackReport& report, const RollbackOptions& options) {
  using Status = StepOutcome::Status;
  for (const auto& conflict : report.conflicts) {
    std::cerr << "ctpilot rollback: " << policy::refName(conflict.ref) << " is " << conflict.found << ", not "
              << conflict.expected << " as ctpilot last set it (#" << conflict.expectedId
              << "): someone else changed it; "
              << (options.force ? "overriding because of --force"
                                : "refusing to roll back (pass --force to restore the journaled values anyway)")
              << "\n";
  }
  if (report.hold) {
    std::cout << "placed a hold until " << formatTime(*report.hold->until)
              << ": a running controller changes no knob until then (lift it with ctpilot resume)\n";
  }
  int restored = 0;
  for (const auto& outcome : report.steps) {
    const auto& step = outcome.step;
    switch (outcome.status) {
      case Status::Restored:
        ++restored;
        std::cout << "restored " << policy::refName(step.ref) << " " << outcome.before << " -> " << outcome.kept
                  << " (undoing " << stepText(step) << ")\n";
        break;
      case Status::WouldRestore:
        std::cout << "would restore " << policy::refName(step.ref) << " " << outcome.before << " -> " << step.to
                  << " (undoing " << stepText(step) << ")\n";
        break;
      case Status::NetnsGone:
        std::cerr << "ctpilot rollback: skipped #" << step.appliedId << " (" << policy::refName(step.ref)
                  << "): the namespace has vanished: " << outcome.error << "\n";
        break;
      case Status::Failed:
        std::cerr << "ctpilot rollback: could not undo #" << step.appliedId << " (" << policy::refName(step.ref)
                  << " -> " << step.to << "): " << outcome.error << "\n";
        break;
      case Status::NotRun:
        if (!report.refused && report.journalError.empty()) {
          std::cerr << "ctpilot rollback: did not undo #" << step.appliedId << " (" << policy::refName(step.ref)
                    << ")\n";
        }
        break;
    }
  }
  if (!report.journalError.empty()) {
    std::cerr << "ctpilot rollback: journal unwritable, stopped before changing anything more: " << report.journalError
              << "; free space or fix permissions in the state directory and retry\n";
  }
  if (report.refused && restored == 0) std::cerr << "ctpilot rollback: nothing was changed\n";
}

// The words of `ctpilot rollback`.
struct RollbackArgs {
  std::int64_t last = 0;
  std::int64_t to = 0;
  std::string hold = "1h";
  bool all = false;
  bool dryRun = false;
  bool force = false;
};

// Which changes to undo: exactly one of --last N, --to ID, --all; nullopt after saying why not.
std::optional<RollbackSelection> selectionOf(const po::variables_map& vm, const RollbackArgs& words) {
  const int selections = static_cast<int>(vm.count("last") + vm.count("to")) + (words.all ? 1 : 0);
  if (selections != 1) {
    std::cerr << "ctpilot rollback: choose exactly one of --last N, --to ID or --all; usage: " << kSynopsis << "\n";
    return std::nullopt;
  }
  if (vm.count("last") != 0U) {
    if (words.last < 1) {
      std::cerr << "ctpilot rollback: --last " << words.last << ": must be at least 1\n";
      return std::nullopt;
    }
    return RollbackSelection{RollbackSelection::Mode::Last, words.last};
  }
  if (vm.count("to") != 0U) {
    if (words.to < 0) {
      std::cerr << "ctpilot rollback: --to " << words.to << ": must be a journal id (see ctpilot history)\n";
      return std::nullopt;
    }
    return RollbackSelection{RollbackSelection::Mode::To, words.to};
  }
  return RollbackSelection{};
}

// --hold: a duration up to kMaxHold, or 0; nullopt after saying why not.
std::optional<policy::Duration> holdOf(const std::string& hold) {
  const auto holdFor =
      hold == "0" ? std::optional<policy::Duration>(policy::Duration::zero()) : policy::parseDuration(hold);
  if (!holdFor) {
    std::cerr << "ctpilot rollback: --hold " << hold << ": not a duration (use 30m, 1h, 1d, or 0 for no hold)\n";
    return std::nullopt;
  }
  if (*holdFor > kMaxHold) {
    std::cerr << "ctpilot rollback: --hold " << hold << ": at most " << policy::formatDuration(kMaxHold)
              << " (to keep ctpilot off the knobs for good, stop it or set enabled = false in the policy)\n";
    return std::nullopt;
  }
  return holdFor;
}

// Plans the rollback from the journal and runs it (or, with --dry-run, says what it would do).
int rollBack(const GlobalOptions& global, const RollbackSelection& selection, RollbackOptions& rollback) {
  const auto bootId = commandBootId(global, "rollback", "cannot tell which boot this is");
  if (!bootId) return kExitFailure;
  rollback.bootId = *bootId;
  if (journalAbsent(global)) {
    std::cout << "nothing to roll back: no journal in " << global.stateDir << "\n";
    return kExitOk;
  }
  // No state lock: rollback must work while the controller runs. The journal's flock keeps
  // the two writers' records whole and their ids increasing; a second rollback waits for the
  // first and then plans from the journal the first one left.
  // A dry run writes nothing and needs no lock (nor write access to the state directory).
  std::optional<RollbackLock> lock;
  if (!rollback.dryRun) {
    auto taken = RollbackLock::acquire(global.stateDir, [] {
      std::cerr << "ctpilot rollback: another rollback is running in this state directory; waiting for it to finish\n";
    });
    if (!taken) {
      std::cerr << "ctpilot rollback: " << taken.error().what << "\n";
      return kExitFailure;
    }
    lock.emplace(std::move(*taken));
  }
  // This boot's records only (the kernel forgot the others): read back from the end to the
  // newest record of an earlier boot, so earlier boots `run` has not moved aside cost nothing.
  auto opened = FileJournal::openCurrentBoot(global.stateDir, rollback.bootId, rollback.dryRun);
  if (!opened) {
    std::cerr << "ctpilot rollback: " << opened.error().what << "\n";
    return kExitFailure;
  }
  const auto& journal = *opened;
  for (const auto& warning : journal->warnings()) std::cerr << "ctpilot rollback: " << warning << "\n";

  const auto& records = journal->records();
  auto steps = planRollback(records, rollback.bootId, selection);
  if (!steps) {
    std::cerr << "ctpilot rollback: " << steps.error().what << "\n";
    return steps.error().code == Errc::Busy ? kExitRefused : kExitFailure;
  }
  if (steps->empty()) {
    std::cout << "nothing to roll back: no change of this boot is left to undo";
    // Earlier boots' records are in journal.jsonl.1 once `run` moved them (a damaged one only costs the count).
    const auto firstId = records.empty() ? 0 : records.front().id;
    const auto earlier =
        countEarlierBootChanges(global.stateDir, rollback.bootId, firstId).value_or(EarlierBootChanges{});
    if (earlier.count > 0) {
      std::cout << " (" << (earlier.complete ? "" : "at least ") << earlier.count
                << " from earlier boots are gone: the kernel reset them at reboot)";
    }
    std::cout << "\n";
    return kExitOk;
  }

  rollback.now = policy::Clock::now();
  sysfs::ProcKnobStore store(global.root);
  const auto report = executeRollback(*steps, *journal, store, systemNetnsResolver(global.root), rollback);
  printReport(report, rollback);
  return report.exitCode();
}

}  // namespace

int rollbackCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  RollbackArgs words;
  po::options_description options(kSynopsis);
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("last", po::value(&words.last)->value_name("N"), "undo the last N changes of this boot")
      ("to", po::value(&words.to)->value_name("ID"), "undo every change of this boot with an id above ID")
      ("all", po::bool_switch(&words.all), "undo every change of this boot: back to the baseline")
      ("dry-run", po::bool_switch(&words.dryRun), "print what would be restored, change nothing")
      ("force", po::bool_switch(&words.force), "restore even knobs someone else changed since ctpilot")
      ("hold", po::value(&words.hold)->value_name("DURATION")->default_value(words.hold),
       "keep a running controller off every knob this long (0: no hold)");
  // clang-format on
  po::variables_map vm;
  if (!parseCommandArgs(args, options, vm)) return kExitOk;

  const auto selection = selectionOf(vm, words);
  if (!selection) return kExitUsage;
  const auto holdFor = holdOf(words.hold);
  if (!holdFor) return kExitUsage;
  RollbackOptions rollback;
  rollback.hold = *holdFor;
  rollback.force = words.force;
  rollback.dryRun = words.dryRun;
  rollback.command = words.all ? "rollback --all"
                               : (vm.count("last") != 0U ? "rollback --last " + std::to_string(words.last)
                                                         : "rollback --to " + std::to_string(words.to));
  return rollBack(global, *selection, rollback);
}

}  // namespace ctpilot::controller
