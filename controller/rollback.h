// SPDX-License-Identifier: Apache-2.0
#pragma once
// Rollback: undo ctpilot's applied changes of the current boot, newest first, restoring the
// journaled old values. Planning is pure; execution goes through a Journal and a KnobStore, so
// tests run it on MemoryJournal and MemoryKnobStore.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "policy/observation.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "policy/unique_fd.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"

namespace ctpilot::controller {

/// Which applied changes of the current boot to undo (changes already rolled back never count).
struct RollbackSelection {
  enum class Mode { Last, To, All };
  Mode mode = Mode::All;
  std::int64_t value = 0;  // Last: how many changes; To: undo every change with id > value
};

/// One applied change to undo.
struct RollbackStep {
  std::int64_t appliedId = 0;  // the applied record undone
  policy::KnobRef ref;
  std::int64_t from = 0;     // what the change wrote (the applied record's new)
  std::int64_t to = 0;       // what it replaced (the applied record's old): restored
  policy::TimePoint time{};  // when the change was applied
  std::string reason;        // why it was applied
  bool intentOnly = false;   // an intent without outcome: the write may or may not have happened
};

/// Returns the steps that undo the selected changes of boot `bootId`, newest first: applied
/// changes, and intents without outcome (a crash between the write and its record: the write
/// may have happened, and writing the old value back is right either way). Records of other
/// boots are ignored (the kernel forgot them at reboot), and so are changes a Rollback record
/// already undid. Errc::Malformed when a selected change has no old value (neither in the
/// applied record nor in its intent); Errc::Busy when a selected applied record that names an
/// intent does not agree with it (missing, not an intent, not before it, a rollback's, another knob,
/// netns, old or new value, or an intent another outcome finished already).
Result<std::vector<RollbackStep>> planRollback(const std::vector<JournalRecord>& records, const std::string& bootId,
                                               const RollbackSelection& selection);

/// Maps a journal netns name ("init", a /run/netns name, "netns:<inode>") to the namespace;
/// Errc::Missing when it has vanished.
using NetnsResolver = std::function<Result<sysfs::Netns>(const std::string& name)>;

/// Returns the resolver of the real system under `root`: "init", /run/netns names and the
/// "netns:<inode>" names of unnamed namespaces (found through /proc/PID/ns/net). A name that is
/// none of these (say "../../proc/1/ns/net" from a damaged journal) is Errc::Malformed.
NetnsResolver systemNetnsResolver(const std::string& root);

/// How to roll back.
struct RollbackOptions {
  std::string bootId;                             // the current boot (/proc/sys/kernel/random/boot_id)
  policy::TimePoint now{};                        // journal time; a hold lasts until now + hold
  policy::Duration hold = std::chrono::hours(1);  // zero: place no hold
  bool force = false;                             // write even where someone else changed the value
  bool dryRun = false;                            // check and report only: no journal, no write
  std::string command = "rollback";               // how the user asked, for the hold's reason
};

/// A knob whose current value is not the one ctpilot last wrote.
struct RollbackConflict {
  policy::KnobRef ref;
  std::int64_t found = 0;
  std::int64_t expected = 0;
  std::int64_t expectedId = 0;  // the record that wrote `expected`
};

/// What happened to one step.
struct StepOutcome {
  enum class Status {
    Restored,      // written, read back equal to the old value, journaled
    WouldRestore,  // dry run: would be written
    NotRun,        // refused, or stopped before reaching it
    NetnsGone,     // its namespace has vanished: skipped
    Failed,        // the read, the write or the read-back failed; `error` says why
  };
  RollbackStep step;
  Status status = Status::NotRun;
  std::int64_t before = 0;  // value found before writing
  std::int64_t kept = 0;    // value the kernel kept
  std::string error;
};

/// The result of a rollback, for the command to print.
struct RollbackReport {
  std::vector<StepOutcome> steps;           // newest first, as planned
  std::vector<RollbackConflict> conflicts;  // knobs changed by someone else
  bool refused = false;                     // conflicts and no --force: nothing written
  std::optional<JournalRecord> hold;        // the Hold record placed
  std::string journalError;                 // the journal could not be written: stopped there
  /// Returns the exit code: 3 refused, 1 any step not restored or journal failure, else 0.
  int exitCode() const;
};

/// Checks that every affected knob still holds what ctpilot last wrote, or what an unfinished
/// intent newer than that was writing, or for an intent alone its old value (else refuses
/// unless `force`); a value outside the knob's valid range is never written, `force` or not.
/// Then places a hold (before the first write, so a running controller cannot redo a change in
/// between), and for each step journals an intent, writes the old value, reads it back and
/// journals a Rollback or Failed record. Nothing is written that was not journaled first; the
/// first journal failure stops everything. What ctpilot last wrote comes from
/// journal.records() (refresh it first).
RollbackReport executeRollback(const std::vector<RollbackStep>& steps, Journal& journal, sysfs::KnobStore& store,
                               const NetnsResolver& resolve, const RollbackOptions& options);

/// One rollback at a time per state directory: an exclusive flock on STATE_DIR/rollback.lock,
/// held until destroyed. Two rollbacks planned from the same journal would both find the other's
/// writes unexpected.
class RollbackLock {
 public:
  /// Takes the lock, waiting while another rollback holds it; `onWait` runs once before waiting.
  static Result<RollbackLock> acquire(const std::string& stateDir, const std::function<void()>& onWait);

 private:
  explicit RollbackLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the flock
};

}  // namespace ctpilot::controller
