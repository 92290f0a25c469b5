#include "controller/journal/checkpoint.h"

#include <cinttypes>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "controller/state_dir.h"

// The file (one JSON object; keys sorted, as nlohmann writes them):
//   {"boot_id": "...", "checksum": "fnv1a64:<16 hex digits of the rest, dumped without it>",
//    "format": 1,
//    "journal": {"offset": BYTES, "lines": N, "last_id": ID, "first_id": ID, "inode": INO},
//    "view": {"last_id": ID, "other_boot_applied": N,
//             "baselines":   [{"netns", "knob", "value"}],
//             "last_writes": [{"netns", "knob", "value", "id"}],
//             "external":    [{"netns", "knob", "id"}],
//             "applied":     [{"time", "netns", "knob", "from", "to"}],
//             "unfinished":  [journal record], "holds": [journal record],
//             "timed_resizes": [journal record]}}
// Journal records are stored as their journal lines' objects and read back by recordFromJson.

namespace ctpilot::controller {
namespace {

using Json = nlohmann::json;

// A record's observation may nest 64 levels (the journal's bound); the checkpoint adds 4.
constexpr int kMaxDepth = 64 + 4;

// Thrown inside this file only, caught where a checkpoint is parsed: a field that is not what
// checkpointJson() writes.
struct Bad {
  std::string what;
};

std::string checksumOf(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[32];
  std::snprintf(out, sizeof(out), "fnv1a64:%016" PRIx64, hash);
  return out;
}

const Json& member(const Json& object, const char* key) {
  if (!object.is_object()) throw Bad{"expected an object holding '" + std::string(key) + "'"};
  const auto found = object.find(key);
  if (found == object.end()) throw Bad{"missing field '" + std::string(key) + "'"};
  return *found;
}

std::int64_t integer(const Json& object, const char* key, std::int64_t min = 0) {
  const Json& value = member(object, key);
  if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<std::uint64_t>() >
                                                                       static_cast<std::uint64_t>(
                                                                           std::numeric_limits<std::int64_t>::max()))) {
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

policy::KnobRef refOf(const Json& object) {
  const auto netns = text(object, "netns");
  const auto knob = policy::knobByName(text(object, "knob"));
  if (netns.empty() || !knob) throw Bad{"a netns and a known knob expected in " + object.dump()};
  return {netns, *knob};
}

// {"netns": ..., "knob": ...} and the fields of `more`.
Json refJson(const policy::KnobRef& ref, Json more) {
  more["netns"] = ref.netns;
  more["knob"] = std::string(policy::kernelName(ref.knob));
  return more;
}

// Any value a knob field may hold (the journal bounds none; rollback checks ranges).
constexpr std::int64_t kAnyValue = std::numeric_limits<std::int64_t>::min();

// A journal record of this boot (or any boot, for timed resizes) of `kind`, id at most lastId.
JournalRecord record(const Json& json, RecordKind kind, const std::string& bootId, std::int64_t lastId) {
  auto parsed = recordFromJson(json);
  if (!parsed) throw Bad{parsed.error().what};
  if (parsed->kind != kind || parsed->id > lastId || (!bootId.empty() && parsed->bootId != bootId)) {
    throw Bad{"record #" + std::to_string(parsed->id) + " is not a " + recordKindName(kind) + " of this view"};
  }
  return std::move(*parsed);
}

Json records(const std::vector<JournalRecord>& list) {
  Json out = Json::array();
  for (const auto& r : list) out.push_back(toJson(r));
  return out;
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

Json JournalView::checkpointJson() const {
  Json view{{"last_id", lastId_}, {"other_boot_applied", otherBootApplied_}};
  Json& baselines = view["baselines"] = Json::array();
  for (const auto& [ref, value] : baselines_) baselines.push_back(refJson(ref, {{"value", value}}));
  Json& writes = view["last_writes"] = Json::array();
  for (const auto& [ref, write] : lastWrites_) {
    writes.push_back(refJson(ref, {{"value", write.value}, {"id", write.recordId}}));
  }
  Json& external = view["external"] = Json::array();
  for (const auto& [ref, id] : external_) external.push_back(refJson(ref, {{"id", id}}));
  Json& applied = view["applied"] = Json::array();
  for (const auto& change : applied_) {
    applied.push_back(refJson(change.ref, {{"time", formatTime(change.time)}, {"from", change.from}, {"to", change.to}}));
  }
  view["unfinished"] = records(unfinishedIntents());
  view["holds"] = records(holds_);
  view["timed_resizes"] = records(timedResizes_);
  return view;
}

Result<JournalView> JournalView::fromCheckpointJson(const Json& json, const std::string& bootId) {
  JournalView view(bootId, ViewScope::Controller);
  try {
    view.lastId_ = integer(json, "last_id");
    view.otherBootApplied_ = integer(json, "other_boot_applied");
    const auto idOf = [&](const Json& item) {
      const auto id = integer(item, "id", 1);
      if (id > view.lastId_) throw Bad{"record id " + std::to_string(id) + " above last_id"};
      return id;
    };
    for (const auto& item : array(json, "baselines")) view.baselines_[refOf(item)] = integer(item, "value", kAnyValue);
    for (const auto& item : array(json, "last_writes")) {
      view.lastWrites_[refOf(item)] = {integer(item, "value", kAnyValue), idOf(item)};
    }
    for (const auto& item : array(json, "external")) view.external_[refOf(item)] = idOf(item);
    for (const auto& item : array(json, "applied")) {
      const auto time = parseTime(text(item, "time"));
      if (!time) throw Bad{"field 'time': not an RFC 3339 time in " + item.dump()};
      const auto ref = refOf(item);
      view.newestApplied_[ref] = view.applied_.size();
      view.applied_.push_back({*time, ref, integer(item, "from", kAnyValue), integer(item, "to", kAnyValue)});
    }
    view.keptApplied_ = view.applied_.size();
    for (const auto& item : array(json, "unfinished")) {
      auto intent = record(item, RecordKind::Intent, bootId, view.lastId_);
      if (!intent.knob || !intent.newValue) throw Bad{"intent #" + std::to_string(intent.id) + " names no knob and value"};
      view.unfinished_[intent.id] = std::move(intent);
    }
    for (const auto& item : array(json, "holds")) {
      auto hold = record(item, RecordKind::Hold, bootId, view.lastId_);
      if (!hold.until) throw Bad{"hold #" + std::to_string(hold.id) + " has no until"};
      view.holds_.push_back(std::move(hold));
    }
    for (const auto& item : array(json, "timed_resizes")) {
      view.timedResizes_.push_back(record(item, RecordKind::Applied, "", view.lastId_));
    }
    if (view.timedResizes_.size() > kTimedResizes) throw Bad{"more timed resizes than a view keeps"};
  } catch (const Bad& bad) {
    return Error{Errc::Malformed, "view: " + bad.what};
  } catch (const Json::exception& e) {
    return Error{Errc::Malformed, std::string("view: ") + e.what()};
  }
  return view;
}

std::string checkpointText(const JournalCheckpoint& checkpoint) {
  const auto& p = checkpoint.position;
  Json body{{"format", kCheckpointFormat},
            {"boot_id", checkpoint.view.bootId()},
            {"journal",
             {{"offset", p.offset}, {"lines", p.lines}, {"last_id", p.lastId}, {"first_id", p.firstId}, {"inode", p.inode}}},
            {"view", checkpoint.view.checkpointJson()}};
  // replace: a reason with invalid UTF-8 (kept as the journal keeps it) must not stop the write.
  const auto dumped = [](const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); };
  body["checksum"] = checksumOf(dumped(body));
  return dumped(body) + "\n";
}

Result<JournalCheckpoint> parseCheckpoint(const std::string& content) {
  auto parsed = parseBoundedJson(content, kMaxDepth);
  if (!parsed) return parsed.error();
  Json body = std::move(*parsed);
  try {
    const auto format = integer(body, "format");
    if (format != kCheckpointFormat) {
      return Error{Errc::Malformed, "format " + std::to_string(format) + ", this version reads " +
                                        std::to_string(kCheckpointFormat)};
    }
    const auto checksum = text(body, "checksum");
    body.erase("checksum");
    if (checksum != checksumOf(body.dump(-1, ' ', false, Json::error_handler_t::replace))) {
      return Error{Errc::Malformed, "checksum does not match its content (damaged or edited)"};
    }
    const auto bootId = text(body, "boot_id");
    const auto position = positionOf(member(body, "journal"));
    auto view = JournalView::fromCheckpointJson(member(body, "view"), bootId);
    if (!view) return view.error();
    if (view->lastId() != position.lastId) {
      return Error{Errc::Malformed, "view: last_id is not the journal position's last_id"};
    }
    return JournalCheckpoint{position, std::move(*view)};
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

// Reads journal.checkpoint for boot `bootId`; an Error says why it cannot be used (Errc::Missing:
// there is none, Errc::Busy: it is of another boot).
Result<JournalCheckpoint> loadCheckpoint(const std::string& stateDir, const std::string& bootId) {
  auto text = readStateFile(stateDir, kCheckpointName);
  if (!text) return text.error();
  auto checkpoint = parseCheckpoint(*text);
  if (!checkpoint) return checkpoint.error();
  if (checkpoint->view.bootId() != bootId) {
    return Error{Errc::Busy, "journal.checkpoint is of boot " + checkpoint->view.bootId() + ", not of this one"};
  }
  return checkpoint;
}

}  // namespace

Result<ControllerJournal> openControllerJournal(const std::string& stateDir, const std::string& bootId) {
  ControllerJournal out{nullptr, JournalView(bootId, ViewScope::Controller), 0, {}, {}};
  auto checkpoint = loadCheckpoint(stateDir, bootId);
  std::optional<Error> unused;
  if (checkpoint) {
    auto journal = FileJournal::openAfter(stateDir, checkpoint->position);
    if (journal) {
      out.journal = std::move(*journal);
      out.view = std::move(checkpoint->view);
      out.checkpointOffset = checkpoint->position.offset;
      return out;
    }
    if (journal.error().code != Errc::Malformed) return journal.error();  // as open() would fail
    unused = journal.error();
  } else if (checkpoint.error().code != Errc::Missing) {
    unused = checkpoint.error();
  }
  auto journal = FileJournal::open(stateDir);
  if (!journal) return journal.error();
  out.journal = std::move(*journal);
  if (unused) {
    const std::string line = "not using " + std::string(kCheckpointName) + " (" + unused->what +
                             "); read the whole journal instead";
    (unused->code == Errc::Busy ? out.notes : out.warnings).push_back(line);
    // The journal is the truth; a checkpoint that does not match it goes (a new one follows).
    if (auto removed = removeStateFile(stateDir, kCheckpointName); !removed) out.warnings.push_back(removed.error().what);
  }
  return out;
}

Checkpointer::Checkpointer(std::string stateDir, const FileJournal& journal, std::int64_t coveredOffset)
    : stateDir_(std::move(stateDir)), journal_(journal), coveredOffset_(coveredOffset) {}

Result<bool> Checkpointer::maybeWrite(const JournalView& view) {
  const auto position = journal_.position();
  if (position.offset - coveredOffset_ < kCheckpointEveryBytes) return false;
  if (position.lastId == 0 || view.lastId() != position.lastId || view.scope() != ViewScope::Controller) return false;
  if (auto written = writeCheckpoint(stateDir_, JournalCheckpoint{position, view}); !written) return written.error();
  coveredOffset_ = position.offset;
  return true;
}

}  // namespace ctpilot::controller
