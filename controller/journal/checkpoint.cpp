// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "controller/journal/journal_files.h"
#include "controller/state_dir.h"
#include "policy/read_file.h"
#include "policy/unique_fd.h"

// The file (one JSON object; keys sorted, as nlohmann writes them):
//   {"boot_id": "...", "checksum": "fnv1a64:<16 hex digits of the rest, dumped without it>",
//    "format": 2,
//    "journal": {"offset": BYTES, "lines": N, "last_id": ID, "first_id": ID, "inode": INO},
//    "view": {"other_boot_applied": N, "lines": [[OFFSET, ID], ...], "history": "OFFSET ID OFFSET ID ..."}}
// "lines": what the view answers but the applied changes; "history": the applied changes kept
// for decide() (not in "lines"), tens of thousands in a busy day: one string, so that a reader
// that does not want them (status) does not build a JSON value for each.
// The lines are read back from journal.jsonl on load (checkpointView): the checksum only tells
// damage from content, it proves nothing, so nothing the view answers is taken from this file.

namespace ctpilot::controller {
namespace {

using Json = nlohmann::json;

// The checkpoint nests 4 levels: body, view, lines, [offset, id].
constexpr int kMaxDepth = 4;

// Thrown inside this file only, caught where a checkpoint is parsed: a field that is not what
// checkpointText() writes.
struct Bad {
  std::string what;
};

std::string checksumOf(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return fmt::format("fnv1a64:{:016x}", hash);
}

const Json& member(const Json& object, const char* key) {
  if (!object.is_object()) throw Bad{"expected an object holding '" + std::string(key) + "'"};
  const auto found = object.find(key);
  if (found == object.end()) throw Bad{"missing field '" + std::string(key) + "'"};
  return *found;
}

std::int64_t integer(const Json& object, const char* key, std::int64_t min = 0) {
  const Json& value = member(object, key);
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() &&
       value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
    throw Bad{"field '" + std::string(key) + "': expected an integer"};
  }
  const auto out = value.get<std::int64_t>();
  if (out < min) throw Bad{"field '" + std::string(key) + "': below " + std::to_string(min)};
  return out;
}

std::string text(const Json& object, const char* key) {
  const Json& value = member(object, key);
  if (!value.is_string()) throw Bad{"field '" + std::string(key) + "': expected a string"};
  return value.get<std::string>();
}

const Json& array(const Json& object, const char* key) {
  const Json& value = member(object, key);
  if (!value.is_array()) throw Bad{"field '" + std::string(key) + "': expected an array"};
  return value;
}

JournalPosition positionOf(const Json& json) {
  JournalPosition position;
  position.offset = integer(json, "offset", 1);
  position.lines = integer(json, "lines", 1);
  position.lastId = integer(json, "last_id", 1);
  position.firstId = integer(json, "first_id", 1);
  const Json& inode = member(json, "inode");
  if (!inode.is_number_unsigned()) throw Bad{"field 'inode': expected an unsigned integer"};
  position.inode = inode.get<std::uint64_t>();
  if (position.firstId > position.lastId) throw Bad{"field 'first_id' is above 'last_id'"};
  return position;
}

}  // namespace

namespace {

// "OFFSET ID OFFSET ID ...".
std::string historyText(const std::vector<JournalLine>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += ' ';
    out += std::to_string(line.offset) + ' ' + std::to_string(line.id);
  }
  return out;
}

}  // namespace

Result<JournalCheckpoint> checkpointOf(const JournalPosition& position, const JournalView& view) {
  auto lines = view.sourceLines(false);
  auto history = view.sourceLines(true);
  if (!lines || !history) return Error{Errc::Malformed, "the view holds a record that was not read from journal.jsonl"};
  std::vector<JournalLine> onlyHistory;
  std::set_difference(history->begin(), history->end(), lines->begin(), lines->end(), std::back_inserter(onlyHistory));
  return JournalCheckpoint{position, view.bootId(), view.otherBootApplied(), std::move(*lines), std::move(onlyHistory)};
}

