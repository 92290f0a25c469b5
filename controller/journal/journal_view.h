#pragma once
// Pure views over journal records of one boot: the baselines, the History decide() needs,
// and what ctpilot last wrote. Records of other boots are ignored: the kernel forgot them.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controller/journal/journal.h"
#include "policy/observation.h"

namespace ctpilot::controller {

/// Returns the KnobRef a record is about; nullopt when it names no knob.
std::optional<policy::KnobRef> recordRef(const JournalRecord& record);

/// Returns KnobRef -> value from the Baseline records of boot `bootId`: the first one wins, except
/// that a later one with old != new (a value someone else wrote, adopted under
/// [controller] on_external = adopt) replaces it.
std::map<policy::KnobRef, std::int64_t> baselines(const std::vector<JournalRecord>& records,
                                                  const std::string& bootId);

/// Returns KnobRef -> the value ctpilot last put there in boot `bootId`: `new` of Applied
/// records and of Rollback records (a rollback restored it).
std::map<policy::KnobRef, std::int64_t> lastWritten(const std::vector<JournalRecord>& records,
                                                    const std::string& bootId);

/// Returns KnobRef -> `new` of the newest Intent record of boot `bootId` for that knob when no
/// Applied, Failed or Rollback record of the knob follows it (a crash between write and
/// record): the knob may hold that value now.
std::map<policy::KnobRef, std::int64_t> pendingIntentValues(const std::vector<JournalRecord>& records,
                                                          const std::string& bootId);

/// Returns the holds of boot `bootId` still active at `now`: Hold records with until > now
/// and not lifted by a later Resume (a Resume without knob lifts every earlier hold, one with a
/// knob only the earlier holds on that knob).
std::vector<policy::Hold> activeHolds(const std::vector<JournalRecord>& records, const std::string& bootId,
                                      policy::TimePoint now);

/// Tells whether `ref` is covered by one of `holds`.
bool held(const std::vector<policy::Hold>& holds, const policy::KnobRef& ref);

/// Returns the knobs changed by someone else, each with the id of its newest External record of
/// boot `bootId`: ids above `sinceId` (the last policy change) not followed by an Applied or
/// Rollback record of the same ref, nor by a Resume (without knob: every knob; with one: that knob).
std::map<policy::KnobRef, std::int64_t> externalRecordIds(const std::vector<JournalRecord>& records,
                                                          const std::string& bootId, std::int64_t sinceId);

/// Returns the knobs of externalRecordIds().
std::set<policy::KnobRef> externalKnobs(const std::vector<JournalRecord>& records, const std::string& bootId,
                                        std::int64_t sinceId);

/// Returns the applied changes of boot `bootId`, oldest first (`from` = old, or the intent's
/// old when the applied record lacks it).
std::vector<policy::PastChange> appliedChanges(const std::vector<JournalRecord>& records,
                                               const std::string& bootId);

/// Builds decide()'s History at `now` (calmSince left empty: the controller keeps it).
policy::History historyAt(const std::vector<JournalRecord>& records, const std::string& bootId,
                          policy::TimePoint now, std::int64_t externalSinceId);

/// Reads a journal file without creating, locking or changing it (plan): every record, oldest
/// first; a missing file is an empty journal. A torn last line is skipped; any other bad line is
/// Errc::Malformed naming its line number.
Result<std::vector<JournalRecord>> readJournalFile(const std::string& path);

}  // namespace ctpilot::controller
