// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal_view.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "controller/state_dir.h"

namespace ctpilot::controller {

std::optional<policy::KnobRef> recordRef(const JournalRecord& record) {
  if (!record.knob) return std::nullopt;
  return policy::KnobRef{record.netns.empty() ? std::string(policy::kInitNetns) : record.netns, *record.knob};
}

JournalView::JournalView(std::string bootId, ViewScope scope) : bootId_(std::move(bootId)), scope_(scope) {}

void JournalView::addNew(const std::vector<JournalRecord>& records) {
  // Records are sorted by id: find the first unseen one without looking at the others.
  auto first = std::upper_bound(records.begin(), records.end(), lastId_,
                                [](std::int64_t id, const JournalRecord& record) { return id < record.id; });
  for (; first != records.end(); ++first) add(*first);
}

void JournalView::add(const JournalRecord& record) {
  lastId_ = std::max(lastId_, record.id);
  // A resize's cost per entry is the machine's, whichever boot measured it.
  if (record.kind == RecordKind::Applied && record.knob == policy::Knob::Buckets && record.observation.is_object() &&
      record.observation.contains("write_us")) {
    timedResizes_.push_back(record);
    if (timedResizes_.size() > kTimedResizes) timedResizes_.erase(timedResizes_.begin());
  }
  if (record.bootId != bootId_) {
    if (record.kind == RecordKind::Applied) ++otherBootApplied_;
    return;
  }
  const auto ref = recordRef(record);
  switch (record.kind) {
    case RecordKind::Baseline: addBaseline(record, ref); break;
    case RecordKind::Intent: addIntent(record, ref); break;
    case RecordKind::Applied: addApplied(record, ref); break;
    case RecordKind::Failed: addFailed(record); break;
    case RecordKind::Rollback: addRollback(record, ref); break;
    case RecordKind::External:
      if (ref) external_[*ref] = record;
      break;
    case RecordKind::Hold:
      if (record.until) holds_.push_back(record);
      break;
    case RecordKind::Resume: addResume(ref); break;
    case RecordKind::Planned: break;
  }
}

void JournalView::addBaseline(const JournalRecord& record, const std::optional<policy::KnobRef>& ref) {
  if (!ref || !record.newValue) return;
  // A baseline is taken once (old = new); a later one with old != new adopted a value
  // someone else wrote ([controller] on_external = adopt) and replaces it.
  if (record.oldValue && *record.oldValue != *record.newValue) {
    baselines_[*ref] = *record.newValue;
    baselineLines_[*ref] = {record.offset, record.id};
  } else if (baselines_.emplace(*ref, *record.newValue).second) {
    baselineLines_[*ref] = {record.offset, record.id};
  }
}

void JournalView::addIntent(const JournalRecord& record, const std::optional<policy::KnobRef>& ref) {
  if (!ref || !record.newValue) return;
  unfinished_[record.id] = record;
  // ctpilot's own intent (a rollback's names the change it undoes): until its outcome is
  // journaled, the write may have happened, so rollback must be able to undo it.
  if (!record.ref && scope_ == ViewScope::Everything) {
    undoable_[record.id] = {record.id, true, *ref, record.oldValue, *record.newValue, record.time, record.reason};
  }
}

void JournalView::addFailed(const JournalRecord& record) {
  if (!record.ref) return;
  // The write did not happen: nothing to undo, unless it is a rollback's step that failed
  // (its intent names the change, which stays undoable).
  unfinished_.erase(*record.ref);
  if (const auto found = undoable_.find(*record.ref); found != undoable_.end() && found->second.intentOnly) {
    undoable_.erase(found);
  }
}

void JournalView::addRollback(const JournalRecord& record, const std::optional<policy::KnobRef>& ref) {
  if (record.ref) {
    const auto undone = *record.ref;
    std::erase_if(unfinished_, [&](const auto& kv) { return kv.second.ref == undone || kv.first == undone; });
    undoable_.erase(undone);
  }
  if (ref && record.newValue) {
    lastWrites_[*ref] = {*record.newValue, record.id, record.offset};
    external_.erase(*ref);
  }
}

void JournalView::addResume(const std::optional<policy::KnobRef>& ref) {
  std::erase_if(holds_, [&](const JournalRecord& hold) { return !ref || recordRef(hold) == ref; });
  // `ctpilot resume` also hands knobs changed by someone else back to ctpilot.
  if (ref) {
    external_.erase(*ref);
  } else {
    external_.clear();
  }
}

void JournalView::addApplied(const JournalRecord& record, const std::optional<policy::KnobRef>& ref) {
  std::optional<std::int64_t> from = record.oldValue;
  std::vector<JournalLine> lines{{record.offset, record.id}};
  if (record.ref) {
    if (const auto intent = unfinished_.find(*record.ref); intent != unfinished_.end()) {
      if (!from) {
        from = intent->second.oldValue;
        lines.insert(lines.begin(), {intent->second.offset, intent->second.id});
      }
      unfinished_.erase(intent);
    }
    undoable_.erase(*record.ref);
  }
  if (!ref || !record.newValue) return;
  lastWrites_[*ref] = {*record.newValue, record.id, record.offset};
  external_.erase(*ref);
  newestApplied_[*ref] = applied_.size();
  applied_.push_back({record.time, *ref, from.value_or(*record.newValue), *record.newValue});
  appliedLines_.push_back(std::move(lines));
  if (scope_ == ViewScope::Everything) {
    undoable_[record.id] = {record.id, false, *ref, from, *record.newValue, record.time, record.reason};
  } else if (applied_.size() >= 2 * keptApplied_ + 64) {
    pruneApplied();  // amortized: each change is looked at a bounded number of times
  }
}

void JournalView::pruneApplied() {
  // From the newest time, not the last change's: a clock stepped back must not drop the newer.
  policy::TimePoint newestTime = applied_.back().time;
  for (const auto& change : applied_) newestTime = std::max(newestTime, change.time);
  const auto cutoff = newestTime - kChangeHorizon;
  std::vector<policy::PastChange> kept;
  std::vector<std::vector<JournalLine>> keptLines;
  std::map<policy::KnobRef, std::size_t> newest;
  for (std::size_t i = 0; i < applied_.size(); ++i) {
    const auto& change = applied_[i];
    if (change.time <= cutoff && newestApplied_.at(change.ref) != i) continue;
    newest[change.ref] = kept.size();
    kept.push_back(change);
    keptLines.push_back(std::move(appliedLines_[i]));
  }
  applied_ = std::move(kept);
  appliedLines_ = std::move(keptLines);
  newestApplied_ = std::move(newest);
  keptApplied_ = applied_.size();
}

std::vector<JournalRecord> JournalView::unfinishedIntents() const {
  std::vector<JournalRecord> out;
  for (const auto& [id, intent] : unfinished_) out.push_back(intent);
  return out;
}

std::vector<std::int64_t> JournalView::ourValues(const policy::KnobRef& ref) const {
  std::vector<std::int64_t> out;
  std::int64_t since = 0;
  if (const auto last = lastWrites_.find(ref); last != lastWrites_.end()) {
    out.push_back(last->second.value);
    since = last->second.recordId;
  }
  for (const auto& [id, intent] : unfinished_) {
    if (id > since && recordRef(intent) == ref) out.push_back(*intent.newValue);
  }
  return out;
}

std::vector<JournalRecord> JournalView::activeHoldRecords(policy::TimePoint now) const {
  std::vector<JournalRecord> out;
  for (const auto& hold : holds_) {
    if (*hold.until > now) out.push_back(hold);
  }
  return out;
}

std::vector<policy::Hold> JournalView::activeHolds(policy::TimePoint now) const {
  std::vector<policy::Hold> out;
  for (const auto& hold : activeHoldRecords(now)) out.push_back({*hold.until, recordRef(hold)});
  return out;
}

std::map<policy::KnobRef, std::int64_t> JournalView::externalRecordIds(std::int64_t sinceId) const {
  std::map<policy::KnobRef, std::int64_t> out;
  for (const auto& [ref, record] : external_) {
    if (record.id > sinceId) out.emplace(ref, record.id);
  }
  return out;
}

std::vector<JournalRecord> JournalView::externalRecords(std::int64_t sinceId) const {
  std::vector<JournalRecord> out;
  for (const auto& [ref, record] : external_) {
    if (record.id > sinceId) out.push_back(record);
  }
  std::sort(out.begin(), out.end(), [](const JournalRecord& a, const JournalRecord& b) { return a.id < b.id; });
  return out;
}

std::set<policy::KnobRef> JournalView::externalKnobs(std::int64_t sinceId) const {
  std::set<policy::KnobRef> out;
  for (const auto& [ref, record] : external_) {
    if (record.id > sinceId) out.insert(ref);
  }
  return out;
}

std::optional<std::vector<JournalLine>> JournalView::sourceLines(bool history) const {
  std::vector<JournalLine> lines;
  if (history) {
    for (const auto& applied : appliedLines_) lines.insert(lines.end(), applied.begin(), applied.end());
  } else {
    for (const auto& [ref, line] : baselineLines_) lines.push_back(line);
    for (const auto& [ref, write] : lastWrites_) lines.push_back({write.offset, write.recordId});
    for (const auto& [id, intent] : unfinished_) lines.push_back({intent.offset, intent.id});
    for (const auto& hold : holds_) lines.push_back({hold.offset, hold.id});
    for (const auto& [ref, record] : external_) lines.push_back({record.offset, record.id});
    for (const auto& resize : timedResizes_) lines.push_back({resize.offset, resize.id});
  }
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  if (!lines.empty() && lines.front().offset < 0) return std::nullopt;
  return lines;
}

void JournalView::restoreCounts(std::int64_t lastId, std::int64_t otherBootApplied) {
  lastId_ = std::max(lastId_, lastId);
  otherBootApplied_ = otherBootApplied;
}

std::vector<UndoableChange> JournalView::undoable() const {
  std::vector<UndoableChange> out;
  for (const auto& [id, change] : undoable_) out.push_back(change);
  return out;
}

policy::History JournalView::historyAt(policy::TimePoint now, std::int64_t externalSinceId,
                                       policy::Duration window) const {
  policy::History history;
  // Newest first until one is older than the window (records are appended in time order).
  std::set<std::size_t> picked;
  const bool all = window == policy::Duration::max() ||
                   std::chrono::duration_cast<policy::Duration>(now.time_since_epoch()) < window;
  for (std::size_t i = applied_.size(); i > 0; --i) {
    if (!all && applied_[i - 1].time <= now - window) break;
    picked.insert(i - 1);
  }
  for (const auto& [ref, index] : newestApplied_) picked.insert(index);
  for (const auto index : picked) history.changes.push_back(applied_[index]);
  history.holds = activeHolds(now);
  history.external = externalKnobs(externalSinceId);
  return history;
}

bool held(const std::vector<policy::Hold>& holds, const policy::KnobRef& ref) {
  for (const auto& hold : holds) {
    if (!hold.ref || *hold.ref == ref) return true;
  }
  return false;
}

JournalView viewOf(const std::vector<JournalRecord>& records, const std::string& bootId) {
  JournalView view(bootId);
  for (const auto& record : records) view.add(record);
  return view;
}

Result<std::vector<JournalRecord>> readJournalFile(const std::string& path, std::vector<std::string>* warnings) {
  // No symlink followed, modes and owner checked (README Safety promise 12).
  const std::filesystem::path file(path);
  auto text = readStateFile(file.parent_path().string(), file.filename().string());
  if (!text) {
    if (text.error().code == Errc::Missing) return std::vector<JournalRecord>{};
    return text.error();
  }
  std::istringstream in(*text);
  std::vector<JournalRecord> records;
  std::int64_t lineNo = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineNo;
    // getline stops at the end of the file too: a last line without newline is a crash
    // mid-write (torn), not damage.
    const bool torn = in.eof();
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto record = parseJournalLine(line);
    if (record && !records.empty() && record->id <= records.back().id) {
      record = Error{Errc::Malformed, "id " + std::to_string(record->id) + " is not greater than the previous id " +
                                          std::to_string(records.back().id)};
    }
    if (!record) {
      if (torn) {
        if (warnings) {
          warnings->push_back(path + ":" + std::to_string(lineNo) + ": ignored a torn last line (" +
                              record.error().what + "; a crash while writing?)");
        }
        break;
      }
      return Error{Errc::Malformed, path + ":" + std::to_string(lineNo) + ": " + record.error().what};
    }
    records.push_back(std::move(record.value()));
  }
  return records;
}

}  // namespace ctpilot::controller