std::string checkpointText(const JournalCheckpoint& checkpoint) {
  const auto& p = checkpoint.position;
  const auto pairs = [](const std::vector<JournalLine>& list) {
    Json out = Json::array();
    for (const auto& line : list) out.push_back(Json::array({line.offset, line.id}));
    return out;
  };
  Json body{
      {"format", kCheckpointFormat},
      {"boot_id", checkpoint.bootId},
      {"journal",
       {{"offset", p.offset}, {"lines", p.lines}, {"last_id", p.lastId}, {"first_id", p.firstId}, {"inode", p.inode}}},
      {"view",
       {{"other_boot_applied", checkpoint.otherBootApplied},
        {"lines", pairs(checkpoint.lines)},
        {"history", historyText(checkpoint.history)}}}};
  // replace: a boot id with invalid UTF-8 must not stop the write.
  const auto dumped = [](const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); };
  body["checksum"] = checksumOf(dumped(body));
  return dumped(body) + "\n";
}

namespace {

// The "lines" of a checkpoint's view: [offset, id] pairs, offsets and ids ascending, each line
// before the position's offset and each id at most its last id.
// Appends `line` to `out` after checking it: before the position, offsets and ids ascending.
void addLine(std::vector<JournalLine>& out, const JournalLine& line, const char* key, const JournalPosition& position) {
  if (line.offset >= position.offset || line.id > position.lastId) {
    throw Bad{"line [" + std::to_string(line.offset) + ", " + std::to_string(line.id) + "] beyond the position"};
  }
  if (!out.empty() && (line.offset <= out.back().offset || line.id <= out.back().id)) {
    throw Bad{"field '" + std::string(key) + "': offsets and ids must ascend"};
  }
  out.push_back(line);
}

std::vector<JournalLine> linesOf(const Json& view, const char* key, const JournalPosition& position) {
  std::vector<JournalLine> out;
  for (const auto& item : array(view, key)) {
    if (!item.is_array() || item.size() != 2)
      throw Bad{"field '" + std::string(key) + "': expected [offset, id] pairs"};
    const Json pair{{"offset", item[0]}, {"id", item[1]}};
    addLine(out, {integer(pair, "offset"), integer(pair, "id", 1)}, key, position);
  }
  return out;
}

// The "history" string: pairs of decimal numbers, one space apart.
std::vector<JournalLine> historyOf(const std::string& text, const JournalPosition& position) {
  std::vector<JournalLine> out;
  std::vector<std::int64_t> numbers;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (!numbers.empty() || p != text.data()) {
      if (*p != ' ') throw Bad{"field 'history': expected numbers one space apart"};
      ++p;
    }
    std::int64_t n = 0;
    const auto [next, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || next == p || n < 0) throw Bad{"field 'history': expected numbers one space apart"};
    numbers.push_back(n);
    p = next;
  }
  if (numbers.size() % 2 != 0) throw Bad{"field 'history': expected offset and id pairs"};
  for (std::size_t i = 0; i < numbers.size(); i += 2) {
    if (numbers[i + 1] < 1) throw Bad{"field 'history': an id below 1"};
    addLine(out, {numbers[i], numbers[i + 1]}, "history", position);
  }
  return out;
}

}  // namespace

