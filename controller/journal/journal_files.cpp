// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <string_view>
#include <utility>

#include "controller/journal/journal_view.h"
#include "controller/state_dir.h"
#include "policy/read_file.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller {
namespace {

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// Returns the offset just past the file's last newline: a last line without one is torn.
Result<off_t> completeEnd(int fd, off_t size, const std::string& path) {
  constexpr off_t kChunk = off_t{64} * 1024;
  for (off_t end = size; end > 0;) {
    const off_t from = std::max<off_t>(0, end - kChunk);
    auto chunk = readAt(fd, from, static_cast<std::size_t>(end - from), path);
    if (!chunk) return chunk.error();
    if (const auto nl = chunk->rfind('\n'); nl != std::string::npos) return from + static_cast<off_t>(nl) + 1;
    end = from;
  }
  return off_t{0};
}

// Gives a file's complete lines from the last to the first, reading 64 KiB at a time.
class BackwardLines {
 public:
  // `end`: just past the last newline to consider.
  BackwardLines(int fd, off_t end, std::string path) : fd_(fd), pos_(end), path_(std::move(path)) {
    if (end > 0) {
      pos_ = end - 1;  // drop the last newline: buf_ covers [pos_, lineEnd) of the next line
    } else {
      done_ = true;
    }
  }
  // Sets `line` (without newline) and `start` (its offset); false before the first line.
  Result<bool> next(std::string& line, off_t& start) {
    if (done_) return false;
    constexpr off_t kChunk = off_t{64} * 1024;
    for (;;) {
      if (const auto nl = buf_.rfind('\n'); nl != std::string::npos) {
        line = buf_.substr(nl + 1);
        start = pos_ + static_cast<off_t>(nl) + 1;
        buf_.resize(nl);
        return true;
      }
      if (pos_ == 0) {
        line = std::move(buf_);
        start = 0;
        done_ = true;
        return true;
      }
      const off_t from = std::max<off_t>(0, pos_ - kChunk);
      auto chunk = readAt(fd_, from, static_cast<std::size_t>(pos_ - from), path_);
      if (!chunk) return chunk.error();
      buf_ = *chunk + buf_;
      pos_ = from;
    }
  }

 private:
  int fd_;
  off_t pos_;  // file offset of buf_[0]
  std::string path_;
  std::string buf_;
  bool done_ = false;
};

// Opens STATE_DIR/`name` for reading as every state file is opened: no symlink followed, modes
// and owner checked (README Safety promise 12). An empty UniqueFd when the file does not exist.
Result<UniqueFd> openForRead(const std::string& stateDir, const std::string& name) {
  auto opened = openStateFile(stateDir, name, StateAccess::Read);
  if (!opened) {
    if (opened.error().code == Errc::Missing) return UniqueFd();
    return opened.error();
  }
  return std::move(opened->fd);
}

// Tells whether the journal's first record is of boot `bootId`: then all are (records are
// appended in time order, and every command journals its own boot), and nothing is to move.
Result<bool> startsWithBoot(int fd, off_t end, const std::string& bootId, const std::string& path) {
  constexpr off_t kChunk = off_t{64} * 1024;
  std::string head;
  for (off_t from = 0; from < end && head.find('\n') == std::string::npos; from += kChunk) {
    auto chunk = readAt(fd, from, static_cast<std::size_t>(std::min(kChunk, end - from)), path);
    if (!chunk) return chunk.error();
    head += *chunk;
  }
  const auto record = parseJournalLine(head.substr(0, head.find('\n')));
  return record && record->bootId == bootId;
}

// Returns where the current boot's records begin (0 when the journal holds no other boot's
// record before them): the lines are parsed from the end back to the newest of another boot,
// unless the first one is of this boot already (a long boot's journal is not read at all).
Result<off_t> currentBootStart(int fd, off_t end, const std::string& bootId, const std::string& path) {
  auto current = startsWithBoot(fd, end, bootId, path);
  if (!current) return current.error();
  if (*current) return off_t{0};
  BackwardLines lines(fd, end, path);
  std::string line;
  off_t start = 0;
  off_t boundary = end;
  for (;;) {
    auto more = lines.next(line, start);
    if (!more) return more.error();
    if (!*more) return off_t{0};
    if (blank(line)) continue;
    auto record = parseJournalLine(line);
    if (!record) return record.error();  // leave it to the journal's reader to name the line
    if (record->bootId != bootId) return boundary;
    boundary = start;
  }
}

// Returns the id of the last record in `text` (a journal file's contents); 0 when none.
std::int64_t lastId(const std::string& text) {
  std::size_t end = text.size();
  while (end > 0) {
    const auto nl = end >= 2 ? text.rfind('\n', end - 2) : std::string::npos;
    const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
    const std::string line = text.substr(begin, end - begin - (text[end - 1] == '\n' ? 1 : 0));
    if (!blank(line)) {
      const auto record = parseJournalLine(line);
      return record ? record->id : 0;
    }
    end = begin;
  }
  return 0;
}

// Drops the leading lines of `text` whose id is at most `upTo` (moved by a rotation that
// crashed before replacing the journal), then, beyond `maxBytes`, the oldest lines.
void trimFront(std::string& text, std::int64_t upTo, std::size_t maxBytes) {
  std::size_t begin = 0;
  while (begin < text.size() && upTo > 0) {
    const auto nl = text.find('\n', begin);
    const auto record = parseJournalLine(text.substr(begin, nl - begin));
    if (record && record->id > upTo) break;
    begin = nl == std::string::npos ? text.size() : nl + 1;
  }
  if (text.size() - begin > maxBytes) {
    const auto nl = text.find('\n', text.size() - maxBytes);
    begin = nl == std::string::npos ? text.size() : nl + 1;
  }
  text.erase(0, begin);
}

}  // namespace

