// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/controller.h"
#include "controller/daemon.h"
#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/journal/journal_view.h"
#include "policy/decide.h"
#include "policy/units.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Growth needs several samples; three intervals keep `plan` quick at the default 1s.
constexpr int kPlanSamples = 3;

std::string humanSeconds(const std::optional<double>& seconds) {
  if (!seconds) return "never";
  if (*seconds <= 0) return "full now";
  const auto s = static_cast<std::int64_t>(std::llround(*seconds));
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s % 3600 / 60) + "m";
  return "> 1 day";
}

std::string utc(policy::TimePoint time) {
  const std::time_t t = policy::Clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  // 0: it did not fit (a year past 32 bytes) and the buffer holds nothing defined.
  if (std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
  return buffer;
}

// The limits every namespace shares: the memory budget for all of them together and the stall
// a hash resize would cause now.
void printLimits(std::ostream& out, const policy::Policy& policy, const policy::Observation& obs,
                 const policy::Plan& plan) {
  std::int64_t watched = 0;
  for (const auto& n : obs.netns) watched += n.count;
  const std::int64_t all = std::max(obs.totalEntries, watched);
  if (const auto cap = policy::memoryCapEntries(policy, obs); cap > 0) {
    out << fmt::format("entries in every netns together: {} of the memory budget's {} ({:.1f}%){}\n", all, cap,
                       100.0 * static_cast<double>(all) / static_cast<double>(cap),
                       plan.mentions(policy::Reason::MemoryBudget) || plan.mentions(policy::Reason::BudgetBounded)
                           ? "; the budget holds nf_conntrack_max back"
                           : "");
  }
  const double stallMs = static_cast<double>(all) * obs.resizeNsPerEntry / 1e6;
  out << fmt::format(
      "a hash resize now would stall every packet through conntrack ~{:.1f} ms ({} entries x {:.2f} us; "
      "max_stall {}){}\n",
      stallMs, all, obs.resizeNsPerEntry / 1000.0, policy::formatDuration(policy.hashsize.maxStall),
      plan.mentions(policy::Reason::StallTooLong) ? ": too long, not resizing" : "");
}

void printReport(std::ostream& out, const policy::Policy& policy, const TickReport& report) {
  const auto& obs = report.observation;
  out << fmt::format("{:<20} {:>9} {:>9} {:>6} {:>10} {:>8} {:>12} {:>13}  {}\n", "NETNS", "COUNT", "MAX", "FILL",
                     "GROWTH/S", "DROP/S", "EARLY_DROP/S", "INS_FAILED/S", "TIME TO FULL");
  for (const auto& n : obs.netns) {
    const auto found = report.estimates.find(n.netns);
    const Estimate estimate = found == report.estimates.end() ? Estimate{} : found->second;
    const double fill = obs.max > 0 ? 100.0 * static_cast<double>(n.count) / static_cast<double>(obs.max) : 0.0;
    out << fmt::format("{:<20} {:>9} {:>9} {:>5.1f}% {:>+10.1f} {:>8} {:>12} {:>13}  {}\n", n.netns, n.count, obs.max,
                       fill, n.growthPerSec, estimate.countersKnown ? fmt::format("{:.1f}", n.dropsPerSec) : "?",
                       estimate.countersKnown ? fmt::format("{:.1f}", n.earlyDropsPerSec) : "?",
                       estimate.countersKnown ? fmt::format("{:.1f}", n.insertFailedPerSec) : "?",
                       humanSeconds(estimate.secondsToFull));
  }
  if (obs.netns.empty()) out << "(no watched network namespace could be read)\n";
  out << "\n";
  out << fmt::format("nf_conntrack_buckets {} ({:.1f} entries per bucket at max; policy wants {})\n", obs.buckets,
                     obs.buckets > 0 ? static_cast<double>(obs.max) / static_cast<double>(obs.buckets) : 0.0,
                     policy.hashsize.entriesPerBucket);
  out << fmt::format("nf_conntrack_max may go up to {} (ceiling {}, memory budget {} of {} at {} B per entry)\n",
                     policy::effectiveCeiling(policy, obs), policy.max.ceiling,
                     policy::formatRatio(policy.max.memoryBudget), policy::formatBytes(obs.memTotalBytes),
                     obs.entryBytes);
  if (obs.baselineMax != obs.max) {
    out << fmt::format("baseline of this boot: nf_conntrack_max {}, nf_conntrack_buckets {}\n", obs.baselineMax,
                       obs.baselineBuckets);
  }
  printLimits(out, policy, obs, report.plan);
  for (const auto& hold : report.history.holds) {
    out << "hold: " << (hold.ref ? policy::refName(*hold.ref) : std::string("every knob")) << " left alone until "
        << utc(hold.until) << " (ctpilot resume lifts it)\n";
  }
  for (const auto& ref : report.history.external) {
    out << "changed by hand: " << policy::refName(ref) << " (left alone until the policy changes)\n";
  }
  for (const auto& ref : obs.unwritable) {
    out << "not writable: " << policy::refName(ref) << "\n";
  }

  out << "\nwhat `ctpilot run` would do now:\n";
  if (report.plan.actions.empty()) out << "  nothing\n";
  for (const auto& action : report.plan.actions)
    out << "  " << describeAction(action, action.to, /*would=*/true) << "\n";
  if (!report.plan.notes.empty()) {
    out << "\nnotes:\n";
    for (const auto& note : report.plan.notes) out << "  " << policy::noteText(note) << "\n";
  }
}

// What the journal says (baselines, holds, knobs changed by hand), read without creating or
// locking anything: plan must work on a fresh machine and beside a running controller. The view
// a running controller keeps, from the same function (a verified journal.checkpoint and the
// records after it, or this boot's records); an empty one when there is no journal.
std::optional<JournalView> journalView(const GlobalOptions& global, const std::string& bootId) {
  auto opened = openControllerJournal(global.stateDir, bootId, JournalUse::ReadOnly);
  if (!opened) {
    std::cerr << "ctpilot plan: ignoring the journal (" << opened.error().what
              << "); baselines and holds are unknown\n";
    return std::nullopt;
  }
  for (const auto& warning : opened->warnings) std::cerr << "ctpilot plan: " << warning << "\n";
  return opened->current();
}

// Samples kPlanSamples times at `interval` and decides on the last; stops at a failed sample.
TickReport sample(Controller& controller, policy::Duration interval) {
  // Growth needs time between samples: say why the command is waiting when it is noticeable.
  if (interval * (kPlanSamples - 1) >= std::chrono::seconds(3)) {
    std::cerr << "ctpilot plan: sampling " << kPlanSamples << " times at the policy's interval of "
              << policy::formatDuration(interval) << "...\n";
  }
  TickReport report;
  for (int i = 1; i <= kPlanSamples; ++i) {
    const auto now = policy::Clock::now();
    report = i < kPlanSamples ? controller.observe(now) : controller.tick(now);
    if (!report.sampled) break;
    if (i < kPlanSamples) std::this_thread::sleep_for(interval);
  }
  return report;
}

}  // namespace

