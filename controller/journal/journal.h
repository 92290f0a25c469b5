// SPDX-License-Identifier: Apache-2.0
#pragma once
// The journal: JSON Lines in STATE_DIR/journal.jsonl, append-only, fsync after each record.
// No change without a durable record first (intent), then applied or failed.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/knob.h"
#include "policy/observation.h"
#include "policy/result.h"

namespace ctpilot::controller {

enum class RecordKind {
  Baseline,  // value of a managed knob before ctpilot's first change this boot
  Intent,    // about to write: old -> new, reason, observation
  Applied,   // written and read back (new = what the kernel kept); ref = intent id
  Failed,    // write failed; ref = intent id; error says why
  External,  // someone else changed a knob ctpilot manages: old = what ctpilot expected
  Planned,   // dry-run: what would have been done
  Rollback,  // a rollback restored old values; ref = the applied record undone
  Hold,      // rollback placed a hold until `until`; knob/netns empty = all
  Resume,    // `ctpilot resume` lifted holds
};

/// Returns the journal name of `kind` ("baseline", "intent", ...).
const char* recordKindName(RecordKind kind);
/// Parses a journal kind name; nullopt when unknown.
std::optional<RecordKind> recordKindByName(const std::string& name);

/// One journal record (one JSON line).
struct JournalRecord {
  std::int64_t id = 0;       // assigned by append(), increasing
  policy::TimePoint time{};  // RFC 3339 UTC in the file
  std::string bootId;
  RecordKind kind = RecordKind::Intent;
  std::string netns;                       // "init" for global knobs
  std::optional<policy::Knob> knob;        // kernel name in the file
  std::optional<std::int64_t> oldValue;    // "old"
  std::optional<std::int64_t> newValue;    // "new"
  std::string reason;                      // `cause` in words
  nlohmann::json cause;                    // null when none: reason codes and numbers (causeJson)
  nlohmann::json observation;              // null when none
  std::optional<std::int64_t> ref;         // related record id
  std::optional<policy::TimePoint> until;  // Hold
  std::string error;                       // Failed
  /// Where its line starts in journal.jsonl (set by FileJournal when it reads or appends the
  /// record; -1 elsewhere): a checkpoint names the lines its claims come from. Not in the line.
  std::int64_t offset = -1;
};

/// Builds a record about one knob in one netns: the fields that intent, outcome, baseline,
/// planned and external records share.
JournalRecord knobRecord(RecordKind kind, policy::TimePoint time, const std::string& bootId, const policy::KnobRef& ref,
                         std::int64_t oldValue, std::int64_t newValue, std::string reason);

/// Builds the record of a change decide() asked for (intent, applied, planned): `reason` in
/// words and `cause` as data, both from the action's causes.
JournalRecord actionRecord(RecordKind kind, policy::TimePoint time, const std::string& bootId,
                           const policy::Action& action);

/// Converts decide()'s causes to the journal's `cause`: the first cause's "code" (snake_case),
/// "netns", "knob", "namespaces" and numbers by their keys, and the causes after it in "then",
/// each in the same shape (README "History and rollback"). Null when there are none.
nlohmann::json causeJson(const std::vector<policy::Cause>& causes);

/// Converts a record to its JSON object (the journal line and `history --json` element).
nlohmann::json toJson(const JournalRecord& record);
/// Parses a record from JSON; Errc::Malformed naming the bad field.
Result<JournalRecord> recordFromJson(const nlohmann::json& json);
/// Parses one journal line (without its newline) into a record: Errc::Malformed saying why for
/// anything else, never an exception: invalid JSON, numbers beyond 64 bits (1e400), nesting
/// deeper than 64 levels (checked before parsing, so no deep recursion), a bad field.
Result<JournalRecord> parseJournalLine(const std::string& line);
/// Parses JSON text that ctpilot wrote (a journal line, the checkpoint): Errc::Malformed for
/// invalid JSON, numbers beyond 64 bits or nesting deeper than `maxDepth` (checked before
/// parsing), never an exception.
Result<nlohmann::json> parseBoundedJson(const std::string& text, int maxDepth);
/// Formats a record as one journal line: keys in a fixed order, no trailing newline.
std::string toJsonLine(const JournalRecord& record);
/// Formats a time as RFC 3339 UTC with milliseconds: "2026-11-27T03:05:47.123Z".
std::string formatTime(policy::TimePoint time);
/// Parses an RFC 3339 time ("...Z" or "...+02:00", fraction optional); nullopt when malformed.
std::optional<policy::TimePoint> parseTime(const std::string& text);

/// Appends and reads journal records.
class Journal {
 public:
  virtual ~Journal() = default;
  /// Assigns the next id, appends `record` durably (fsync) and returns it as stored.
  /// On failure nothing is considered written.
  virtual Result<JournalRecord> append(JournalRecord record) = 0;
  /// Reads records appended by other processes since the last call (e.g. a rollback's hold).
  virtual Result<void> refresh() = 0;
  /// Returns the records known and not forgotten, oldest first.
  virtual const std::vector<JournalRecord>& records() const = 0;
  /// Lets the journal drop the records up to id `throughId` from memory (the caller folded them
  /// into its view; the file keeps them). MemoryJournal keeps every record.
  virtual void forget(std::int64_t throughId) { (void)throughId; }
};

/// Where a FileJournal stands in journal.jsonl: just past the last complete line read.
struct JournalPosition {
  std::int64_t offset = 0;   ///< bytes up to and including the newline of the last record read
  std::int64_t lines = 0;    ///< lines up to `offset` (for line numbers in messages)
  std::int64_t lastId = 0;   ///< id of the record whose line ends at `offset`; 0 when none
  std::int64_t firstId = 0;  ///< id of the file's first record; 0 when none
  std::uint64_t inode = 0;   ///< the file's inode (a rotation or a restore replaces the file)
  /// Positions are equal when every field is.
  bool operator==(const JournalPosition&) const = default;
};

/// The journal file. Appends take an flock on the file, so a `rollback` and a running
/// controller can both append; ids stay increasing.
class FileJournal final : public Journal {
 public:
  /// Opens (creating) STATE_DIR/journal.jsonl and reads it. A torn last line is ignored and
  /// reported in warnings(); any other bad line is Errc::Malformed naming its line number.
  static Result<std::unique_ptr<FileJournal>> open(const std::string& stateDir);
  /// Opens STATE_DIR/journal.jsonl without creating anything (Errc::Missing when it is absent),
  /// for writing when we may, and reads the records of boot `bootId` only: those after the newest
  /// record of another boot (journal_files.h currentBootOffset). What rollback and resume read
  /// costs this boot's records, not the earlier boots' that `run` has not moved aside yet.
  /// Line numbers in messages are then byte offsets ("journal.jsonl:@OFFSET").
  static Result<std::unique_ptr<FileJournal>> openCurrentBoot(const std::string& stateDir, const std::string& bootId,
                                                              bool readOnly = false);
  /// Opens STATE_DIR/journal.jsonl and reads only the records after `from` (a checkpoint's
  /// position), after checking that the file is still the one `from` describes: same inode,
  /// first record `from.firstId`, and the line ending at `from.offset` is record `from.lastId`.
  /// Errc::Malformed saying what differs otherwise (read the whole journal then).
  /// `readOnly`: open without creating anything, never for writing (Errc::Missing when absent).
  static Result<std::unique_ptr<FileJournal>> openAfter(const std::string& stateDir, const JournalPosition& from,
                                                        bool readOnly = false);
  ~FileJournal() override;
  FileJournal(const FileJournal&) = delete;
  FileJournal& operator=(const FileJournal&) = delete;
  Result<JournalRecord> append(JournalRecord record) override;
  Result<void> refresh() override;
  /// Returns the records read (after the position opened from) or appended and not forgotten.
  const std::vector<JournalRecord>& records() const override;
  /// Drops the records up to id `throughId` from memory.
  void forget(std::int64_t throughId) override;
  /// Returns where the journal stands after the records read or appended so far.
  JournalPosition position() const;
  /// Returns warnings found while reading (torn last line).
  const std::vector<std::string>& warnings() const;

 private:
  FileJournal();
  struct State;
  std::unique_ptr<State> state_;
};

/// A journal in memory (tests, simulate, plan). `failAppends` makes every append fail with
/// Errc::Io. A record whose id is above the last one keeps it (plan loads the file's records,
/// whose refs name ids); any other gets the next id.
class MemoryJournal final : public Journal {
 public:
  Result<JournalRecord> append(JournalRecord record) override;
  Result<void> refresh() override { return {}; }
  const std::vector<JournalRecord>& records() const override { return records_; }
  bool failAppends = false;
  /// Ids continue after this one (plan: after the file journal's records its view folded).
  std::int64_t idsAfter = 0;

 private:
  std::vector<JournalRecord> records_;
};

}  // namespace ctpilot::controller