Result<JournalCheckpoint> parseCheckpoint(const std::string& content) {
  auto parsed = parseBoundedJson(content, kMaxDepth);
  if (!parsed) return parsed.error();
  Json body = std::move(*parsed);
  try {
    const auto format = integer(body, "format");
    if (format != kCheckpointFormat) {
      return Error{Errc::Malformed,
                   "format " + std::to_string(format) + ", this version reads " + std::to_string(kCheckpointFormat)};
    }
    const auto checksum = text(body, "checksum");
    body.erase("checksum");
    if (checksum != checksumOf(body.dump(-1, ' ', false, Json::error_handler_t::replace))) {
      return Error{Errc::Malformed, "checksum does not match its content (damaged or edited)"};
    }
    JournalCheckpoint checkpoint;
    checkpoint.bootId = text(body, "boot_id");
    checkpoint.position = positionOf(member(body, "journal"));
    const Json& view = member(body, "view");
    checkpoint.otherBootApplied = integer(view, "other_boot_applied");
    checkpoint.lines = linesOf(view, "lines", checkpoint.position);
    checkpoint.history = historyOf(text(view, "history"), checkpoint.position);
    return checkpoint;
  } catch (const Bad& bad) {
    return Error{Errc::Malformed, bad.what};
  } catch (const Json::exception& e) {
    return Error{Errc::Malformed, e.what()};
  }
}

Result<void> writeCheckpoint(const std::string& stateDir, const JournalCheckpoint& checkpoint) {
  return replaceStateFile(stateDir, kCheckpointName, checkpointText(checkpoint));
}

namespace {

// Reads the lines of journal.jsonl that start at given offsets, in ascending order, through a
// 64 KiB window: the named lines of a checkpoint cluster near the end, so most share a read.
class LineReader {
 public:
  LineReader(int fd, std::string path, std::int64_t limit) : fd_(fd), path_(std::move(path)), limit_(limit) {}

  // The line starting at `offset` (without its newline); Errc::Malformed unless a line starts
  // there (offset 0 or a newline just before) and ends before the limit.
  Result<std::string> at(std::int64_t offset) {
    for (std::int64_t want = kWindow;; want *= 2) {
      // The window read last serves while it holds the byte before the line and its newline.
      const std::int64_t rel = offset - start_;
      const std::int64_t end = start_ + static_cast<std::int64_t>(buf_.size());
      const bool holdsStart = offset == 0 ? start_ == 0 && !buf_.empty() : rel >= 1 && offset < end;
      const auto nl = holdsStart ? buf_.find('\n', static_cast<std::size_t>(rel)) : std::string::npos;
      if (holdsStart && offset > 0 && buf_[static_cast<std::size_t>(rel - 1)] != '\n') {
        return Error{Errc::Malformed, "no journal line starts at byte " + std::to_string(offset)};
      }
      if (nl != std::string::npos)
        return buf_.substr(static_cast<std::size_t>(rel), nl - static_cast<std::size_t>(rel));
      if (holdsStart && end >= limit_) {
        return Error{Errc::Malformed,
                     "the line at byte " + std::to_string(offset) + " does not end before the position"};
      }
      if (auto ok = read(std::max<std::int64_t>(0, offset - 1), want); !ok) return ok.error();
      if (offset >= limit_) return Error{Errc::Malformed, "no journal line starts at byte " + std::to_string(offset)};
    }
  }

 private:
  static constexpr std::int64_t kWindow = std::int64_t{64} * 1024;

  // Reads [from, from + want) (within [0, limit_)) into buf_.
  Result<void> read(std::int64_t from, std::int64_t want) {
    const std::int64_t to = std::min(limit_, from + want);
    const auto length = static_cast<std::size_t>(std::max<std::int64_t>(0, to - from));
    auto got = readAt(fd_, static_cast<off_t>(from), length, path_);
    if (!got) return got.error();
    if (got->size() < length) return Error{Errc::Malformed, path_ + ": shorter than the checkpoint's position"};
    buf_ = std::move(*got);
    start_ = from;
    return {};
  }

