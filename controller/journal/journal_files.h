// SPDX-License-Identifier: Apache-2.0
#pragma once
// The journal's files over time: STATE_DIR/journal.jsonl holds the records of the current boot
// (and of earlier boots until the next `run` starts); journal.jsonl.1 holds the records of
// earlier boots, at most kRotatedMaxBytes of the newest of them. `history` reads both.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "controller/journal/journal.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// The most journal.jsonl.1 keeps: older boots' oldest records are dropped beyond it.
constexpr std::int64_t kRotatedMaxBytes = 64LL * 1024 * 1024;

/// Returns STATE_DIR/journal.jsonl.
std::string journalPath(const std::string& stateDir);
/// Returns STATE_DIR/journal.jsonl.1 (earlier boots).
std::string rotatedJournalPath(const std::string& stateDir);

/// Moves the records of boots other than `bootId` at the front of the journal to
/// journal.jsonl.1 (appended to what it holds, kept within kRotatedMaxBytes), leaving the
/// current boot's records in journal.jsonl. Each file is replaced whole (write, fsync, rename),
/// .1 first: a crash in between leaves records in both, and the next rotation skips the ids
/// .1 has. Only the current boot's lines are parsed. The caller holds the state lock and the
/// rollback lock (no other writer). Returns how many lines moved.
Result<std::int64_t> rotateJournal(const std::string& stateDir, const std::string& bootId);

/// Returns where the records of boot `bootId` begin at the end of the open journal `fd` (`path`
/// for messages), considering its complete lines only: 0 when no record of another boot
/// precedes them (or the journal is empty), the end when the last record is of another boot.
/// Lines are parsed from the end back to the newest record of another boot, unless the first
/// record is of this boot already, so the cost is that of this boot's records, not the file's.
Result<std::int64_t> currentBootOffset(int fd, const std::string& path, const std::string& bootId);

/// Reads the newest `limit` records of the journal and, when it holds fewer, of
/// journal.jsonl.1, oldest first, reading the files backwards from their ends: only those lines
/// are parsed. A torn last line is skipped; a bad line met is Errc::Malformed naming its file.
/// `rotatedOnly` reads journal.jsonl.1 alone.
/// `keep`, when given, skips the records it refuses; `maxLines`, when above 0, stops after that
/// many lines read back from each file. `cut`, when given, tells whether `limit` or `maxLines`
/// stopped the reading before the start of the files.
Result<std::vector<JournalRecord>> readJournalTail(const std::string& stateDir, std::int64_t limit,
                                                   bool rotatedOnly = false,
                                                   const std::function<bool(const JournalRecord&)>& keep = {},
                                                   std::int64_t maxLines = 0, bool* cut = nullptr);

/// The Applied records of earlier boots, as `rollback` counts them to say how many changes the
/// kernel forgot at reboot.
struct EarlierBootChanges {
  std::int64_t count = 0;  ///< Applied records of other boots among the lines read
  bool complete = true;    ///< false: the count stopped at kEarlierBootScanLines of a file
};
/// How many lines of each journal file countEarlierBootChanges reads back at most, so that
/// `rollback` costs the same over a million records of earlier boots (README "Safety promises":
/// every file read is bounded).
inline constexpr std::int64_t kEarlierBootScanLines = 2000;
/// Counts the Applied records of boots other than `bootId` whose id is below `beforeId` (this
/// boot's first: a rotation cut short leaves copies; 0: any) in journal.jsonl and
/// journal.jsonl.1, reading each back from its end, at most kEarlierBootScanLines lines of
/// each; a record in both files counts once.
Result<EarlierBootChanges> countEarlierBootChanges(const std::string& stateDir, const std::string& bootId,
                                                   std::int64_t beforeId);

/// Reads journal.jsonl.1 and journal.jsonl, oldest first (see readJournalFile); a torn last
/// line is said in `warnings`.
Result<std::vector<JournalRecord>> readAllJournals(const std::string& stateDir, std::vector<std::string>& warnings);

}  // namespace ctpilot::controller
