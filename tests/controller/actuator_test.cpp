// SPDX-License-Identifier: Apache-2.0
#include "controller/actuator.h"

#include <chrono>

#include <doctest/doctest.h>

#include "sysfs/sim/memory_knob_store.h"

using ctpilot::controller::ActionOutcome;
using ctpilot::controller::Actuator;
using ctpilot::controller::MemoryJournal;
using ctpilot::controller::RecordKind;
using ctpilot::policy::Action;
using ctpilot::policy::ActionKind;
using ctpilot::policy::Cause;
using ctpilot::policy::Fact;
using ctpilot::policy::Knob;
using ctpilot::policy::Reason;
using ctpilot::policy::TimePoint;
using ctpilot::sysfs::MemoryKnobStore;
using ctpilot::sysfs::Netns;

namespace {

const TimePoint kT0{std::chrono::seconds(1'800'000'000)};
const Netns kInit{"init", "", 0};

Action raise(std::int64_t from, std::int64_t to) {
  Cause trigger{Reason::HighWater, "init", std::nullopt, {}, {}};
  trigger.with(Fact::Fill, 0.9).with(Fact::HighWater, 0.8).with(Fact::Count, 900).with(Fact::Max, 1000);
  trigger.with(Fact::Growth, 0);
  return Action{ActionKind::RaiseMax, {"init", Knob::ConntrackMax}, from, to, {trigger}};
}

}  // namespace

TEST_CASE("an applied action is journaled as intent, then applied with the value the kernel kept") {
  MemoryKnobStore knobs;
  knobs.set("init", Knob::ConntrackMax, 1000);
  MemoryJournal journal;
  Actuator actuator(knobs, journal, "boot-1");
  const auto outcome = actuator.apply(raise(1000, 2000), kInit, kT0, {{"count", 900}});
  CHECK(outcome.status == ActionOutcome::Status::Applied);
  CHECK(outcome.kept == 2000);
  CHECK(knobs.read(kInit, Knob::ConntrackMax).value() == 2000);
  REQUIRE(journal.records().size() == 2);
  const auto& intent = journal.records()[0];
  const auto& applied = journal.records()[1];
  CHECK(intent.kind == RecordKind::Intent);
  CHECK(intent.oldValue == 1000);
  CHECK(intent.newValue == 2000);
  CHECK(intent.bootId == "boot-1");
  CHECK(intent.observation["count"] == 900);
  CHECK(intent.reason == "fill 0.90 >= high_water 0.80 in init (count 900, max 1000, growth 0/s)");
  CHECK(intent.cause == nlohmann::json{{"code", "high_water"},
                                       {"netns", "init"},
                                       {"fill", 0.9},
                                       {"high_water", 0.8},
                                       {"count", 900},
                                       {"max", 1000},
                                       {"growth_per_s", 0}});
  CHECK(applied.reason == intent.reason);
  CHECK(applied.cause == intent.cause);
  CHECK(applied.kind == RecordKind::Applied);
  CHECK(applied.ref == intent.id);
  CHECK(applied.newValue == 2000);
  CHECK(applied.oldValue == 1000);
  CHECK(outcome.outcomeJournaled);
}

TEST_CASE("no intent record, no write") {
  MemoryKnobStore knobs;
  knobs.set("init", Knob::ConntrackMax, 1000);
  MemoryJournal journal;
  journal.failAppends = true;
  Actuator actuator(knobs, journal, "boot-1");
  const auto outcome = actuator.apply(raise(1000, 2000), kInit, kT0, nullptr);
  CHECK(outcome.status == ActionOutcome::Status::NotJournaled);
  REQUIRE(outcome.error.has_value());
  CHECK(knobs.writes().empty());
  CHECK(knobs.read(kInit, Knob::ConntrackMax).value() == 1000);
}

TEST_CASE("a refused write is journaled as failed with the kernel's error") {
  MemoryKnobStore knobs;
  knobs.set("init", Knob::ConntrackMax, 1000);
  knobs.makeReadOnly("init", Knob::ConntrackMax);
  MemoryJournal journal;
  Actuator actuator(knobs, journal, "boot-1");
  const auto outcome = actuator.apply(raise(1000, 2000), kInit, kT0, nullptr);
  CHECK(outcome.status == ActionOutcome::Status::Failed);
  REQUIRE(outcome.error.has_value());
  CHECK(outcome.error->code == ctpilot::Errc::Refused);
  REQUIRE(journal.records().size() == 2);
  CHECK(journal.records()[1].kind == RecordKind::Failed);
  CHECK(journal.records()[1].ref == journal.records()[0].id);
  CHECK(journal.records()[1].error.find("Read-only") != std::string::npos);
}

TEST_CASE("every write is timed and the outcome record carries its duration and the entries it rehashed") {
  MemoryKnobStore knobs;
  knobs.set("init", Knob::Buckets, 16'384);
  MemoryJournal journal;
  Actuator actuator(knobs, journal, "boot-1");
  const Action resize{ActionKind::ResizeBuckets,
                      {"init", Knob::Buckets},
                      16'384,
                      65'536,
                      {Cause{Reason::Presize, "", std::nullopt, {}, {}}}};
  const auto outcome = actuator.apply(resize, kInit, kT0, {{"count", 900}, {"entries_total", 1'200}});
  REQUIRE(outcome.status == ActionOutcome::Status::Applied);
  CHECK(outcome.writeMicros >= 0);
  const auto& applied = journal.records().back();
  CHECK(applied.kind == RecordKind::Applied);
  REQUIRE(applied.observation.contains("write_us"));
  CHECK(applied.observation["write_us"].get<std::int64_t>() >= 0);
  CHECK(applied.observation["entries"] == 1'200);
}
