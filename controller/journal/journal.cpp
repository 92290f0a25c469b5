// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal.h"

#include "controller/journal/journal_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "controller/state_dir.h"
#include "policy/read_file.h"
#include "policy/reason.h"
#include "policy/unique_fd.h"
namespace ctpilot::controller {
namespace {

using Json = nlohmann::json;

// Years a journal time may name: system_clock's 64-bit nanoseconds cover 1677..2262.
constexpr int kFirstYear = 1970;
constexpr int kLastYear = 2200;
using OrderedJson = nlohmann::ordered_json;

constexpr std::array<std::pair<RecordKind, const char*>, 9> kKindNames{{
    {RecordKind::Baseline, "baseline"},
    {RecordKind::Intent, "intent"},
    {RecordKind::Applied, "applied"},
    {RecordKind::Failed, "failed"},
    {RecordKind::External, "external"},
    {RecordKind::Planned, "planned"},
    {RecordKind::Rollback, "rollback"},
    {RecordKind::Hold, "hold"},
    {RecordKind::Resume, "resume"},
}};

// One builder for both JSON flavours: the file wants a fixed key order (ordered_json), the
// interface hands out nlohmann::json. A field without a value is omitted, never null.
template <class J>
J buildJson(const JournalRecord& record) {
  J out = J::object();
  out["id"] = record.id;
  out["time"] = formatTime(record.time);
  out["boot_id"] = record.bootId;
  out["kind"] = recordKindName(record.kind);
  if (!record.netns.empty()) out["netns"] = record.netns;
  if (record.knob) out["knob"] = std::string(policy::kernelName(*record.knob));
  if (record.oldValue) out["old"] = *record.oldValue;
  if (record.newValue) out["new"] = *record.newValue;
  if (!record.reason.empty()) out["reason"] = record.reason;
  if (record.ref) out["ref"] = *record.ref;
  if (record.until) out["until"] = formatTime(*record.until);
  if (!record.error.empty()) out["error"] = record.error;
  if (!record.cause.is_null()) out["cause"] = J(record.cause);
  if (!record.observation.is_null()) out["observation"] = J(record.observation);
  return out;
}

Error malformedField(const std::string& field, const std::string& what) {
  return Error{Errc::Malformed, "field '" + field + "': " + what};
}

// Reads an optional integer field; null counts as absent.
Result<std::optional<std::int64_t>> optionalInt(const Json& json, const char* field) {
  const auto found = json.find(field);
  if (found == json.end() || found->is_null()) return std::optional<std::int64_t>{};
  if (!found->is_number_integer()) return malformedField(field, "expected an integer, found " + found->dump());
  if (found->is_number_unsigned() &&
      found->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return malformedField(field, "integer out of range: " + found->dump());
  }
  return std::optional<std::int64_t>{found->get<std::int64_t>()};
}

// Reads an optional string field; null counts as absent (empty).
Result<std::string> optionalString(const Json& json, const char* field) {
  const auto found = json.find(field);
  if (found == json.end() || found->is_null()) return std::string{};
  if (!found->is_string()) return malformedField(field, "expected a string, found " + found->dump());
  return found->get<std::string>();
}

Result<std::optional<policy::TimePoint>> optionalTime(const Json& json, const char* field) {
  auto text = optionalString(json, field);
  if (!text) return text.error();
  if (text->empty()) return std::optional<policy::TimePoint>{};
  const auto parsed = parseTime(*text);
  if (!parsed) {
    return malformedField(field, "not an RFC 3339 time between " + std::to_string(kFirstYear) + " and " +
                                     std::to_string(kLastYear) + ": \"" + *text + "\"");
  }
  return std::optional<policy::TimePoint>{*parsed};
}

// Parses exactly `count` decimal digits at text[pos...].
bool digits(const std::string& text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

}  // namespace

const char* recordKindName(RecordKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "intent";
}

std::optional<RecordKind> recordKindByName(const std::string& name) {
  for (const auto& [k, n] : kKindNames) {
    if (name == n) return k;
  }
  return std::nullopt;
}

std::string formatTime(policy::TimePoint time) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                     static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
}

std::optional<policy::TimePoint> parseTime(const std::string& text) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(text, 0, 4, y) || text.size() < 20 || text[4] != '-' || !digits(text, 5, 2, mo) || text[7] != '-' ||
      !digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != 't') || !digits(text, 11, 2, h) || text[13] != ':' ||
      !digits(text, 14, 2, mi) || text[16] != ':' || !digits(text, 17, 2, s)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // The clock counts nanoseconds since 1970 in 64 bits: beyond these years it would wrap.
  if (y < kFirstYear || y > kLastYear) return std::nullopt;
  std::size_t pos = 19;
  nanoseconds fraction{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t ns = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 9) ns = ns * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (std::size_t n = pos - start; n < 9; ++n) ns *= 10;
    fraction = nanoseconds{ns};
  }
  minutes offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(text, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = hours{oh} + minutes{om};
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const auto local = sys_days{ymd} + hours{h} + minutes{mi} + seconds{s} + fraction;
  return time_point_cast<policy::Clock::duration>(local - offset);
}

