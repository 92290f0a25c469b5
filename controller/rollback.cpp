#include "controller/rollback.h"

#include <algorithm>
#include <set>

#include "policy/units.h"

namespace ctpilot::controller {
namespace {

std::optional<policy::KnobRef> refOf(const JournalRecord& record) {
  if (!record.knob) return std::nullopt;
  return policy::KnobRef{record.netns.empty() ? std::string(policy::kInitNetns) : record.netns, *record.knob};
}

std::string describe(const policy::KnobRef& ref) {
  return std::string(policy::kernelName(ref.knob)) + " in " + ref.netns;
}

}  // namespace

Result<std::vector<RollbackStep>> planRollback(const std::vector<JournalRecord>& records, const std::string& bootId,
                                               const RollbackSelection& selection) {
  std::map<std::int64_t, std::int64_t> intentOld;
  std::set<std::int64_t> rolledBack;
  std::vector<const JournalRecord*> applied;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    if (record.kind == RecordKind::Intent && record.oldValue) intentOld[record.id] = *record.oldValue;
    if (record.kind == RecordKind::Rollback && record.ref) rolledBack.insert(*record.ref);
    if (record.kind == RecordKind::Applied && record.knob && record.newValue) applied.push_back(&record);
  }

  std::vector<RollbackStep> steps;
  for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
    const JournalRecord& record = **it;
    if (rolledBack.contains(record.id)) continue;
    if (selection.mode == RollbackSelection::Mode::Last &&
        static_cast<std::int64_t>(steps.size()) >= selection.value) {
      break;
    }
    if (selection.mode == RollbackSelection::Mode::To && record.id <= selection.value) break;
    std::optional<std::int64_t> old = record.oldValue;
    if (!old && record.ref) {
      if (const auto found = intentOld.find(*record.ref); found != intentOld.end()) old = found->second;
    }
    const auto ref = *refOf(record);
    if (!old) {
      return Error{Errc::Malformed, "journal record #" + std::to_string(record.id) + " (applied " + describe(ref) +
                                        ") has no old value, so it cannot be undone; use --to " +
                                        std::to_string(record.id) + " to undo only the changes after it"};
    }
    steps.push_back({record.id, ref, *record.newValue, *old, record.time, record.reason});
  }
  return steps;
}

std::map<policy::KnobRef, LastWrite> lastWrites(const std::vector<JournalRecord>& records,
                                                const std::string& bootId) {
  std::map<policy::KnobRef, LastWrite> out;
  for (const auto& record : records) {
    if (record.bootId != bootId || !record.newValue) continue;
    if (record.kind != RecordKind::Applied && record.kind != RecordKind::Rollback) continue;
    if (const auto ref = refOf(record)) out[*ref] = {*record.newValue, record.id};
  }
  return out;
}

std::vector<JournalRecord> activeHoldRecords(const std::vector<JournalRecord>& records, const std::string& bootId,
                                             policy::TimePoint now) {
  std::vector<JournalRecord> holds;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    if (record.kind == RecordKind::Hold && record.until) {
      holds.push_back(record);
    } else if (record.kind == RecordKind::Resume) {
      const auto ref = refOf(record);
      std::erase_if(holds, [&](const JournalRecord& hold) {
        const auto holdRef = refOf(hold);
        return !ref || !holdRef || *holdRef == *ref;
      });
    }
  }
  std::erase_if(holds, [&](const JournalRecord& hold) { return *hold.until <= now; });
  return holds;
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
      // Unnamed: it lives only as long as some process holds it.
      auto found = sysfs::discoverNetns(root, {Mode::All, {}});
      if (!found) return found.error();
      for (const auto& netns : *found) {
        if (netns.name == name) return netns;
      }
      return Error{Errc::Missing, "netns " + name + " no longer exists (no process holds it)"};
    }
    auto found = sysfs::discoverNetns(root, {Mode::Named, {name}});
    if (!found) return found.error();
    return found->front();
  };
}

std::vector<JournalRecord> unfinishedIntents(const std::vector<JournalRecord>& records, const std::string& bootId) {
  std::set<std::int64_t> finished;
  for (const auto& record : records) {
    if (record.bootId != bootId || !record.ref) continue;
    if (record.kind == RecordKind::Applied || record.kind == RecordKind::Failed) finished.insert(*record.ref);
  }
  // A rollback's intent is finished by a Rollback record naming the same undone change.
  std::vector<JournalRecord> out;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    if (record.kind == RecordKind::Rollback && record.ref) {
      std::erase_if(out, [&](const JournalRecord& intent) { return intent.ref == record.ref; });
    }
    if (record.kind != RecordKind::Intent || !record.knob || !record.newValue || finished.contains(record.id)) continue;
    out.push_back(record);
  }
  return out;
}

int RollbackReport::exitCode() const {
  if (refused) return 3;
  if (!journalError.empty()) return 1;
  for (const auto& outcome : steps) {
    if (outcome.status != StepOutcome::Status::Restored && outcome.status != StepOutcome::Status::WouldRestore) {
      return 1;
    }
  }
  return 0;
}

