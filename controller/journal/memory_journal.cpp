// SPDX-License-Identifier: Apache-2.0
#include "controller/journal/journal.h"

namespace ctpilot::controller {

Result<JournalRecord> MemoryJournal::append(JournalRecord record) {
  if (failAppends) return Error{Errc::Io, "append to journal: disk full (simulated)"};
  // A record read from a file keeps its id (refs name it); a new one gets the next.
  const std::int64_t last = records_.empty() ? idsAfter : records_.back().id;
  if (record.id <= last) record.id = last + 1;
  records_.push_back(record);
  return record;
}

}  // namespace ctpilot::controller
