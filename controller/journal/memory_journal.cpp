#include "controller/journal/journal.h"

namespace ctpilot::controller {

Result<JournalRecord> MemoryJournal::append(JournalRecord record) {
  if (failAppends) return Error{Errc::Io, "append to journal: disk full (simulated)"};
  record.id = records_.empty() ? 1 : records_.back().id + 1;
  records_.push_back(record);
  return record;
}

}  // namespace ctpilot::controller