Result<std::int64_t> currentBootOffset(int fd, const std::string& path, const std::string& bootId) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError(errno, "stat " + path);
  auto end = completeEnd(fd, st.st_size, path);
  if (!end) return end.error();
  auto boundary = currentBootStart(fd, *end, bootId, path);
  if (!boundary) return boundary.error();
  return static_cast<std::int64_t>(*boundary);
}

std::string journalPath(const std::string& stateDir) {
  return (std::filesystem::path(stateDir) / "journal.jsonl").string();
}

std::string rotatedJournalPath(const std::string& stateDir) {
  return (std::filesystem::path(stateDir) / "journal.jsonl.1").string();
}

Result<std::int64_t> rotateJournal(const std::string& stateDir, const std::string& bootId) {
  const auto path = journalPath(stateDir);
  auto journal = openForRead(stateDir, "journal.jsonl");
  if (!journal) return journal.error();
  if (!*journal) return std::int64_t{0};
  const UniqueFd fd = std::move(*journal);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errnoError(errno, "lock " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError(errno, "stat " + path);
  auto end = completeEnd(fd.get(), st.st_size, path);
  if (!end) return end.error();
  auto boundary = currentBootStart(fd.get(), *end, bootId, path);
  // A line that cannot be parsed is left for the journal's reader to name: no rotation then.
  if (!boundary || *boundary == 0) return std::int64_t{0};

  const auto maxBytes = static_cast<off_t>(kRotatedMaxBytes);
  auto moved = readAt(fd.get(), std::max<off_t>(0, *boundary - maxBytes),
                      static_cast<std::size_t>(std::min(*boundary, maxBytes)), path);
  if (!moved) return moved.error();
  const auto rotated = rotatedJournalPath(stateDir);
  std::string older;
  auto old = openForRead(stateDir, "journal.jsonl.1");
  if (!old) return old.error();
  if (*old) {
    struct stat oldSt {};
    if (::fstat(old->get(), &oldSt) != 0) return errnoError(errno, "stat " + rotated);
    auto existing = readAt(old->get(), 0, static_cast<std::size_t>(oldSt.st_size), rotated);
    if (!existing) return existing.error();
    older = std::move(*existing);
  }
  if (*boundary > maxBytes) moved->erase(0, std::min(moved->size(), moved->find('\n') + 1));  // a partial first line
  trimFront(*moved, lastId(older), moved->size());
  const auto lines = std::count(moved->begin(), moved->end(), '\n');
  std::string combined = older + *moved;
  trimFront(combined, 0, static_cast<std::size_t>(kRotatedMaxBytes));
  // Each file replaced whole (temp, fsync, rename, fsync of the directory), no symlink followed.
  if (auto written = replaceStateFile(stateDir, "journal.jsonl.1", combined, 0640); !written) return written.error();

  auto current = readAt(fd.get(), *boundary, static_cast<std::size_t>(st.st_size - *boundary), path);
  if (!current) return current.error();
  if (auto written = replaceStateFile(stateDir, "journal.jsonl", *current, st.st_mode & 0777); !written) {
    return written.error();
  }
  return static_cast<std::int64_t>(lines);
}

Result<std::vector<JournalRecord>> readJournalTail(const std::string& stateDir, std::int64_t limit, bool rotatedOnly,
                                                   const std::function<bool(const JournalRecord&)>& keep,
                                                   std::int64_t maxLines, bool* cut) {
  std::vector<JournalRecord> newestFirst;
  if (cut != nullptr) *cut = false;
  for (const auto& path : {journalPath(stateDir), rotatedJournalPath(stateDir)}) {
    if (rotatedOnly && path == journalPath(stateDir)) continue;
    auto opened = openForRead(stateDir, std::filesystem::path(path).filename().string());
    if (!opened) return opened.error();
    if (!*opened) continue;
    const UniqueFd fd = std::move(*opened);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errnoError(errno, "stat " + path);
    auto end = completeEnd(fd.get(), st.st_size, path);
    if (!end) return end.error();
    BackwardLines lines(fd.get(), *end, path);
    std::string line;
    off_t start = 0;
    std::int64_t fromEnd = 0;
    for (;;) {
      if (static_cast<std::int64_t>(newestFirst.size()) >= limit || (maxLines > 0 && fromEnd >= maxLines)) {
        if (cut != nullptr) *cut = true;
        break;
      }
      auto more = lines.next(line, start);
      if (!more) return more.error();
      if (!*more) break;
      ++fromEnd;
      if (blank(line)) continue;
      auto record = parseJournalLine(line);
      if (!record) {
        return Error{Errc::Malformed,
                     path + ": line " + std::to_string(fromEnd) + " from the end: " + record.error().what};
      }
      // A rotation cut short leaves records in both files: each once.
      if (!newestFirst.empty() && record->id >= newestFirst.back().id) continue;
      if (keep && !keep(*record)) continue;
      newestFirst.push_back(std::move(*record));
    }
  }
  return std::vector<JournalRecord>(newestFirst.rbegin(), newestFirst.rend());
}

Result<std::vector<JournalRecord>> readAllJournals(const std::string& stateDir, std::vector<std::string>& warnings) {
  auto older = readJournalFile(rotatedJournalPath(stateDir), &warnings);
  if (!older) return older.error();
  auto current = readJournalFile(journalPath(stateDir), &warnings);
  if (!current) return current.error();
  if (!current->empty()) {
    const auto first = current->front().id;
    std::erase_if(*older, [&](const JournalRecord& record) { return record.id >= first; });
  }
  older->insert(older->end(), std::make_move_iterator(current->begin()), std::make_move_iterator(current->end()));
  return std::move(*older);
}

Result<EarlierBootChanges> countEarlierBootChanges(const std::string& stateDir, const std::string& bootId,
                                                   std::int64_t beforeId) {
  EarlierBootChanges changes;
  // Read newest first, journal.jsonl then journal.jsonl.1: a record whose id is not below every
  // id read before it is a copy a rotation cut short left in both files.
  std::int64_t lowest = beforeId > 0 ? beforeId : std::numeric_limits<std::int64_t>::max();
  const auto count = [&](const JournalRecord& record) {
    if (record.id >= lowest) return false;
    lowest = record.id;
    if (record.kind == RecordKind::Applied && record.bootId != bootId) ++changes.count;
    return false;  // nothing kept: only counted
  };
  bool cut = false;
  auto read = readJournalTail(stateDir, 1, /*rotatedOnly=*/false, count, kEarlierBootScanLines, &cut);
  if (!read) return read.error();
  changes.complete = !cut;
  return changes;
}

}  // namespace ctpilot::controller
