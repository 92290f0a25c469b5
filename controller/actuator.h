// SPDX-License-Identifier: Apache-2.0
#pragma once
// Applies one action the safe way: journal the intent (fsync), write the knob, read it back,
// journal applied (the value the kernel kept) or failed. No intent record, no write.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/journal/journal.h"
#include "policy/observation.h"
#include "policy/result.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"

namespace ctpilot::controller {

/// What became of one action.
struct ActionOutcome {
  enum class Status {
    Applied,       // written; `kept` is what the kernel kept
    Failed,        // the write failed; `error` says why (the failure is journaled if possible)
    NotJournaled,  // the intent could not be journaled: nothing was written
  };
  policy::Action action;
  Status status = Status::Failed;
  std::int64_t kept = 0;
  std::optional<Error> error;
  std::int64_t intentId = 0;      // 0 when NotJournaled
  bool outcomeJournaled = false;  // the applied/failed record reached the journal
  double writeMicros = 0;         // how long the write took (a resize: the rehash stall)
};

/// Writes knobs through a KnobStore, journaling before and after.
class Actuator {
 public:
  /// Creates an actuator writing through `knobs`, journaling in `journal` under boot `bootId`.
  Actuator(sysfs::KnobStore& knobs, Journal& journal, std::string bootId);
  /// Applies `action` in `netns` at `now`: Intent record (with `observation`), write, read
  /// back, Applied or Failed record. Never throws; never writes without the intent record.
  /// The write is timed; the outcome record carries `write_us` and the `entries_total` of
  /// `observation` (what a resize had to rehash) in its observation.
  ActionOutcome apply(const policy::Action& action, const sysfs::Netns& netns, policy::TimePoint now,
                      const nlohmann::json& observation);

 private:
  sysfs::KnobStore& knobs_;
  Journal& journal_;
  std::string bootId_;
};

}  // namespace ctpilot::controller
