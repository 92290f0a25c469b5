// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one home for every question asked of the journal: baselines, what ctpilot last wrote,
// unfinished intents, active holds, knobs changed by someone else and the changes rollback can
// undo. A JournalView folds records of one boot in, oldest first; the controller feeds it only
// the records that are new since its last tick, the commands feed it the whole file once.
// Records of other boots are ignored: the kernel forgot them.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/journal/journal.h"
#include "policy/observation.h"
#include "policy/policy.h"

namespace ctpilot::controller {

/// Returns the KnobRef a record is about; nullopt when it names no knob.
std::optional<policy::KnobRef> recordRef(const JournalRecord& record);

/// The value ctpilot last put in a knob and the record that says so.
struct LastWrite {
  std::int64_t value = 0;
  std::int64_t recordId = 0;
  std::int64_t offset = -1;  // where the record's line starts in journal.jsonl; -1 when unknown
};

/// One line of journal.jsonl: where it starts and the id of its record (a checkpoint names the
/// lines its view was folded from).
struct JournalLine {
  std::int64_t offset = -1;
  std::int64_t id = 0;
  auto operator<=>(const JournalLine&) const = default;
};

/// A change of this boot that rollback can undo: an Applied record not rolled back yet, or an
/// Intent record that no outcome followed (the process died between the write and the record,
/// so the write may have happened).
struct UndoableChange {
  std::int64_t id = 0;      // the applied record, or the intent alone
  bool intentOnly = false;  // no applied record: the write may or may not have happened
  policy::KnobRef ref;
  std::optional<std::int64_t> from;  // what was there before (old); nullopt when not journaled
  std::int64_t to = 0;               // what the change wrote (new)
  policy::TimePoint time{};
  std::string reason;
};

/// What a JournalView keeps.
enum class ViewScope {
  Everything,  ///< every applied and undoable change (rollback, status, resume, plan)
  /// What the running controller asks, in memory bounded by a day's changes rather than by the
  /// journal: no undoable changes (rollback reads the file), and of the applied changes only
  /// those within kChangeHorizon of the newest one plus each knob's newest. This is what the
  /// checkpoint (journal.checkpoint) stores.
  Controller,
};

/// How far back a Controller view keeps applied changes: the longest change_window a policy may
/// set (README policy reference), so historyAt() answers as a full view does.
inline constexpr policy::Duration kChangeHorizon = std::chrono::hours(24);

/// Everything the journal says about one boot, kept up to date record by record.
class JournalView {
 public:
  /// An empty view of boot `bootId`.
  explicit JournalView(std::string bootId, ViewScope scope = ViewScope::Everything);
  /// Returns what this view keeps.
  ViewScope scope() const { return scope_; }
  /// Folds `record` in; records must come oldest first (ids increasing). Other boots' records
  /// only count in lastId() and otherBootApplied().
  void add(const JournalRecord& record);
  /// Folds in every record of `records` with an id above lastId() (the ones not seen yet).
  void addNew(const std::vector<JournalRecord>& records);
  /// Returns the boot this view is about.
  const std::string& bootId() const { return bootId_; }
  /// Returns the newest record id folded in (any boot); 0 when none.
  std::int64_t lastId() const { return lastId_; }

  /// Returns KnobRef -> value of this boot's Baseline records: the first one wins, except that a
  /// later one with old != new (a value someone else wrote, adopted under
  /// [controller] on_external = adopt) replaces it.
  const std::map<policy::KnobRef, std::int64_t>& baselines() const { return baselines_; }
  /// Returns KnobRef -> what ctpilot last wrote: `new` of the newest Applied or Rollback record.
  const std::map<policy::KnobRef, LastWrite>& lastWrites() const { return lastWrites_; }
  /// Returns the Intent records no outcome finished yet, oldest first: an Applied or Failed
  /// record naming the intent (ref) finishes it, and a Rollback record finishes both the
  /// rollback's own intent (same ref) and the intent alone it undid (ref = the intent's id).
  std::vector<JournalRecord> unfinishedIntents() const;
  /// Returns the values ctpilot may have put in a knob: what it last wrote, and the `new` of
  /// every unfinished intent newer than that.
  std::vector<std::int64_t> ourValues(const policy::KnobRef& ref) const;
  /// Returns the Hold records in force at `now`: until > now and not lifted by a later Resume
  /// (a Resume without knob lifts every earlier hold, one naming a knob only the earlier holds
  /// on that knob: a hold on every knob stays).
  std::vector<JournalRecord> activeHoldRecords(policy::TimePoint now) const;
  /// Returns activeHoldRecords(now) as decide() wants them.
  std::vector<policy::Hold> activeHolds(policy::TimePoint now) const;
  /// Returns the knobs changed by someone else: refs whose newest External record has an id
  /// above `sinceId` (the last policy change) and no Applied, Rollback or Resume (without knob:
  /// every knob; with one: that knob) record after it.
  std::set<policy::KnobRef> externalKnobs(std::int64_t sinceId) const;
  /// Returns externalKnobs(sinceId), each with the id of its External record.
  std::map<policy::KnobRef, std::int64_t> externalRecordIds(std::int64_t sinceId) const;
  /// Returns the External records behind externalKnobs(sinceId), oldest first.
  std::vector<JournalRecord> externalRecords(std::int64_t sinceId) const;
  /// Returns the applied changes of this boot, oldest first (`from` = old, or the intent's old
  /// when the applied record lacks it).
  const std::vector<policy::PastChange>& appliedChanges() const { return applied_; }
  /// Returns the changes rollback can undo, oldest first (none in a Controller view).
  std::vector<UndoableChange> undoable() const;
  /// Returns the newest timed resizes (Applied nf_conntrack_buckets records whose observation
  /// carries write_us), of any boot, oldest first; at most kTimedResizes.
  const std::vector<JournalRecord>& timedResizes() const { return timedResizes_; }
  /// How many timed resizes the view keeps: enough to learn the cost per entry from.
  static constexpr std::size_t kTimedResizes = 16;
  /// Returns how many Applied records of other boots were seen (the kernel reset those).
  std::int64_t otherBootApplied() const { return otherBootApplied_; }
  /// Builds decide()'s History at `now` (calmSince left empty: the controller keeps it). Its
  /// changes are those applied within `window` before `now` plus the newest of each knob: all
  /// decide() looks at (max_changes within change_window, the last change for cooldowns), so a
  /// tick costs the same after a million changes.
  policy::History historyAt(policy::TimePoint now, std::int64_t externalSinceId,
                            policy::Duration window = policy::Duration::max()) const;

