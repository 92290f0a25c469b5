// SPDX-License-Identifier: Apache-2.0
#include "controller/rollback.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>
#include <utility>

#include "controller/state_dir.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

using Status = StepOutcome::Status;

bool selected(const RollbackSelection& selection, std::size_t planned, std::int64_t id) {
  if (selection.mode == RollbackSelection::Mode::Last) return static_cast<std::int64_t>(planned) < selection.value;
  if (selection.mode == RollbackSelection::Mode::To) return id > selection.value;
  return true;
}

// Why the applied record `applied` does not agree with the intent it names (README "Rolling
// back"): ctpilot journals its intent first, then the outcome of the same write, once. Empty
// when it agrees. `byId`: the boot's records by id; `finished`: intents an outcome already named.
std::string disagreement(const JournalRecord& applied, const std::map<std::int64_t, const JournalRecord*>& byId,
                         const std::map<std::int64_t, std::int64_t>& finishedBy) {
  if (!applied.ref) return {};  // names no intent (written by hand or by an older ctpilot): nothing to compare
  const auto found = byId.find(*applied.ref);
  if (found == byId.end())
    return "names intent #" + std::to_string(*applied.ref) + ", which this boot's journal does not hold";
  const JournalRecord& intent = *found->second;
  const std::string which = "intent #" + std::to_string(intent.id);
  if (intent.kind != RecordKind::Intent) return "names #" + std::to_string(intent.id) + ", which is no intent";
  if (intent.id >= applied.id) return "comes before its " + which;
  if (intent.ref) return "names " + which + ", which is a rollback's";
  if (recordRef(intent) != recordRef(applied)) return "is about another knob or netns than its " + which;
  // An applied record without old takes it from its intent (older journals).
  if (applied.oldValue && intent.oldValue != applied.oldValue) return "has another old value than its " + which;
  // The kernel may round a hash size up (it keeps whole pages of buckets); nothing else changes.
  const bool rounded = applied.knob == policy::Knob::Buckets && intent.newValue && applied.newValue &&
                       *applied.newValue >= *intent.newValue;
  if (intent.newValue != applied.newValue && !rounded) return "has another new value than its " + which;
  if (const auto first = finishedBy.find(intent.id); first != finishedBy.end() && first->second != applied.id) {
    return "is a second outcome of " + which + " (#" + std::to_string(first->second) + " was the first)";
  }
  return {};
}

// Checks each step against the journal it came from; Errc::Busy naming the first that disagrees.
Result<void> checkSteps(const std::vector<RollbackStep>& steps, const std::vector<JournalRecord>& records,
                        const std::string& bootId) {
  std::map<std::int64_t, const JournalRecord*> byId;
  std::map<std::int64_t, std::int64_t> finishedBy;  // intent id -> the first outcome naming it
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    byId[record.id] = &record;
    if ((record.kind == RecordKind::Applied || record.kind == RecordKind::Failed) && record.ref) {
      finishedBy.emplace(*record.ref, record.id);
    }
  }
  for (const auto& step : steps) {
    const auto found = byId.find(step.appliedId);
    if (found == byId.end()) continue;  // cannot happen: the view found it there
    const std::string why = step.intentOnly ? std::string() : disagreement(*found->second, byId, finishedBy);
    if (!why.empty()) {
      return Error{Errc::Busy, "journal record #" + std::to_string(step.appliedId) + " (applied " +
                                   policy::refName(step.ref) + ") " + why +
                                   ": the journal does not agree with itself (edited or forged?), so nothing is rolled "
                                   "back; fix the journal, or undo only the changes after it with --to " +
                                   std::to_string(step.appliedId)};
    }
  }
  return {};
}

}  // namespace

Result<std::vector<RollbackStep>> planRollback(const std::vector<JournalRecord>& records, const std::string& bootId,
                                               const RollbackSelection& selection) {
  const auto changes = viewOf(records, bootId).undoable();
  std::vector<RollbackStep> steps;
  for (auto it = changes.rbegin(); it != changes.rend() && selected(selection, steps.size(), it->id); ++it) {
    const UndoableChange& change = *it;
    if (!change.from) {
      return Error{Errc::Malformed, "journal record #" + std::to_string(change.id) + " (" +
                                        (change.intentOnly ? "intent" : "applied") + " " + policy::refName(change.ref) +
                                        ") has no old value, so it cannot be undone; use --to " +
                                        std::to_string(change.id) + " to undo only the changes after it"};
    }
    steps.push_back({change.id, change.ref, change.to, *change.from, change.time, change.reason, change.intentOnly});
  }
  if (auto checked = checkSteps(steps, records, bootId); !checked) return checked.error();
  return steps;
}

