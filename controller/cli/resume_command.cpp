// SPDX-License-Identifier: Apache-2.0
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include <spdlog/spdlog.h>
#include "controller/cli/command_env.h"

#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "controller/rollback.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// The view a running controller keeps, from the same function: what resume lifts is what status
// shows and run honours. Says why not on stderr.
std::optional<ControllerJournal> openJournal(const GlobalOptions& global, const std::string& bootId) {
  auto opened = openControllerJournal(global.stateDir, bootId, JournalUse::Append, /*history=*/false);
  if (!opened) {
    std::cerr << "ctpilot resume: " << opened.error().what << "\n";
    return std::nullopt;
  }
  for (const auto& warning : opened->warnings) spdlog::warn("{}", warning);
  for (const auto& warning : opened->journal->warnings()) spdlog::warn("{}", warning);
  return std::move(*opened);
}

}  // namespace

int resumeCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  po::options_description options(
      "ctpilot resume: lift the holds rollback placed and hand back knobs changed by someone else, so a "
      "running controller manages them again (the policy file is not touched)");
  options.add_options()("help,h", "print this help");
  po::variables_map vm;
  if (!parseCommandArgs(args, options, vm)) return kExitOk;

  if (journalAbsent(global)) {
    std::cout << "no holds to lift: no journal in " << global.stateDir << "\n";
    return kExitOk;
  }
  const auto bootId = commandBootId(global, "resume", "cannot tell which boot this is");
  if (!bootId) return kExitFailure;
  // Resume appends too: not while `run` moves earlier boots' records aside.
  auto lock = RollbackLock::acquire(global.stateDir, nullptr);
  if (!lock) {
    std::cerr << "ctpilot resume: " << lock.error().what << "\n";
    return kExitFailure;
  }
  const auto opened = openJournal(global, *bootId);
  if (!opened) return kExitFailure;
  const auto& journal = opened->journal;

  const auto now = policy::Clock::now();
  const auto view = opened->current();
  const auto holds = view.activeHoldRecords(now);
  const auto external = view.externalRecordIds(0);
  if (holds.empty() && external.empty()) {
    std::cout << "no holds to lift and no knob changed by someone else: a running controller is already free to act\n";
    return kExitOk;
  }
  JournalRecord resume;
  resume.time = now;
  resume.bootId = *bootId;
  resume.kind = RecordKind::Resume;
  resume.reason = "ctpilot resume lifted " + std::to_string(holds.size()) + " hold(s) and handed back " +
                  std::to_string(external.size()) + " knob(s) changed by someone else";
  auto stored = journal->append(resume);
  if (!stored) {
    std::cerr << "ctpilot resume: journal unwritable, nothing lifted or handed back: " << stored.error().what << "\n";
    return kExitFailure;
  }
  for (const auto& hold : holds) {
    std::cout << "lifted hold #" << hold.id << " until " << formatTime(*hold.until);
    if (hold.knob) std::cout << " on " << policy::refName({hold.netns, *hold.knob});
    if (!hold.reason.empty()) std::cout << " (" << hold.reason << ")";
    std::cout << "\n";
  }
  for (const auto& [ref, id] : external) {
    std::cout << "handed back " << policy::refName(ref) << " (changed by someone else, #" << id
              << "); its value now is ctpilot's to manage\n";
  }
  std::cout << "journaled resume #" << stored->id << ": a running controller acts again from its next tick\n";
  return kExitOk;
}

}  // namespace ctpilot::controller