// long: the controller's dependencies, one designated initializer a line, as run wires them
int planCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  po::options_description options("plan options");
  options.add_options()("help,h", "print this help");
  po::variables_map vm;
  CommandSyntax syntax;
  syntax.usage = "usage: ctpilot plan\n\nSamples for " + std::to_string(kPlanSamples) +
                 " intervals and prints what `ctpilot run` would do now. Changes nothing: no knob, no journal.\n\n";
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;

  std::string source;
  auto loaded = commandPolicy(global, "plan", &source);
  if (!loaded) return kExitUsage;
  const policy::Policy policy = std::move(*loaded);

  // The controller logs what it would do; plan prints it itself, so keep the log to problems.
  if (global.logLevel == "info") spdlog::set_level(spdlog::level::warn);

  const auto bootId = commandBootId(global, "plan", "cannot read the boot id");
  if (!bootId) return kExitFailure;
  const auto memory = commandMemoryFacts(global, "plan");
  if (!memory) return kExitFailure;

  auto view = journalView(global, *bootId);
  MemoryJournal journal;  // what plan would journal stays in memory, numbered after the file's records
  journal.idsAfter = view ? view->lastId() : 0;
  sysfs::ProcKnobStore knobs(global.root);
  auto stats = sysfs::makeStatsReader(global.root);
  const std::string root = global.root;
  Controller controller(
      policy,
      ControllerDeps{
          .knobs = knobs,
          .stats = *stats,
          .journal = journal,
          .discover = [root](const policy::NetnsSelector& selector) { return sysfs::discoverNetns(root, selector); },
          .memory = *memory,
          .bootId = *bootId,
          .dryRun = true,
          .forget = {},
          .totalEntries = [root] { return sysfs::readSlabEntries(root); },
          .namespacesStamp = {},  // plan looks for a few seconds only
          .journalView = std::move(view),
          .journalFolded = {},  // plan writes nothing: no checkpoint
      });

  const auto interval = policy.controller.interval;
  const auto started = std::chrono::steady_clock::now();
  const TickReport report = sample(controller, interval);
  if (!report.sampled) {
    std::cerr << "ctpilot plan: cannot sample conntrack"
              << (report.error ? " (" + report.error->what + ")" : std::string())
              << "; is nf_conntrack loaded? (modprobe nf_conntrack)\n";
    return kExitFailure;
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "policy: " << source << "\n"
            << fmt::format("sampled {} times over {:.1f}s (interval {})\n\n", kPlanSamples, took,
                           policy::formatDuration(interval));
  printReport(std::cout, policy, report);
  std::cout << "\nplan changed nothing; `ctpilot run --dry-run` journals the same plan as it goes.\n";
  return kExitOk;
}

}  // namespace ctpilot::controller
