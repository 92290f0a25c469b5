#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "controller/cli/cli.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/rollback.h"
#include "policy/units.h"
#include "sysfs/knob_store.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Longer holds are a policy decision, and far longer ones overflow the clock (year 2262).
constexpr policy::Duration kMaxHold = std::chrono::hours(24 * 365);

constexpr const char* kSynopsis = "ctpilot rollback (--last N | --to ID | --all) [--dry-run] [--force] [--hold DURATION]";

std::string stepText(const RollbackStep& step) {
  return (step.intentOnly ? "intent #" : "#") + std::to_string(step.appliedId) + " of " + formatTime(step.time) +
         (step.reason.empty() ? "" : ": " + step.reason);
}

// Prints what happened: results on stdout, problems on stderr.
void printReport(const RollbackReport& report, const RollbackOptions& options) {
  using Status = StepOutcome::Status;
  for (const auto& conflict : report.conflicts) {
    std::cerr << "ctpilot rollback: " << policy::refName(conflict.ref) << " is " << conflict.found << ", not "
              << conflict.expected << " as ctpilot last set it (#" << conflict.expectedId << "): someone else changed it; "
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
          std::cerr << "ctpilot rollback: did not undo #" << step.appliedId << " (" << policy::refName(step.ref) << ")\n";
        }
        break;
    }
  }
  if (!report.journalError.empty()) {
    std::cerr << "ctpilot rollback: journal unwritable, stopped before changing anything more: "
              << report.journalError << "; free space or fix permissions in the state directory and retry\n";
  }
  if (report.refused && restored == 0) std::cerr << "ctpilot rollback: nothing was changed\n";
}

}  // namespace

int rollbackCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::int64_t last = 0;
  std::int64_t to = 0;
  std::string hold = "1h";
  bool all = false;
  bool dryRun = false;
  bool force = false;
  po::options_description options(kSynopsis);
  options.add_options()
      ("help,h", "print this help")
      ("last", po::value(&last)->value_name("N"), "undo the last N changes of this boot")
      ("to", po::value(&to)->value_name("ID"), "undo every change of this boot with an id above ID")
      ("all", po::bool_switch(&all), "undo every change of this boot: back to the baseline")
      ("dry-run", po::bool_switch(&dryRun), "print what would be restored, change nothing")
      ("force", po::bool_switch(&force), "restore even knobs someone else changed since ctpilot")
      ("hold", po::value(&hold)->value_name("DURATION")->default_value(hold),
       "keep a running controller off every knob this long (0: no hold)");
  po::variables_map vm;
  if (!parseCommandArgs(args, options, vm)) return kExitOk;

  const int selections = static_cast<int>(vm.count("last") + vm.count("to")) + (all ? 1 : 0);
  if (selections != 1) {
    std::cerr << "ctpilot rollback: choose exactly one of --last N, --to ID or --all; usage: " << kSynopsis << "\n";
    return kExitUsage;
  }
  RollbackSelection selection;
  if (vm.count("last") != 0U) {
    if (last < 1) {
      std::cerr << "ctpilot rollback: --last " << last << ": must be at least 1\n";
      return kExitUsage;
    }
    selection = {RollbackSelection::Mode::Last, last};
  } else if (vm.count("to") != 0U) {
    if (to < 0) {
      std::cerr << "ctpilot rollback: --to " << to << ": must be a journal id (see ctpilot history)\n";
      return kExitUsage;
    }
    selection = {RollbackSelection::Mode::To, to};
  }
  RollbackOptions rollback;
  const auto holdFor = hold == "0" ? std::optional<policy::Duration>(policy::Duration::zero()) : policy::parseDuration(hold);
  if (!holdFor) {
    std::cerr << "ctpilot rollback: --hold " << hold << ": not a duration (use 30m, 1h, 1d, or 0 for no hold)\n";
    return kExitUsage;
  }
  if (*holdFor > kMaxHold) {
    std::cerr << "ctpilot rollback: --hold " << hold << ": at most " << policy::formatDuration(kMaxHold)
              << " (to keep ctpilot off the knobs for good, stop it or set enabled = false in the policy)\n";
    return kExitUsage;
  }
  rollback.hold = *holdFor;
  rollback.force = force;
  rollback.dryRun = dryRun;
  rollback.command = all ? "rollback --all"
                         : (vm.count("last") != 0U ? "rollback --last " + std::to_string(last)
                                                   : "rollback --to " + std::to_string(to));

  auto bootId = sysfs::readBootId(global.root);
  if (!bootId) {
    std::cerr << "ctpilot rollback: cannot tell which boot this is: " << bootId.error().what << "\n";
    return kExitFailure;
  }
  rollback.bootId = *bootId;
  const auto path = (std::filesystem::path(global.stateDir) / "journal.jsonl").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) {
    std::cout << "nothing to roll back: no journal in " << global.stateDir << "\n";
    return kExitOk;
  }
  // No state lock: rollback must work while the controller runs. The journal's flock keeps
  // the two writers' records whole and their ids increasing; a second rollback waits for the
  // first and then plans from the journal the first one left.
  // A dry run writes nothing and needs no lock (nor write access to the state directory).
  std::optional<RollbackLock> lock;
  if (!dryRun) {
    auto taken = RollbackLock::acquire(global.stateDir, [] {
      std::cerr << "ctpilot rollback: another rollback is running in this state directory; waiting for it to finish\n";
    });
    if (!taken) {
      std::cerr << "ctpilot rollback: " << taken.error().what << "\n";
      return kExitFailure;
    }
    lock.emplace(std::move(*taken));
  }
  auto journal = FileJournal::open(global.stateDir);
  if (!journal) {
    std::cerr << "ctpilot rollback: " << journal.error().what << "\n";
    return kExitFailure;
  }
  for (const auto& warning : (*journal)->warnings()) spdlog::warn("{}", warning);

  const auto& records = (*journal)->records();
  auto steps = planRollback(records, rollback.bootId, selection);
  if (!steps) {
    std::cerr << "ctpilot rollback: " << steps.error().what << "\n";
    return kExitFailure;
  }
  if (steps->empty()) {
    std::cout << "nothing to roll back: no change of this boot is left to undo";
    // Earlier boots' records are in journal.jsonl.1 once `run` moved them (a damaged one only costs the count).
    auto otherBoots = viewOf(records, rollback.bootId).otherBootApplied();
    otherBoots += rotatedAppliedCount(global.stateDir, rollback.bootId, records.empty() ? 0 : records.front().id).value_or(0);
    if (otherBoots > 0) std::cout << " (" << otherBoots << " from earlier boots are gone: the kernel reset them at reboot)";
    std::cout << "\n";
    return kExitOk;
  }

  rollback.now = policy::Clock::now();
  sysfs::ProcKnobStore store(global.root);
  const auto report = executeRollback(*steps, **journal, store, systemNetnsResolver(global.root), rollback);
  printReport(report, rollback);
  return report.exitCode();
}

}  // namespace ctpilot::controller
