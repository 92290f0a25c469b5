#include "controller/journal/journal.h"

#include <utility>

namespace ctpilot::controller {

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

Result<JournalRecord> MemoryJournal::append(JournalRecord record) {
  if (failAppends) return Error{Errc::Io, "append to journal: disk full (simulated)"};
  record.id = records_.empty() ? 1 : records_.back().id + 1;
  records_.push_back(record);
  return record;
}

}  // namespace ctpilot::controller
