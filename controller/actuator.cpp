// SPDX-License-Identifier: Apache-2.0
#include "controller/actuator.h"

#include <chrono>
#include <utility>

namespace ctpilot::controller {

Actuator::Actuator(sysfs::KnobStore& knobs, Journal& journal, std::string bootId)
    : knobs_(knobs), journal_(journal), bootId_(std::move(bootId)) {}

ActionOutcome Actuator::apply(const policy::Action& action, const sysfs::Netns& netns, policy::TimePoint now,
                              const nlohmann::json& observation) {
  ActionOutcome outcome;
  outcome.action = action;

  auto intent = actionRecord(RecordKind::Intent, now, bootId_, action);
  intent.observation = observation;
  auto stored = journal_.append(std::move(intent));
  if (!stored) {
    // Rollback must always be able to undo what we did: without the record, no write.
    outcome.status = ActionOutcome::Status::NotJournaled;
    outcome.error = stored.error();
    return outcome;
  }
  outcome.intentId = stored->id;

  // A steady clock, not `now`: this measures the write itself (a resize rehashes every entry).
  const auto started = std::chrono::steady_clock::now();
  auto written = knobs_.write(netns, action.ref.knob, action.to);
  outcome.writeMicros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
  // Kind and new value follow from the write below.
  auto result = actionRecord(RecordKind::Applied, now, bootId_, action);
  result.ref = outcome.intentId;
  result.observation = nlohmann::json{{"write_us", static_cast<std::int64_t>(outcome.writeMicros)}};
  if (observation.is_object() && observation.contains("entries_total")) {
    result.observation["entries"] = observation["entries_total"];
  }
  if (written) {
    // Read back on our own: the kernel may round or clamp (buckets), and the journal must hold
    // the value that is really there, since rollback and external-change detection compare with it.
    const auto readBack = knobs_.read(netns, action.ref.knob);
    outcome.kept = readBack ? *readBack : *written;
    outcome.status = ActionOutcome::Status::Applied;
    result.kind = RecordKind::Applied;
    result.newValue = outcome.kept;
  } else {
    outcome.status = ActionOutcome::Status::Failed;
    outcome.error = written.error();
    result.kind = RecordKind::Failed;
    result.newValue = action.to;
    result.error = written.error().what;
  }
  outcome.outcomeJournaled = static_cast<bool>(journal_.append(std::move(result)));
  return outcome;
}

}  // namespace ctpilot::controller