nlohmann::json toJson(const JournalRecord& record) { return buildJson<Json>(record); }

namespace {

// Deeper JSON is no journal record: refused before nlohmann's recursive parser sees it.
constexpr int kMaxDepth = 64;

// Tells whether `line` nests arrays and objects deeper than `maxDepth` (brackets inside strings
// do not count).
bool tooDeep(const std::string& line, int maxDepth) {
  int depth = 0;
  bool inString = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > maxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the tag helps nobody.
std::string parseMessage(const std::string& what) {
  const auto close = what.find("] ");
  return close == std::string::npos ? what : what.substr(close + 2);
}

}  // namespace

Result<nlohmann::json> parseBoundedJson(const std::string& text, int maxDepth) {
  if (tooDeep(text, maxDepth))
    return Error{Errc::Malformed, "nested deeper than " + std::to_string(maxDepth) + " levels"};
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for numbers no double holds (1e400).
    return Error{Errc::Malformed, "invalid JSON: " + parseMessage(e.what())};
  }
}

Result<JournalRecord> parseJournalLine(const std::string& line) {
  auto json = parseBoundedJson(line, kMaxDepth);
  if (!json) return json.error();
  return recordFromJson(*json);
}

std::string toJsonLine(const JournalRecord& record) {
  // replace: a reason with invalid UTF-8 must not make the journal unwritable.
  return buildJson<OrderedJson>(record).dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

// Stores a field read by optionalInt/optionalString/optionalTime in `out`; returns its error.
template <typename T>
std::optional<Error> store(Result<T> field, T& out) {
  if (!field) return field.error();
  out = std::move(*field);
  return std::nullopt;
}

// Reads the fields every record has: id, time and kind.
std::optional<Error> readRequiredFields(const nlohmann::json& json, JournalRecord& record) {
  auto id = optionalInt(json, "id");
  if (!id) return id.error();
  if (!*id) return Error{Errc::Malformed, "missing field 'id'"};
  if (**id < 1) return malformedField("id", "must be at least 1, found " + std::to_string(**id));
  record.id = **id;

  auto time = optionalTime(json, "time");
  if (!time) return time.error();
  if (!*time) return Error{Errc::Malformed, "missing field 'time'"};
  record.time = **time;

  auto kind = optionalString(json, "kind");
  if (!kind) return kind.error();
  if (kind->empty()) return Error{Errc::Malformed, "missing field 'kind'"};
  const auto parsedKind = recordKindByName(*kind);
  if (!parsedKind) {
    return malformedField("kind", "unknown kind \"" + *kind +
                                      "\" (expected baseline, intent, applied, failed, external, planned, "
                                      "rollback, hold or resume)");
  }
  record.kind = *parsedKind;
  return std::nullopt;
}

// Reads the fields a record may have: where, which knob, values, links and words.
std::optional<Error> readOptionalFields(const nlohmann::json& json, JournalRecord& record) {
  if (auto error = store(optionalString(json, "boot_id"), record.bootId)) return error;
  if (auto error = store(optionalString(json, "netns"), record.netns)) return error;
  std::string knob;
  if (auto error = store(optionalString(json, "knob"), knob)) return error;
  if (!knob.empty()) {
    record.knob = policy::knobByName(knob);
    if (!record.knob) return malformedField("knob", "unknown knob \"" + knob + "\"");
  }
  if (auto error = store(optionalInt(json, "old"), record.oldValue)) return error;
  if (auto error = store(optionalInt(json, "new"), record.newValue)) return error;
  if (auto error = store(optionalInt(json, "ref"), record.ref)) return error;
  if (auto error = store(optionalString(json, "reason"), record.reason)) return error;
  if (auto error = store(optionalTime(json, "until"), record.until)) return error;
  if (auto error = store(optionalString(json, "error"), record.error)) return error;
  return std::nullopt;
}

}  // namespace