RollbackReport executeRollback(const std::vector<RollbackStep>& steps, Journal& journal, sysfs::KnobStore& store,
                               const NetnsResolver& resolve, const RollbackOptions& options) {
  using Status = StepOutcome::Status;
  RollbackReport report;
  for (const auto& step : steps) report.steps.push_back({step, Status::NotRun, 0, 0, {}});
  if (steps.empty()) return report;

  // What each knob must hold now: what ctpilot last wrote.
  const auto written = lastWrites(journal.records(), options.bootId);
  const auto lastFor = [&](const RollbackStep& step) {
    const auto found = written.find(step.ref);
    return found != written.end() ? found->second : LastWrite{step.from, step.appliedId};
  };
  const auto unfinished = unfinishedIntents(journal.records(), options.bootId);
  // ctpilot's own values: what it last wrote, or what an intent newer than that was about to
  // write when the process died (the write may or may not have happened).
  const auto ours = [&](const RollbackStep& step, std::int64_t value) {
    const auto last = lastFor(step);
    if (value == last.value) return true;
    for (const auto& intent : unfinished) {
      if (intent.id > last.recordId && refOf(intent) == step.ref && intent.newValue == value) return true;
    }
    return false;
  };
  std::map<std::string, Result<sysfs::Netns>> namespaces;
  std::map<policy::KnobRef, StepOutcome> unusable;  // knobs whose namespace or value cannot be had

  // Check every knob before writing any: a rollback is refused whole, not half done. Only the
  // newest step of a knob meets its current value; older ones follow from the newer ones.
  std::map<policy::KnobRef, std::int64_t> next;  // what a knob holds once the newer steps ran
  for (auto& outcome : report.steps) {
    const auto& ref = outcome.step.ref;
    if (const auto found = next.find(ref); found != next.end()) {
      outcome.before = found->second;
    } else {
      auto netns = namespaces.find(ref.netns);
      if (netns == namespaces.end()) netns = namespaces.emplace(ref.netns, resolve(ref.netns)).first;
      if (!netns->second) {
        const auto& error = netns->second.error();
        unusable[ref] = {{}, error.code == Errc::Missing ? Status::NetnsGone : Status::Failed, 0, 0, error.what};
      } else if (const auto current = store.read(*netns->second, ref.knob); !current) {
        unusable[ref] = {{}, Status::Failed, 0, 0, current.error().what};
      } else {
        outcome.before = *current;
        const auto last = lastFor(outcome.step);
        if (!ours(outcome.step, *current)) report.conflicts.push_back({ref, *current, last.value, last.recordId});
      }
    }
    next[ref] = outcome.step.to;
    if (const auto found = unusable.find(ref); found != unusable.end()) {
      outcome.status = found->second.status;
      outcome.error = found->second.error;
    }
  }
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
  if (anyToRun && options.hold > policy::Duration::zero()) {
    // Placed before the first write: a running controller reads it on its next tick and leaves
    // every knob alone, so it cannot redo a change between our write and our last record.
    JournalRecord hold;
    hold.time = options.now;
    hold.bootId = options.bootId;
    hold.kind = RecordKind::Hold;
    hold.until = options.now + options.hold;
    hold.reason = "placed by " + options.command + " for " + policy::formatDuration(options.hold) +
                  "; lift with ctpilot resume";
    auto stored = journal.append(hold);
    if (!stored) {
      report.journalError = stored.error().what;
      return report;
    }
    report.hold = *stored;
  }

  std::map<policy::KnobRef, LastWrite> expected;  // after a step: what it restored
  std::set<policy::KnobRef> broken;  // a step of this knob failed: older ones would build on it
  for (auto& outcome : report.steps) {
    if (outcome.status != Status::NotRun) continue;
    const auto& step = outcome.step;
    const auto& ref = step.ref;
    if (broken.contains(ref)) {
      outcome.status = Status::Failed;
      outcome.error = "not attempted: an earlier step of " + describe(ref) + " failed";
      continue;
    }
    const auto& netns = *namespaces.at(ref.netns);
    const auto before = store.read(netns, ref.knob);
    if (!before) {
      outcome.status = Status::Failed;
      outcome.error = before.error().what;
      broken.insert(ref);
      continue;
    }
    outcome.before = *before;
    const auto last = expected.contains(ref) ? expected.at(ref) : lastFor(step);
    const bool unchanged = expected.contains(ref) ? *before == last.value : ours(step, *before);
    if (!unchanged && !options.force) {
      // Changed since the check (a running controller or an operator): do not overwrite it.
      report.conflicts.push_back({ref, *before, last.value, last.recordId});
      report.refused = true;
      broken.insert(ref);
      continue;
    }
    const std::string reason = "rollback of #" + std::to_string(step.appliedId);

    auto intent = knobRecord(RecordKind::Intent, options.now, options.bootId, ref, *before, step.to, reason);
    intent.ref = step.appliedId;
    auto intentStored = journal.append(intent);
    if (!intentStored) {
      report.journalError = intentStored.error().what;
      return report;
    }

    JournalRecord result = intent;
    const auto kept = store.write(netns, ref.knob, step.to);
    if (!kept) {
      outcome.status = Status::Failed;
      outcome.error = kept.error().what;
      broken.insert(ref);
      result.kind = RecordKind::Failed;
      result.ref = intentStored->id;
      result.error = kept.error().what;
    } else {
      outcome.kept = *kept;
      outcome.status = Status::Restored;
      if (*kept != step.to) {
        outcome.status = Status::Failed;
        outcome.error = "the kernel kept " + std::to_string(*kept) + " instead of " + std::to_string(step.to);
        broken.insert(ref);
      }
      result.kind = RecordKind::Rollback;
      result.newValue = *kept;
    }
    auto resultStored = journal.append(result);
    if (!resultStored) {
      report.journalError = resultStored.error().what;
      return report;
    }
    if (kept) expected[ref] = {*kept, resultStored->id};
  }
  return report;
}

}  // namespace ctpilot::controller
