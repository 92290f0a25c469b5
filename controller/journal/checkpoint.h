#pragma once
// STATE_DIR/journal.checkpoint: what the running controller knows of the journal (its
// Controller JournalView) as of a position in journal.jsonl, so that `run` starts by reading
// the checkpoint and only the records after it instead of the whole boot's journal. The
// journal stays the single source of truth: the checkpoint is checked against it on load
// (format, boot id, the journal file's inode, first record and the record ending at the
// position) and anything that does not match, or damage, falls back to reading the whole
// journal. Only `run` (the state lock holder) writes it, atomically (temp, fsync, rename).

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
inline constexpr int kCheckpointFormat = 1;
/// How much journal.jsonl grows between two checkpoints: reading this much costs ~30 ms.
inline constexpr std::int64_t kCheckpointEveryBytes = 1 << 20;

/// The controller's view of the journal as of `position` in journal.jsonl.
struct JournalCheckpoint {
  JournalPosition position;  ///< the journal up to here is folded into `view`
  JournalView view;          ///< a Controller view; its boot is the checkpoint's
};

/// Formats a checkpoint as the file's text: one JSON object (format, boot_id, journal position,
/// view) with a checksum of the rest, and a newline.
std::string checkpointText(const JournalCheckpoint& checkpoint);
/// Parses and checks a checkpoint file's text: Errc::Malformed saying what is wrong (format,
/// checksum, a field), never an exception, whatever the text.
Result<JournalCheckpoint> parseCheckpoint(const std::string& text);
/// Writes STATE_DIR/journal.checkpoint atomically (replaceStateFile: temp, fsync, rename, 0640).
Result<void> writeCheckpoint(const std::string& stateDir, const JournalCheckpoint& checkpoint);

/// The journal as the running controller starts from it.
struct ControllerJournal {
  std::unique_ptr<FileJournal> journal;  ///< records() holds the records after the checkpoint
  JournalView view;                      ///< as of the checkpoint; empty when read whole
  std::int64_t checkpointOffset = 0;     ///< the position the checkpoint used covers; 0: none used
  std::vector<std::string> warnings;     ///< a checkpoint that could not be used, and why
  std::vector<std::string> notes;        ///< a checkpoint of an earlier boot (expected after a reboot)
};

/// Opens the journal for `run` in boot `bootId`: from journal.checkpoint when it matches
/// journal.jsonl, else the whole journal (then a checkpoint that did not match is removed and
/// the reason is in `warnings`). Errors are those of FileJournal::open.
Result<ControllerJournal> openControllerJournal(const std::string& stateDir, const std::string& bootId);

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