  int fd_;
  std::string path_;
  std::int64_t limit_;
  std::int64_t start_ = 0;
  std::string buf_;
};

// Checks that no outcome follows the unfinished intents of `view` up to the checkpoint's
// position, and that no other intent of this boot is left unfinished between the oldest of them
// and the position: the records there are folded into a view of their own, which must leave
// exactly the same intents unfinished.
Result<void> checkUnfinished(LineReader& reader, const JournalCheckpoint& checkpoint, const JournalView& view) {
  const auto claimed = view.unfinishedIntents();
  if (claimed.empty()) return {};
  const std::int64_t from = claimed.front().offset;
  if (checkpoint.position.offset - from > kUnfinishedScanBytes) {
    return Error{Errc::Malformed, "unfinished intent #" + std::to_string(claimed.front().id) +
                                      " is too far before the position to check"};
  }
  JournalView scan(checkpoint.bootId, ViewScope::Controller);
  for (std::int64_t offset = from; offset < checkpoint.position.offset;) {
    auto line = reader.at(offset);
    if (!line) return line.error();
    const std::int64_t start = offset;
    offset += static_cast<std::int64_t>(line->size()) + 1;
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
    auto record = parseJournalLine(*line);
    if (!record)
      return Error{Errc::Malformed, "the line at byte " + std::to_string(start) + ": " + record.error().what};
    scan.add(*record);
  }
  const auto found = scan.unfinishedIntents();
  const auto ids = [](const std::vector<JournalRecord>& intents) {
    std::vector<std::int64_t> out;
    out.reserve(intents.size());
    for (const auto& intent : intents) out.push_back(intent.id);
    return out;
  };
  if (ids(found) != ids(claimed)) return Error{Errc::Malformed, "its unfinished intents are not the journal's"};
  return {};
}

}  // namespace

Result<JournalView> checkpointView(int fd, const std::string& path, const JournalCheckpoint& checkpoint, bool history) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError(errno, "stat " + path);
  if (st.st_ino != checkpoint.position.inode)
    return Error{Errc::Malformed, path + ": another file than the checkpoint's (inode changed)"};
  if (checkpoint.position.offset > st.st_size) {
    return Error{Errc::Malformed,
                 path + ": shorter than the checkpoint's position " + std::to_string(checkpoint.position.offset)};
  }
  LineReader reader(fd, path, checkpoint.position.offset);
  JournalView view(checkpoint.bootId, ViewScope::Controller);
  std::vector<JournalLine> lines = checkpoint.lines;
  if (history) {
    lines.insert(lines.end(), checkpoint.history.begin(), checkpoint.history.end());
    std::sort(lines.begin(), lines.end());
    lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].id <= lines[i - 1].id || lines[i].offset <= lines[i - 1].offset) {
      return Error{Errc::Malformed, path + ": the checkpoint names lines out of order"};
    }
  }
  for (const auto& named : lines) {
    auto line = reader.at(named.offset);
    if (!line) return Error{Errc::Malformed, path + ": " + line.error().what};
    auto record = parseJournalLine(*line);
    if (!record || record->id != named.id) {
      return Error{Errc::Malformed, path + ": the line at byte " + std::to_string(named.offset) + " is not record " +
                                        std::to_string(named.id)};
    }
    record->offset = named.offset;
    view.add(*record);
  }
  if (auto checked = checkUnfinished(reader, checkpoint, view); !checked) {
    return Error{Errc::Malformed, path + ": " + checked.error().what};
  }
  view.restoreCounts(checkpoint.position.lastId, checkpoint.otherBootApplied);
  return view;
}

JournalView ControllerJournal::current() const {
  JournalView out = view;
  if (journal) out.addNew(journal->records());
  return out;
}

