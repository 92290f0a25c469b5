// SPDX-License-Identifier: Apache-2.0
#pragma once
// STATE_DIR/journal.checkpoint: where the running controller's view of the journal (its
// Controller JournalView) comes from, as of a position in journal.jsonl, so that `run`, `status`,
// `plan` and `resume` read the checkpoint, a few named lines and the records after the position
// instead of the whole boot's journal. The journal stays the single source of truth: the
// checkpoint claims nothing itself, it names the journal lines (offset and id) the view was folded
// from (JournalView::sourceLines), and loading reads those lines from journal.jsonl and folds them
// again. It is checked on load (format, checksum, boot id, the journal file's inode, first
// record, the record ending at the position, each named line being that record, and for each
// unfinished intent that no outcome follows it up to the position); anything that does not
// match falls back to reading the journal. Only `run` (the state lock holder) writes it,
// atomically (temp, fsync, rename).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// The checkpoint's file name in the state directory.
inline constexpr const char* kCheckpointName = "journal.checkpoint";
/// The checkpoint format this version writes and reads; another one is read as no checkpoint.
/// Format 1 stored the view's claims themselves, format 2 the journal lines they come from.
inline constexpr int kCheckpointFormat = 2;
/// How much journal.jsonl grows between two checkpoints: reading this much costs ~30 ms.
inline constexpr std::int64_t kCheckpointEveryBytes = 1 << 20;
/// How far before the checkpoint's position an unfinished intent may be: load reads the journal
/// from it to the position to check that no outcome followed. Farther: the checkpoint is not used.
inline constexpr std::int64_t kUnfinishedScanBytes = 8 << 20;

/// The controller's view of the journal as of `position` in journal.jsonl: the lines it was
/// folded from.
struct JournalCheckpoint {
  JournalPosition position;           ///< the journal up to here is folded into the view
  std::string bootId;                 ///< the view's boot
  std::int64_t otherBootApplied = 0;  ///< JournalView::otherBootApplied() (a count said by rollback only)
  std::vector<JournalLine> lines;     ///< JournalView::sourceLines(false): ascending, each before the position
  std::vector<JournalLine> history;   ///< sourceLines(true) not in `lines`: the applied changes decide() looks at
};

/// The checkpoint of `view` (a Controller view that has folded the journal up to `position`);
/// Errc::Malformed when the view holds a record read from elsewhere than journal.jsonl.
Result<JournalCheckpoint> checkpointOf(const JournalPosition& position, const JournalView& view);
/// Formats a checkpoint as the file's text: one JSON object (format, boot_id, journal position,
/// view lines) with a checksum of the rest, and a newline.
std::string checkpointText(const JournalCheckpoint& checkpoint);
/// Parses and checks a checkpoint file's text: Errc::Malformed saying what is wrong (format,
/// checksum, a field), never an exception, whatever the text.
Result<JournalCheckpoint> parseCheckpoint(const std::string& text);
/// Writes STATE_DIR/journal.checkpoint atomically (replaceStateFile: temp, fsync, rename, 0640).
Result<void> writeCheckpoint(const std::string& stateDir, const JournalCheckpoint& checkpoint);
/// Rebuilds the view `checkpoint` describes from journal.jsonl, open as `fd` (`path` for
/// messages): reads every line it names, checks that it starts a line before the position and
/// holds the record with that id, folds them oldest first, and reads the journal from the oldest
/// unfinished intent to the position to check that no outcome followed any (and that none is
/// left out). Errc::Malformed saying what does not match.
/// `history` false leaves out the applied changes kept for decide() (status, resume: a few lines
/// to read instead of a day of changes).
Result<JournalView> checkpointView(int fd, const std::string& path, const JournalCheckpoint& checkpoint,
                                   bool history = true);

/// The journal as the controller and the commands start from it.
struct ControllerJournal {
  std::unique_ptr<FileJournal>
      journal;       ///< records() holds the records after the checkpoint; null: no journal (read-only)
  JournalView view;  ///< as of the checkpoint; empty when read whole
  std::int64_t checkpointOffset = 0;  ///< the position the checkpoint used covers; 0: none used
  std::vector<std::string> warnings;  ///< a checkpoint that could not be used, and why
  std::vector<std::string> notes;     ///< a checkpoint of an earlier boot (expected after a reboot)
  /// Returns the view with the records after the checkpoint folded in: what the journal says.
  JournalView current() const;
};

/// How a command opens the journal through openControllerJournal.
enum class JournalUse {
  Run,       ///< `run` (holds the state lock): creates the journal, removes a checkpoint that does not match
  Append,    ///< `resume`: appends; nothing created or removed
  ReadOnly,  ///< `status`, `plan`: reads only; a missing journal is an empty one (journal null)
};

/// Opens the journal in boot `bootId`: from journal.checkpoint when it matches journal.jsonl
/// (checkpointView), else the journal (Run: whole; otherwise this boot's records only, read
/// back from the end: FileJournal::openCurrentBoot); the reason a checkpoint was not used is in
/// `warnings`. Every command that asks what the controller honours (holds, externals,
/// baselines) asks this view, so `run`, `status`, `plan` and `resume` answer alike.
/// Errors are those of FileJournal::open.
/// `history` false: from a checkpoint, without the applied changes decide() looks at (status,
/// resume); the view answers everything else alike.
Result<ControllerJournal> openControllerJournal(const std::string& stateDir, const std::string& bootId,
                                                JournalUse use = JournalUse::Run, bool history = true);

/// Writes a new checkpoint whenever the journal has grown kCheckpointEveryBytes past the last.
class Checkpointer {
 public:
  /// Checkpoints `journal` into `stateDir`; `coveredOffset`: where the checkpoint in use ends
  /// (0 when none).
  Checkpointer(std::string stateDir, const FileJournal& journal, std::int64_t coveredOffset);
  /// Writes a checkpoint of `view` when one is due and `view` has folded exactly the records the
  /// journal has read (view.lastId() is the journal position's last id). Returns whether it wrote.
  Result<bool> maybeWrite(const JournalView& view);

 private:
  std::string stateDir_;
  const FileJournal& journal_;
  std::int64_t coveredOffset_;
};

}  // namespace ctpilot::controller