NetnsResolver systemNetnsResolver(const std::string& root) {
  return [root](const std::string& name) -> Result<sysfs::Netns> {
    using Mode = policy::NetnsSelector::Mode;
    if (name.empty() || name == policy::kInitNetns) {
      auto found = sysfs::discoverNetns(root, {Mode::Init, {}});
      if (!found) return found.error();
      return found->front();
    }
    if (name.rfind("netns:", 0) == 0) {
      const auto inode = name.substr(6);
      if (inode.empty() || !std::all_of(inode.begin(), inode.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Error{Errc::Malformed, "netns name \"" + name + "\" from the journal is not netns:<inode>; not touched"};
      }
      // Unnamed: it lives only as long as some process holds it.
      auto found = sysfs::discoverNetns(root, {Mode::All, {}});
      if (!found) return found.error();
      for (const auto& netns : *found) {
        if (netns.name == name) return netns;
      }
      return Error{Errc::Missing, "netns " + name + " no longer exists (no process holds it)"};
    }
    if (!policy::isPlainNetnsName(name)) {
      // A damaged or hostile journal must not steer a write outside /run/netns.
      return Error{Errc::Malformed,
                   "netns name from the journal is not a plain name (letters, digits, \".\", "
                   "\"_\", \"-\"); not touched"};
    }
    auto found = sysfs::discoverNetns(root, {Mode::Named, {name}});
    if (!found) return found.error();
    return found->front();
  };
}

int RollbackReport::exitCode() const {
  if (refused) return 3;
  if (!journalError.empty()) return 1;
  for (const auto& outcome : steps) {
    if (outcome.status != Status::Restored && outcome.status != Status::WouldRestore) return 1;
  }
  return 0;
}

namespace {

// One rollback in progress: the journal's view when it started, the namespaces resolved and
// what each knob holds after the steps done so far.
class RollbackRun {
 public:
  RollbackRun(Journal& journal, sysfs::KnobStore& store, const NetnsResolver& resolve, const RollbackOptions& options)
      : journal_(journal),
        store_(store),
        resolve_(resolve),
        options_(options),
        view_(viewOf(journal.records(), options.bootId)) {}

  // Checks every knob before writing any: a rollback is refused whole, not half done. Only the
  // newest step of a knob meets its current value; older ones follow from the newer ones.
  void check(RollbackReport& report) {
    std::map<policy::KnobRef, std::int64_t> next;     // what a knob holds once the newer steps ran
    std::map<policy::KnobRef, StepOutcome> unusable;  // knobs whose namespace or value cannot be had
    for (auto& outcome : report.steps) {
      const auto& step = outcome.step;
      if (const auto found = next.find(step.ref); found != next.end()) {
        outcome.before = found->second;
      } else if (auto problem = readCurrent(step, outcome.before)) {
        unusable[step.ref] = std::move(*problem);
      } else if (!ours(step, outcome.before)) {
        const auto last = lastFor(step);
        report.conflicts.push_back({step.ref, outcome.before, last.value, last.recordId});
      }
      next[step.ref] = step.to;
      if (const auto found = unusable.find(step.ref); found != unusable.end()) {
        outcome.status = found->second.status;
        outcome.error = found->second.error;
      } else if (const auto range = policy::validRange(step.ref.knob); step.to < range.min || step.to > range.max) {
        // Even under --force: a journaled value no kernel would hold means a damaged journal.
        fail(outcome, "the journaled old value " + std::to_string(step.to) + " is outside " +
                          std::to_string(range.min) + ".." + std::to_string(range.max) +
                          " for this knob; not written (is the journal damaged?)");
      }
    }
  }

  // Journals a hold before the first write: a running controller reads it on its next tick and
  // leaves every knob alone, so it cannot redo a change between our write and our last record.
  bool placeHold(RollbackReport& report) {
    JournalRecord hold;
    hold.time = options_.now;
    hold.bootId = options_.bootId;
    hold.kind = RecordKind::Hold;
    hold.until = options_.now + options_.hold;
    hold.reason = "placed by " + options_.command + " for " + policy::formatDuration(options_.hold) +
                  "; lift with ctpilot resume";
    auto stored = journal_.append(hold);
    if (!stored) {
      report.journalError = stored.error().what;
      return false;
    }
    report.hold = *stored;
    return true;
  }

  // Restores one step: re-reads the knob, journals the intent, writes, journals the outcome.
  // Returns false when the journal failed (everything stops).
  bool restore(StepOutcome& outcome, RollbackReport& report) {
    const auto& step = outcome.step;
    const auto& ref = step.ref;
    if (broken_.contains(ref))
      return fail(outcome, "not attempted: an earlier step of " + policy::refName(ref) + " failed");
    const auto& netns = *namespaces_.at(ref.netns);
    const auto before = store_.read(netns, ref.knob);
    if (!before) return fail(outcome, before.error().what);
    outcome.before = *before;
    const auto done = restored_.find(ref);
    const auto last = done != restored_.end() ? done->second : lastFor(step);
    const bool unchanged = done != restored_.end() ? *before == last.value : ours(step, *before);
    if (!unchanged && !options_.force) {
      // Changed since the check (a running controller or an operator): do not overwrite it.
      report.conflicts.push_back({ref, *before, last.value, last.recordId});
      report.refused = true;
      broken_.insert(ref);
      return true;
    }
    auto intent = knobRecord(RecordKind::Intent, options_.now, options_.bootId, ref, *before, step.to,
                             "rollback of #" + std::to_string(step.appliedId));
    intent.ref = step.appliedId;
    auto intentStored = journal_.append(intent);
    if (!intentStored) {
      report.journalError = intentStored.error().what;
      return false;
    }
    JournalRecord result = intent;
    const auto kept = store_.write(netns, ref.knob, step.to);
    if (!kept) {
      fail(outcome, kept.error().what);
      result.kind = RecordKind::Failed;
      result.ref = intentStored->id;
      result.error = kept.error().what;
    } else {
      outcome.kept = *kept;
      outcome.status = Status::Restored;
      if (*kept != step.to) {
        fail(outcome, "the kernel kept " + std::to_string(*kept) + " instead of " + std::to_string(step.to));
      }
      result.kind = RecordKind::Rollback;
      result.newValue = *kept;
    }
    auto resultStored = journal_.append(result);
    if (!resultStored) {
      report.journalError = resultStored.error().what;
      return false;
    }
    if (kept) restored_[ref] = {*kept, resultStored->id};
    return true;
  }

 private:
  // Reads the knob a step is about into `value`; the outcome to give its steps when it cannot.
  std::optional<StepOutcome> readCurrent(const RollbackStep& step, std::int64_t& value) {
    auto netns = namespaces_.find(step.ref.netns);
    if (netns == namespaces_.end()) netns = namespaces_.emplace(step.ref.netns, resolve_(step.ref.netns)).first;
    if (!netns->second) {
      const auto& error = netns->second.error();
      return StepOutcome{{}, error.code == Errc::Missing ? Status::NetnsGone : Status::Failed, 0, 0, error.what};
    }
    const auto current = store_.read(*netns->second, step.ref.knob);
    if (!current) return StepOutcome{{}, Status::Failed, 0, 0, current.error().what};
    value = *current;
    return std::nullopt;
  }

  LastWrite lastFor(const RollbackStep& step) const {
    const auto found = view_.lastWrites().find(step.ref);
    return found != view_.lastWrites().end() ? found->second : LastWrite{step.from, step.appliedId};
  }

  // ctpilot's own values: what it last wrote, what an intent newer than that was about to write
  // when the process died, and for an intent alone the value it found (the write never happened).
  bool ours(const RollbackStep& step, std::int64_t value) const {
    if (value == lastFor(step).value || (step.intentOnly && value == step.to)) return true;
    const auto mine = view_.ourValues(step.ref);
    return std::find(mine.begin(), mine.end(), value) != mine.end();
  }

  bool fail(StepOutcome& outcome, std::string error) {
    outcome.status = Status::Failed;
    outcome.error = std::move(error);
    broken_.insert(outcome.step.ref);
    return true;
  }

  Journal& journal_;
  sysfs::KnobStore& store_;
  const NetnsResolver& resolve_;
  const RollbackOptions& options_;
  JournalView view_;
  std::map<std::string, Result<sysfs::Netns>> namespaces_;
  std::map<policy::KnobRef, LastWrite> restored_;  // after a step: what it restored
  std::set<policy::KnobRef> broken_;               // a step of this knob failed: older ones would build on it
};

}  // namespace

RollbackReport executeRollback(const std::vector<RollbackStep>& steps, Journal& journal, sysfs::KnobStore& store,
                               const NetnsResolver& resolve, const RollbackOptions& options) {
  RollbackReport report;
  for (const auto& step : steps) report.steps.push_back({step, Status::NotRun, 0, 0, {}});
  if (steps.empty()) return report;

  RollbackRun run(journal, store, resolve, options);
  run.check(report);
  if (!report.conflicts.empty() && !options.force) {
    report.refused = true;
    return report;
  }
  if (options.dryRun) {
    for (auto& outcome : report.steps) {
      if (outcome.status == Status::NotRun) outcome.status = Status::WouldRestore;
    }
    return report;
  }
  const bool anyToRun = std::any_of(report.steps.begin(), report.steps.end(),
                                    [](const StepOutcome& o) { return o.status == Status::NotRun; });
  if (anyToRun && options.hold > policy::Duration::zero() && !run.placeHold(report)) return report;
  for (auto& outcome : report.steps) {
    if (outcome.status == Status::NotRun && !run.restore(outcome, report)) return report;
  }
  return report;
}

Result<RollbackLock> RollbackLock::acquire(const std::string& stateDir, const std::function<void()>& onWait) {
  const auto path = (std::filesystem::path(stateDir) / "rollback.lock").string();
  // No symlink followed, modes and owner checked (README Safety promise 12).
  auto opened = openStateFile(stateDir, "rollback.lock", StateAccess::Create);
  if (!opened) return opened.error();
  UniqueFd fd = std::move(opened->fd);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return errnoError(errno, "lock " + path);
    if (onWait) onWait();
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return errnoError(errno, "lock " + path);
    }
  }
  return RollbackLock(std::move(fd));
}

}  // namespace ctpilot::controller