Result<JournalRecord> recordFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return Error{Errc::Malformed, "expected a JSON object, found " + json.dump()};
  JournalRecord record;
  if (auto error = readRequiredFields(json, record)) return *error;
  if (auto error = readOptionalFields(json, record)) return *error;
  // `cause` is data for other programs; ctpilot reads it back only to keep it (old records have none).
  if (const auto found = json.find("cause"); found != json.end()) record.cause = *found;
  if (const auto found = json.find("observation"); found != json.end()) record.observation = *found;
  return record;
}

namespace {

// What FileJournal knows about its file.
struct JournalFile {
  std::string dir;
  std::string path;
  UniqueFd fd;
  bool writable = false;
  off_t offset = 0;          // end of the last complete, valid line read
  std::int64_t lines = 0;    // lines up to `offset`, for line numbers
  std::int64_t lastId = 0;   // id of the last record up to `offset`
  std::int64_t firstId = 0;  // id of the file's first record
  std::uint64_t inode = 0;
  bool linesKnown = true;   // false when opened mid-file (openCurrentBoot): messages name offsets
  off_t warnedTornAt = -1;  // a torn tail already reported (refresh runs every tick)
  std::vector<JournalRecord> records;
  std::vector<std::string> warnings;
  std::int64_t rotatedLastId = 0;  // the newest id in journal.jsonl.1: ids continue after it
};

// Holds an flock for one scope; flock(2) locks belong to the open file description, so two
// FileJournal objects on one file exclude each other even inside one process.
class FileLock {
 public:
  static Result<FileLock> take(int fd, int operation, const std::string& path) {
    while (::flock(fd, operation) != 0) {
      if (errno != EINTR) return errnoError(errno, "lock " + path);
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// "PATH:LINE" for the line after state.offset numbered `lineNo`; "PATH:@OFFSET" (its first byte)
// when the journal was opened mid-file and line numbers are unknown.
std::string lineName(const JournalFile& state, std::int64_t lineNo, off_t offset) {
  return state.path + ":" + (state.linesKnown ? std::to_string(lineNo) : "@" + std::to_string(offset));
}

std::string excerpt(const std::string& text) {
  constexpr std::size_t kMax = 60;
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}

// Returns the bytes appended after state.offset.
Result<std::string> readAppended(const JournalFile& state) {
  struct stat st {};
  if (::fstat(state.fd.get(), &st) != 0) return errnoError(errno, "stat " + state.path);
  if (st.st_size < state.offset) {
    return Error{Errc::Malformed, state.path + ": shrank from " + std::to_string(state.offset) + " to " +
                                      std::to_string(st.st_size) +
                                      " bytes while open; the journal is append-only, restore it from a backup"};
  }
  return readAt(state.fd.get(), state.offset, static_cast<std::size_t>(st.st_size - state.offset), state.path);
}

// A last line without its newline is a crash mid-write (torn): ignored with a warning (once),
// and cut away when `repair` (append holds LOCK_EX then) so the next record starts cleanly.
Result<void> tornTail(JournalFile& state, bool repair, const std::string& line) {
  const std::string where = lineName(state, state.lines + 1, state.offset);
  const std::string why = " a torn last line (no newline at the end; a crash while writing?): " + excerpt(line);
  if (repair) {
    if (::ftruncate(state.fd.get(), state.offset) != 0)
      return errnoError(errno, "truncate torn last line of " + state.path);
    state.warnings.push_back(where + ": removed" + why);
    state.warnedTornAt = -1;
  } else if (state.warnedTornAt != state.offset) {
    state.warnings.push_back(where + ": ignored" + why);
    state.warnedTornAt = state.offset;
  }
  return {};
}

// Reads every complete line after state.offset. Only a last line without newline is torn; a
// whole line that fails (a kind from a newer version, 1e400, ...) was written on purpose: it is
// an error naming its line, never cut away, and its id never reused.
Result<void> readNew(JournalFile& state, bool repair) {
  auto data = readAppended(state);
  if (!data) return data.error();
  std::size_t pos = 0;
  while (pos < data->size()) {
    const auto newline = data->find('\n', pos);
    if (newline == std::string::npos) return tornTail(state, repair, data->substr(pos));
    const std::string line = data->substr(pos, newline - pos);
    const std::int64_t lineNo = state.lines + 1;
    if (!blank(line)) {
      auto record = parseJournalLine(line);
      if (record && record->id <= state.lastId) {
        record = Error{Errc::Malformed, "id " + std::to_string(record->id) + " is not greater than the previous id " +
                                            std::to_string(state.lastId)};
      }
      if (!record) {
        return Error{Errc::Malformed, lineName(state, lineNo, state.offset) + ": " + record.error().what +
                                          "; only a torn last line (no newline) is tolerated: fix or remove this line"};
      }
      state.lastId = record->id;
      if (state.firstId == 0) state.firstId = record->id;
      record->offset = static_cast<std::int64_t>(state.offset);
      state.records.push_back(std::move(*record));
    }
    state.offset += static_cast<off_t>(newline + 1 - pos);
    state.lines = lineNo;
    pos = newline + 1;
  }
  return {};
}

}  // namespace

struct FileJournal::State {
  JournalFile file;
};

FileJournal::FileJournal() : state_(std::make_unique<State>()) {}

FileJournal::~FileJournal() = default;

namespace {

// Opens journal.jsonl as every state file is opened: no symlink followed, modes and owner
// checked (README Safety promise 12); a journal we may not write is opened read-only: reading
// history needs no write access, and append() says so if it is ever tried.
Result<void> openFile(JournalFile& state, const std::string& stateDir, bool readOnly = false) {
  state.dir = stateDir;
  state.path = journalPath(stateDir);
  auto opened = openStateFile(stateDir, "journal.jsonl", readOnly ? StateAccess::Read : StateAccess::AppendOrRead);
  if (!opened) return opened.error();
  state.fd = std::move(opened->fd);
  state.writable = opened->writable;
  struct stat st {};
  if (::fstat(state.fd.get(), &st) != 0) return errnoError(errno, "stat " + state.path);
  state.inode = st.st_ino;
  return {};
}

// Reads the rest of the journal, and the newest id of journal.jsonl.1: earlier boots moved there
// keep their ids, and new records never reuse one.
Result<void> readRest(JournalFile& state) {
  if (auto read = readNew(state, /*repair=*/false); !read) return read.error();
  auto rotated = readJournalTail(state.dir, 1, /*rotatedOnly=*/true);
  if (!rotated) return rotated.error();
  if (!rotated->empty()) state.rotatedLastId = rotated->back().id;
  return {};
}

// Reads [from, to) of the journal, all of it: a journal that ends sooner was cut while open.
Result<std::string> readSpan(const JournalFile& state, off_t from, off_t to) {
  const auto length = static_cast<std::size_t>(to - from);
  auto data = readAt(state.fd.get(), from, length, state.path);
  if (data && data->size() != length) {
    return Error{Errc::Malformed,
                 state.path + ": shrank while open; the journal is append-only, restore it from a backup"};
  }
  return data;
}

// Returns the id of the record on the line [start, end) of the journal (end: its newline).
Result<std::int64_t> idOfLine(const JournalFile& state, off_t start, off_t end) {
  auto line = readSpan(state, start, end);
  if (!line) return line.error();
  auto record = parseJournalLine(*line);
  if (!record) return record.error();
  return record->id;
}

// Returns where the line ending at `end` (just past its newline) begins.
Result<off_t> lineStart(const JournalFile& state, off_t end) {
  constexpr off_t kChunk = off_t{64} * 1024;
  for (off_t to = end - 1; to > 0;) {
    const off_t from = std::max<off_t>(0, to - kChunk);
    auto chunk = readSpan(state, from, to);
    if (!chunk) return chunk.error();
    if (const auto nl = chunk->rfind('\n'); nl != std::string::npos) return from + static_cast<off_t>(nl) + 1;
    to = from;
  }
  return off_t{0};
}

// Returns where the line beginning at `start` ends (just past its newline); `limit` when none.
Result<off_t> lineEnd(const JournalFile& state, off_t start, off_t limit) {
  constexpr off_t kChunk = off_t{64} * 1024;
  for (off_t from = start; from < limit;) {
    const off_t to = std::min(limit, from + kChunk);
    auto chunk = readSpan(state, from, to);
    if (!chunk) return chunk.error();
    if (const auto nl = chunk->find('\n'); nl != std::string::npos) return from + static_cast<off_t>(nl) + 1;
    from = to;
  }
  return limit;
}

// Checks that the journal is still the file `from` describes (see FileJournal::openAfter).
Result<void> checkPosition(const JournalFile& state, const JournalPosition& from) {
  const auto differs = [&](const std::string& what) { return Error{Errc::Malformed, state.path + ": " + what}; };
  struct stat st {};
  if (::fstat(state.fd.get(), &st) != 0) return errnoError(errno, "stat " + state.path);
  if (st.st_ino != from.inode) return differs("another file than the checkpoint's (inode changed)");
  if (from.offset <= 0 || from.offset > st.st_size || from.lastId < 1 || from.firstId < 1) {
    return differs("shorter than the checkpoint's position " + std::to_string(from.offset));
  }
  auto start = lineStart(state, static_cast<off_t>(from.offset));
  if (!start) return start.error();
  auto last = idOfLine(state, *start, static_cast<off_t>(from.offset));
  if (!last || *last != from.lastId) {
    return differs("the line ending at byte " + std::to_string(from.offset) + " is not record " +
                   std::to_string(from.lastId));
  }
  auto firstEnd = lineEnd(state, 0, static_cast<off_t>(from.offset));
  if (!firstEnd) return firstEnd.error();
  auto first = idOfLine(state, 0, *firstEnd);
  if (!first || *first != from.firstId) return differs("its first line is not record " + std::to_string(from.firstId));
  return {};
}

}  // namespace

Result<std::unique_ptr<FileJournal>> FileJournal::open(const std::string& stateDir) {
  std::unique_ptr<FileJournal> journal(new FileJournal());
  JournalFile& state = journal->state_->file;
  if (auto opened = openFile(state, stateDir); !opened) return opened.error();
  auto lock = FileLock::take(state.fd.get(), LOCK_SH, state.path);
  if (!lock) return lock.error();
  if (auto read = readRest(state); !read) return read.error();
  return journal;
}

Result<std::unique_ptr<FileJournal>> FileJournal::openCurrentBoot(const std::string& stateDir,
                                                                  const std::string& bootId, bool readOnly) {
  if (!readOnly) {
    // Appending must not create the journal: a command that finds none has nothing to read.
    auto exists = stateFileExists(stateDir, "journal.jsonl");
    if (!exists) return exists.error();
    if (!*exists) return Error{Errc::Missing, journalPath(stateDir) + ": no journal"};
  }
  std::unique_ptr<FileJournal> journal(new FileJournal());
  JournalFile& state = journal->state_->file;
  if (auto opened = openFile(state, stateDir, readOnly); !opened) return opened.error();
  auto lock = FileLock::take(state.fd.get(), LOCK_SH, state.path);
  if (!lock) return lock.error();
  auto boundary = currentBootOffset(state.fd.get(), state.path, bootId);
  if (!boundary && boundary.error().code != Errc::Malformed) return boundary.error();
  // A line that cannot be parsed on the way back: read from the start, which names its line.
  if (boundary && *boundary > 0) {
    // Continue after the newest record of another boot, as if it had just been read.
    auto start = lineStart(state, static_cast<off_t>(*boundary));
    if (!start) return start.error();
    auto last = idOfLine(state, *start, static_cast<off_t>(*boundary));
    if (!last) return Error{Errc::Malformed, state.path + ":@" + std::to_string(*start) + ": " + last.error().what};
    auto firstEnd = lineEnd(state, 0, static_cast<off_t>(*boundary));
    if (!firstEnd) return firstEnd.error();
    auto first = idOfLine(state, 0, *firstEnd);
    if (!first) return Error{Errc::Malformed, state.path + ":1: " + first.error().what};
    state.offset = static_cast<off_t>(*boundary);
    state.lastId = *last;
    state.firstId = *first;
    state.linesKnown = false;
  }
  if (auto read = readRest(state); !read) return read.error();
  return journal;
}

Result<std::unique_ptr<FileJournal>> FileJournal::openAfter(const std::string& stateDir, const JournalPosition& from,
                                                            bool readOnly) {
  std::unique_ptr<FileJournal> journal(new FileJournal());
  JournalFile& state = journal->state_->file;
  if (auto opened = openFile(state, stateDir, readOnly); !opened) return opened.error();
  auto lock = FileLock::take(state.fd.get(), LOCK_SH, state.path);
  if (!lock) return lock.error();
  if (auto same = checkPosition(state, from); !same) return same.error();
  state.offset = static_cast<off_t>(from.offset);
  state.lines = from.lines;
  state.lastId = from.lastId;
  state.firstId = from.firstId;
  if (auto read = readRest(state); !read) return read.error();
  return journal;
}

Result<JournalRecord> FileJournal::append(JournalRecord record) {
  JournalFile& state = state_->file;
  if (!state.writable) {
    return Error{Errc::Refused, "append to " + state.path + ": opened read-only (Permission denied); run as root"};
  }
  auto lock = FileLock::take(state.fd.get(), LOCK_EX, state.path);
  if (!lock) return lock.error();
  // Another process (a rollback, a running controller) may have appended since we last read.
  if (auto read = readNew(state, /*repair=*/true); !read) return read.error();

  record.id = std::max(state.lastId, state.rotatedLastId) + 1;
  if (record.time == policy::TimePoint{}) record.time = policy::Clock::now();
  const std::string line = toJsonLine(record) + "\n";

  // One write() of the whole line: with O_APPEND it lands at the end in one piece.
  const ssize_t written = ::write(state.fd.get(), line.data(), line.size());
  const int writeErr = errno;
  if (written != static_cast<ssize_t>(line.size())) {
    // Take back a partial line so the file stays valid; nothing is considered written.
    if (written > 0) {
      [[maybe_unused]] const int ignored = ::ftruncate(state.fd.get(), state.offset);  // best effort
    }
    return written < 0 ? errnoError(writeErr, "append to " + state.path)
                       : Error{Errc::Io, "append to " + state.path + ": short write (disk full?)"};
  }
  if (::fsync(state.fd.get()) != 0) {
    const int syncErr = errno;
    [[maybe_unused]] const int ignored = ::ftruncate(state.fd.get(), state.offset);  // best effort
    return errnoError(syncErr, "fsync " + state.path);
  }
  record.offset = static_cast<std::int64_t>(state.offset);
  state.offset += static_cast<off_t>(line.size());
  state.lines += 1;
  state.lastId = record.id;
  if (state.firstId == 0) state.firstId = record.id;
  state.records.push_back(record);
  return record;
}

Result<void> FileJournal::refresh() {
  JournalFile& state = state_->file;
  // Runs every tick: a journal no longer than what was read has nothing new, and one fstat says
  // so without the lock (appenders extend the file under LOCK_EX; a shorter file is an error
  // readNew reports under the lock).
  struct stat st {};
  if (::fstat(state.fd.get(), &st) == 0 && st.st_size == state.offset) return {};
  auto lock = FileLock::take(state.fd.get(), LOCK_SH, state.path);
  if (!lock) return lock.error();
  return readNew(state, /*repair=*/false);
}

const std::vector<JournalRecord>& FileJournal::records() const { return state_->file.records; }

void FileJournal::forget(std::int64_t throughId) {
  auto& records = state_->file.records;
  const auto end = std::upper_bound(records.begin(), records.end(), throughId,
                                    [](std::int64_t id, const JournalRecord& record) { return id < record.id; });
  records.erase(records.begin(), end);
}

JournalPosition FileJournal::position() const {
  const JournalFile& state = state_->file;
  return {static_cast<std::int64_t>(state.offset), state.lines, state.lastId, state.firstId, state.inode};
}

const std::vector<std::string>& FileJournal::warnings() const { return state_->file.warnings; }

JournalRecord knobRecord(RecordKind kind, policy::TimePoint time, const std::string& bootId, const policy::KnobRef& ref,
                         std::int64_t oldValue, std::int64_t newValue, std::string reason) {
  JournalRecord record;
  record.time = time;
  record.bootId = bootId;
  record.kind = kind;
  record.netns = ref.netns;
  record.knob = ref.knob;
  record.oldValue = oldValue;
  record.newValue = newValue;
  record.reason = std::move(reason);
  return record;
}

JournalRecord actionRecord(RecordKind kind, policy::TimePoint time, const std::string& bootId,
                           const policy::Action& action) {
  auto record = knobRecord(kind, time, bootId, action.ref, action.from, action.to, policy::reasonText(action));
  record.cause = causeJson(action.because);
  return record;
}

namespace {

// Whole numbers (counts, seconds, sizes) are written as integers, the rest as they are.
nlohmann::json number(double value) {
  constexpr double kExact = 9007199254740992.0;  // 2^53: every integer below is exact in a double
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) < kExact) {
    return static_cast<std::int64_t>(value);
  }
  return value;
}

nlohmann::json oneCause(const policy::Cause& cause) {
  nlohmann::json out{{"code", std::string(policy::reasonCode(cause.code))}};
  if (!cause.netns.empty()) out["netns"] = cause.netns;
  if (cause.knob) out["knob"] = std::string(policy::kernelName(*cause.knob));
  for (const auto& [fact, value] : cause.facts) out[std::string(policy::factKey(fact))] = number(value);
  if (!cause.namespaces.empty()) {
    auto& holders = out["namespaces"] = nlohmann::json::array();
    for (const auto& [netns, count] : cause.namespaces) holders.push_back({{"netns", netns}, {"count", count}});
  }
  return out;
}

}  // namespace

nlohmann::json causeJson(const std::vector<policy::Cause>& causes) {
  if (causes.empty()) return nullptr;
  nlohmann::json out = oneCause(causes.front());
  if (causes.size() > 1) {
    auto& then = out["then"] = nlohmann::json::array();
    for (auto it = std::next(causes.begin()); it != causes.end(); ++it) then.push_back(oneCause(*it));
  }
  return out;
}

}  // namespace ctpilot::controller