namespace {

// Reads journal.checkpoint for boot `bootId`; an Error says why it cannot be used (Errc::Missing:
// there is none, Errc::Busy: it is of another boot).
Result<JournalCheckpoint> loadCheckpoint(const std::string& stateDir, const std::string& bootId) {
  auto text = readStateFile(stateDir, kCheckpointName);
  if (!text) return text.error();
  auto checkpoint = parseCheckpoint(*text);
  if (!checkpoint) return checkpoint.error();
  if (checkpoint->bootId != bootId) {
    return Error{Errc::Busy, "journal.checkpoint is of boot " + checkpoint->bootId + ", not of this one"};
  }
  return checkpoint;
}

// The view `checkpoint` names, read from journal.jsonl (opened afresh, read-only).
Result<JournalView> verifiedView(const std::string& stateDir, const JournalCheckpoint& checkpoint, bool history) {
  auto opened = openStateFile(stateDir, "journal.jsonl", StateAccess::Read);
  if (!opened) return opened.error();
  return checkpointView(opened->fd.get(), journalPath(stateDir), checkpoint, history);
}

// Opens the journal from `checkpoint`'s position with the view it names; nullopt and `unused`
// set when it does not match the journal.
Result<std::optional<ControllerJournal>> fromCheckpoint(const std::string& stateDir,
                                                        const JournalCheckpoint& checkpoint, bool readOnly,
                                                        bool history, std::optional<Error>& unused) {
  auto journal = FileJournal::openAfter(stateDir, checkpoint.position, readOnly);
  if (!journal) {
    if (journal.error().code != Errc::Malformed) return journal.error();  // as open() would fail
    unused = journal.error();
    return std::optional<ControllerJournal>{};
  }
  auto view = verifiedView(stateDir, checkpoint, history);
  if (!view) {
    if (view.error().code != Errc::Malformed) return view.error();
    unused = view.error();
    return std::optional<ControllerJournal>{};
  }
  return std::optional<ControllerJournal>{
      ControllerJournal{std::move(*journal), std::move(*view), checkpoint.position.offset, {}, {}}};
}

}  // namespace

Result<ControllerJournal> openControllerJournal(const std::string& stateDir, const std::string& bootId, JournalUse use,
                                                bool history) {
  const bool readOnly = use == JournalUse::ReadOnly;
  auto checkpoint = loadCheckpoint(stateDir, bootId);
  std::optional<Error> unused;
  if (checkpoint) {
    auto opened = fromCheckpoint(stateDir, *checkpoint, readOnly, history, unused);
    if (!opened) {
      if (readOnly && opened.error().code == Errc::Missing)
        return ControllerJournal{nullptr, JournalView(bootId, ViewScope::Controller), 0, {}, {}};
      return opened.error();
    }
    if (*opened) return std::move(**opened);
  } else if (checkpoint.error().code != Errc::Missing) {
    unused = checkpoint.error();
  }
  ControllerJournal out{nullptr, JournalView(bootId, ViewScope::Controller), 0, {}, {}};
  auto journal =
      use == JournalUse::Run ? FileJournal::open(stateDir) : FileJournal::openCurrentBoot(stateDir, bootId, readOnly);
  if (!journal) {
    if (readOnly && journal.error().code == Errc::Missing) return out;
    return journal.error();
  }
  out.journal = std::move(*journal);
  if (unused) {
    const std::string line = "not using " + std::string(kCheckpointName) + " (" + unused->what + "); read the " +
                             (use == JournalUse::Run ? "whole journal" : "journal of this boot") + " instead";
    (unused->code == Errc::Busy ? out.notes : out.warnings).push_back(line);
    // The journal is the truth; a checkpoint that does not match it goes (a new one follows).
    if (use == JournalUse::Run) {
      if (auto removed = removeStateFile(stateDir, kCheckpointName); !removed)
        out.warnings.push_back(removed.error().what);
    }
  }
  return out;
}

Checkpointer::Checkpointer(std::string stateDir, const FileJournal& journal, std::int64_t coveredOffset)
    : stateDir_(std::move(stateDir)), journal_(journal), coveredOffset_(coveredOffset) {}

Result<bool> Checkpointer::maybeWrite(const JournalView& view) {
  const auto position = journal_.position();
  if (position.offset - coveredOffset_ < kCheckpointEveryBytes) return false;
  if (position.lastId == 0 || view.lastId() != position.lastId || view.scope() != ViewScope::Controller) return false;
  auto checkpoint = checkpointOf(position, view);
  if (!checkpoint) return checkpoint.error();
  if (auto written = writeCheckpoint(stateDir_, *checkpoint); !written) return written.error();
  coveredOffset_ = position.offset;
  return true;
}

}  // namespace ctpilot::controller