  /// Returns the journal lines every answer of this view comes from, ascending: each knob's
  /// baseline and last write, the unfinished intents, the holds, the standing External records,
  /// the applied changes kept (with the intent an applied record took its old value from) and the
  /// timed resizes. Folding exactly these records, oldest first, into an empty Controller view
  /// (then setting lastId() and otherBootApplied(): restoreCounts) gives the same answers: that is
  /// what journal.checkpoint stores, so its every claim is a line the journal can confirm.
  /// nullopt when a record came from elsewhere than journal.jsonl (its offset is unknown).
  /// `history` false: without the applied changes kept for decide() (what status and resume ask
  /// needs none of them); true: only those.
  std::optional<std::vector<JournalLine>> sourceLines(bool history) const;
  /// Sets lastId() and otherBootApplied() of a view rebuilt from sourceLines().
  void restoreCounts(std::int64_t lastId, std::int64_t otherBootApplied);

 private:
  /// Folds in an Applied record (it finishes its intent and becomes undoable).
  void addApplied(const JournalRecord& record, const std::optional<policy::KnobRef>& ref);
  /// Folds in a Baseline record (the first one of a knob wins, unless a later one adopted).
  void addBaseline(const JournalRecord& record, const std::optional<policy::KnobRef>& ref);
  /// Folds in an Intent record (unfinished until its outcome; ctpilot's own are undoable).
  void addIntent(const JournalRecord& record, const std::optional<policy::KnobRef>& ref);
  /// Folds in a Failed record (it finishes its intent; nothing to undo).
  void addFailed(const JournalRecord& record);
  /// Folds in a Rollback record (it finishes what it undid and is ctpilot's last write).
  void addRollback(const JournalRecord& record, const std::optional<policy::KnobRef>& ref);
  /// Folds in a Resume record (it lifts holds and hands externally changed knobs back).
  void addResume(const std::optional<policy::KnobRef>& ref);
  /// Controller view: drops the applied changes older than kChangeHorizon before the newest one,
  /// except each knob's newest.
  void pruneApplied();

  std::string bootId_;
  ViewScope scope_ = ViewScope::Everything;
  std::size_t keptApplied_ = 0;  // applied_.size() after the last prune
  std::int64_t lastId_ = 0;
  std::int64_t otherBootApplied_ = 0;
  std::vector<JournalRecord> timedResizes_;
  std::map<policy::KnobRef, std::int64_t> baselines_;
  std::map<policy::KnobRef, JournalLine> baselineLines_;  // ref -> the Baseline record of baselines_
  std::map<policy::KnobRef, LastWrite> lastWrites_;
  std::map<std::int64_t, JournalRecord> unfinished_;   // intent id -> intent
  std::vector<JournalRecord> holds_;                   // not lifted (maybe expired)
  std::map<policy::KnobRef, JournalRecord> external_;  // ref -> newest External record still standing
  std::vector<policy::PastChange> applied_;
  std::vector<std::vector<JournalLine>> appliedLines_;    // per applied_ entry: its record (and intent)
  std::map<policy::KnobRef, std::size_t> newestApplied_;  // ref -> index in applied_
  std::map<std::int64_t, UndoableChange> undoable_;       // id -> change not rolled back
};

/// Tells whether `ref` is covered by one of `holds`.
bool held(const std::vector<policy::Hold>& holds, const policy::KnobRef& ref);

/// Returns a view of boot `bootId` over `records`.
JournalView viewOf(const std::vector<JournalRecord>& records, const std::string& bootId);

/// Reads a journal file without creating, locking or changing it (plan, status): every record,
/// oldest first; a missing file is an empty journal. A torn last line (no newline at the end)
/// is skipped (and said in `warnings` when given); any other bad line is Errc::Malformed naming
/// its line number.
Result<std::vector<JournalRecord>> readJournalFile(const std::string& path,
                                                   std::vector<std::string>* warnings = nullptr);

}  // namespace ctpilot::controller
