#include "controller/journal/journal_view.h"

#include <cerrno>
#include <fstream>

namespace ctpilot::controller {

std::optional<policy::KnobRef> recordRef(const JournalRecord& record) {
  if (!record.knob) return std::nullopt;
  return policy::KnobRef{record.netns.empty() ? std::string(policy::kInitNetns) : record.netns, *record.knob};
}

std::map<policy::KnobRef, std::int64_t> baselines(const std::vector<JournalRecord>& records,
                                                  const std::string& bootId) {
  std::map<policy::KnobRef, std::int64_t> out;
  for (const auto& record : records) {
    if (record.bootId != bootId || record.kind != RecordKind::Baseline || !record.newValue) continue;
    const auto ref = recordRef(record);
    if (!ref) continue;
    // A baseline is taken once (old = new); one with old != new adopted a value someone else wrote.
    const bool adopted = record.oldValue && *record.oldValue != *record.newValue;
    if (adopted) {
      out[*ref] = *record.newValue;
    } else {
      out.emplace(*ref, *record.newValue);
    }
  }
  return out;
}

std::map<policy::KnobRef, std::int64_t> lastWritten(const std::vector<JournalRecord>& records,
                                                    const std::string& bootId) {
  std::map<policy::KnobRef, std::int64_t> out;
  for (const auto& record : records) {
    if (record.bootId != bootId || !record.newValue) continue;
    if (record.kind != RecordKind::Applied && record.kind != RecordKind::Rollback) continue;
    const auto ref = recordRef(record);
    if (!ref) continue;
    // A baseline is taken once (old = new); one with old != new adopted a value someone else wrote.
    const bool adopted = record.oldValue && *record.oldValue != *record.newValue;
    if (adopted) {
      out[*ref] = *record.newValue;
    } else {
      out.emplace(*ref, *record.newValue);
    }
  }
  return out;
}

std::map<policy::KnobRef, std::int64_t> pendingIntentValues(const std::vector<JournalRecord>& records,
                                                            const std::string& bootId) {
  struct Pending {
    std::int64_t id;
    std::optional<std::int64_t> ref;  // a rollback's intent names the applied record it undoes
    std::int64_t value;
  };
  std::map<policy::KnobRef, Pending> pending;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    const auto ref = recordRef(record);
    if (!ref) continue;
    const auto found = pending.find(*ref);
    if (record.kind == RecordKind::Intent && record.newValue) {
      pending.insert_or_assign(*ref, Pending{record.id, record.ref, *record.newValue});
    } else if (found != pending.end() &&
               (record.kind == RecordKind::Applied || record.kind == RecordKind::Failed ||
                record.kind == RecordKind::Rollback)) {
      // An outcome for this knob finishes its intent: ours (ref = intent id) or a rollback's
      // (ref = the applied record both name); a later write supersedes it either way.
      pending.erase(found);
    }
  }
  std::map<policy::KnobRef, std::int64_t> out;
  for (const auto& [ref, p] : pending) out[ref] = p.value;
  return out;
}

std::vector<policy::Hold> activeHolds(const std::vector<JournalRecord>& records, const std::string& bootId,
                                      policy::TimePoint now) {
  struct Pending {
    policy::Hold hold;
    bool lifted = false;
  };
  std::vector<Pending> holds;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    if (record.kind == RecordKind::Hold && record.until) {
      holds.push_back({{*record.until, recordRef(record)}, false});
    } else if (record.kind == RecordKind::Resume) {
      const auto ref = recordRef(record);
      for (auto& pending : holds) {
        if (!ref || (pending.hold.ref && *pending.hold.ref == *ref)) pending.lifted = true;
      }
    }
  }
  std::vector<policy::Hold> out;
  for (const auto& pending : holds) {
    if (!pending.lifted && pending.hold.until > now) out.push_back(pending.hold);
  }
  return out;
}

bool held(const std::vector<policy::Hold>& holds, const policy::KnobRef& ref) {
  for (const auto& hold : holds) {
    if (!hold.ref || *hold.ref == ref) return true;
  }
  return false;
}

std::map<policy::KnobRef, std::int64_t> externalRecordIds(const std::vector<JournalRecord>& records,
                                                          const std::string& bootId, std::int64_t sinceId) {
  std::map<policy::KnobRef, std::int64_t> out;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    const auto ref = recordRef(record);
    if (record.kind == RecordKind::Resume) {
      // `ctpilot resume` hands knobs changed by someone else back to ctpilot.
      if (!ref) out.clear();
      if (ref) out.erase(*ref);
      continue;
    }
    if (!ref) continue;
    if (record.kind == RecordKind::External && record.id > sinceId) {
      out[*ref] = record.id;
    } else if (record.kind == RecordKind::Applied || record.kind == RecordKind::Rollback) {
      // ctpilot (or an operator's rollback) wrote it since: the value is ours again.
      out.erase(*ref);
    }
  }
  return out;
}

std::set<policy::KnobRef> externalKnobs(const std::vector<JournalRecord>& records, const std::string& bootId,
                                        std::int64_t sinceId) {
  std::set<policy::KnobRef> out;
  for (const auto& [ref, id] : externalRecordIds(records, bootId, sinceId)) out.insert(ref);
  return out;
}

std::vector<policy::PastChange> appliedChanges(const std::vector<JournalRecord>& records,
                                               const std::string& bootId) {
  std::map<std::int64_t, std::int64_t> intentOld;
  std::vector<policy::PastChange> out;
  for (const auto& record : records) {
    if (record.bootId != bootId) continue;
    if (record.kind == RecordKind::Intent && record.oldValue) intentOld[record.id] = *record.oldValue;
    if (record.kind != RecordKind::Applied || !record.newValue) continue;
    const auto ref = recordRef(record);
    if (!ref) continue;
    std::int64_t from = *record.newValue;
    if (record.oldValue) {
      from = *record.oldValue;
    } else if (record.ref) {
      if (const auto found = intentOld.find(*record.ref); found != intentOld.end()) from = found->second;
    }
    out.push_back({record.time, *ref, from, *record.newValue});
  }
  return out;
}

policy::History historyAt(const std::vector<JournalRecord>& records, const std::string& bootId,
                          policy::TimePoint now, std::int64_t externalSinceId) {
  policy::History history;
  history.changes = appliedChanges(records, bootId);
  history.holds = activeHolds(records, bootId, now);
  history.external = externalKnobs(records, bootId, externalSinceId);
  return history;
}

Result<std::vector<JournalRecord>> readJournalFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::vector<JournalRecord>{};
    return errnoError(errno, "open " + path);
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  // A line without its newline at the very end is a crash mid-write (torn), not damage.
  in.clear();
  in.seekg(-1, std::ios::end);
  const bool endsWithNewline = in && in.get() == '\n';
  std::vector<JournalRecord> records;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const bool last = i + 1 == lines.size();
    const auto json = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    Result<JournalRecord> record = Error{Errc::Malformed, "not JSON"};
    if (!json.is_discarded()) record = recordFromJson(json);
    if (!record) {
      if (last && !endsWithNewline) break;
      return Error{Errc::Malformed, path + ":" + std::to_string(i + 1) + ": " + record.error().what};
    }
    records.push_back(std::move(record.value()));
  }
  return records;
}

}  // namespace ctpilot::controller
