// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include "controller/metrics/snapshot.h"

using ctpilot::controller::TickReport;
using ctpilot::controller::metrics::exposition;
using ctpilot::controller::metrics::MetricsRecorder;
using ctpilot::controller::metrics::MetricsSnapshot;
using ctpilot::controller::metrics::NetnsMetrics;
using ctpilot::policy::Knob;
using ctpilot::policy::KnobRef;
using ctpilot::sysfs::CpuCounters;
namespace cc = ctpilot::controller;

namespace {

bool has(const std::string& text, const std::string& line) {
  CAPTURE(text);
  CAPTURE(line);
  return text.find(line + "\n") != std::string::npos;
}

TickReport reportWith(std::int64_t count, std::uint32_t drops0, std::uint32_t drops1) {
  TickReport report;
  report.sampled = true;
  report.now = ctpilot::policy::TimePoint{std::chrono::seconds(1'800'000'000)};
  report.observation.max = 1000;
  report.observation.buckets = 250;
  report.observation.memTotalBytes = 1LL << 30;
  ctpilot::policy::NetnsObservation n;
  n.netns = "gw";
  n.count = count;
  n.growthPerSec = 5;
  n.timeouts[Knob::TcpTimeoutTimeWait] = 120;
  report.observation.netns.push_back(n);
  report.estimates["gw"].secondsToFull = 80.0;
  report.counters["gw"] = {CpuCounters{.drop = drops0, .insert = 10}, CpuCounters{.drop = drops1}};
  report.knobStates[KnobRef{"init", Knob::ConntrackMax}] = "managed";
  report.knobStates[KnobRef{"gw", Knob::TcpTimeoutTimeWait}] = "external";
  return report;
}

}  // namespace

TEST_CASE("the exposition shows each netns, the global knobs and why a knob is unmanaged") {
  MetricsRecorder recorder;
  recorder.record(reportWith(600, 3, 4), ctpilot::policy::Policy{}, 1'800'000'000.5, 0.002, false);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text, "# TYPE ctpilot_conntrack_entries gauge"));
  CHECK(has(text, "ctpilot_conntrack_entries{netns=\"gw\"} 600"));
  CHECK(has(text, "ctpilot_conntrack_fill_ratio{netns=\"gw\"} 0.6"));
  CHECK(has(text, "ctpilot_conntrack_growth_per_second{netns=\"gw\"} 5"));
  CHECK(has(text, "ctpilot_conntrack_seconds_to_full{netns=\"gw\"} 80"));
  CHECK(has(text, "# TYPE ctpilot_conntrack_drop_total counter"));
  CHECK(has(text, "ctpilot_conntrack_drop_total{netns=\"gw\"} 7"));
  CHECK(has(text, "ctpilot_conntrack_insert_total{netns=\"gw\"} 10"));
  CHECK(
      has(text, "ctpilot_conntrack_timeout_seconds{netns=\"gw\",timeout=\"nf_conntrack_tcp_timeout_time_wait\"} 120"));
  CHECK(has(text, "ctpilot_conntrack_max 1000"));
  CHECK(has(text, "ctpilot_conntrack_buckets 250"));
  CHECK(has(text, "ctpilot_knob_managed{knob=\"nf_conntrack_max\",netns=\"init\"} 1"));
  CHECK(has(text, "ctpilot_knob_managed{knob=\"nf_conntrack_tcp_timeout_time_wait\",netns=\"gw\"} 0"));
  CHECK(has(text,
            "ctpilot_knob_unmanaged{knob=\"nf_conntrack_tcp_timeout_time_wait\",netns=\"gw\",reason=\"external\"} 1"));
  CHECK(has(text, "ctpilot_dry_run 0"));
  CHECK(has(text, "ctpilot_last_reload_success 1"));
  CHECK(text.find("ctpilot_build_info{revision=\"") != std::string::npos);
}

TEST_CASE("the effective ceiling is the lower of the ceiling and what the memory budget holds") {
  MetricsRecorder recorder;
  ctpilot::policy::Policy policy;
  policy.max.ceiling = 1'000'000;
  auto report = reportWith(600, 0, 0);
  report.observation.entryBytes = 1024;  // 25% of 1 GiB / 1 KiB = 262144
  recorder.record(report, policy, 0, 0, false);
  const auto text = exposition(recorder.snapshot());
  CAPTURE(text);
  CHECK(has(text, "ctpilot_conntrack_max_effective_ceiling 262144"));
}

TEST_CASE("a table that is not growing is +Inf seconds from full") {
  MetricsRecorder recorder;
  auto report = reportWith(600, 0, 0);
  report.estimates["gw"].secondsToFull.reset();
  recorder.record(report, ctpilot::policy::Policy{}, 0, 0, false);
  CHECK(has(exposition(recorder.snapshot()), "ctpilot_conntrack_seconds_to_full{netns=\"gw\"} +Inf"));
}

TEST_CASE("kernel counters keep counting up when a 32-bit per-CPU counter wraps") {
  MetricsRecorder recorder;
  recorder.record(reportWith(600, 0xFFFFFFF0U, 0), ctpilot::policy::Policy{}, 0, 0, false);
  recorder.record(reportWith(600, 0x10U, 0), ctpilot::policy::Policy{}, 1, 0, false);
  CHECK(recorder.snapshot().netns.at(0).counters.drop == 0xFFFFFFF0ULL + 0x20ULL);
}

TEST_CASE("changes are counted by knob, netns and outcome across ticks") {
  MetricsRecorder recorder;
  auto report = reportWith(600, 0, 0);
  cc::ActionOutcome applied;
  applied.action.kind = ctpilot::policy::ActionKind::RaiseMax;
  applied.action.ref = KnobRef{"init", Knob::ConntrackMax};
  applied.status = cc::ActionOutcome::Status::Applied;
  report.applied.push_back(applied);
  recorder.record(report, ctpilot::policy::Policy{}, 0, 0, false);
  recorder.record(report, ctpilot::policy::Policy{}, 1, 0, false);
  report.applied.clear();
  report.failed.push_back(applied);
  recorder.record(report, ctpilot::policy::Policy{}, 2, 0, false);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text, "ctpilot_changes_total{knob=\"nf_conntrack_max\",netns=\"init\",outcome=\"applied\"} 2"));
  CHECK(has(text, "ctpilot_changes_total{knob=\"nf_conntrack_max\",netns=\"init\",outcome=\"failed\"} 1"));
}

TEST_CASE("a failed reload and a dry run show in the metrics") {
  MetricsRecorder recorder;
  recorder.reloaded(false);
  recorder.record(reportWith(600, 0, 0), ctpilot::policy::Policy{}, 1'800'000'000, 0, true);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text, "ctpilot_last_reload_success 0"));
  CHECK(has(text, "ctpilot_dry_run 1"));
  CHECK(has(text, "ctpilot_last_tick_timestamp_seconds 1800000000"));
}

TEST_CASE("every knob read shows its changes at 0 for each outcome before the first change") {
  MetricsRecorder recorder;
  recorder.record(reportWith(600, 0, 0), ctpilot::policy::Policy{}, 0, 0, false);
  const auto text = exposition(recorder.snapshot());
  for (const char* outcome : {"applied", "failed", "planned"}) {
    CAPTURE(outcome);
    CHECK(has(text, std::string("ctpilot_changes_total{knob=\"nf_conntrack_max\",netns=\"init\",outcome=\"") + outcome +
                        "\"} 0"));
    CHECK(has(text, std::string("ctpilot_changes_total{knob=\"nf_conntrack_tcp_timeout_time_wait\",netns=\"gw\","
                                "outcome=\"") +
                        outcome + "\"} 0"));
  }
}

TEST_CASE("a dry run counts its planned changes, so a fleet in dry run shows what it would do") {
  MetricsRecorder recorder;
  auto report = reportWith(600, 0, 0);
  ctpilot::policy::Action planned;
  planned.kind = ctpilot::policy::ActionKind::RaiseMax;
  planned.ref = KnobRef{"init", Knob::ConntrackMax};
  report.planned.push_back(planned);
  recorder.record(report, ctpilot::policy::Policy{}, 0, 0, true);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text, "ctpilot_changes_total{knob=\"nf_conntrack_max\",netns=\"init\",outcome=\"planned\"} 1"));
  CHECK(has(text, "ctpilot_changes_total{knob=\"nf_conntrack_max\",netns=\"init\",outcome=\"applied\"} 0"));
}

TEST_CASE("the zero counts of a namespace no longer watched go; counts above zero stay") {
  MetricsRecorder recorder;
  auto report = reportWith(600, 0, 0);
  ctpilot::policy::Action planned;
  planned.kind = ctpilot::policy::ActionKind::ShortenTimeout;
  planned.ref = KnobRef{"gw", Knob::TcpTimeoutTimeWait};
  report.planned.push_back(planned);
  recorder.record(report, ctpilot::policy::Policy{}, 0, 0, true);
  report.planned.clear();
  report.knobStates.erase(KnobRef{"gw", Knob::TcpTimeoutTimeWait});  // gw deleted
  recorder.record(report, ctpilot::policy::Policy{}, 1, 0, true);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text,
            "ctpilot_changes_total{knob=\"nf_conntrack_tcp_timeout_time_wait\",netns=\"gw\",outcome=\"planned\"} 1"));
  CHECK(text.find("netns=\"gw\",outcome=\"applied\"") == std::string::npos);
}

TEST_CASE("decisions held back are counted by reason code, once per tick while held; warnings are not") {
  using ctpilot::policy::ActionKind;
  using ctpilot::policy::Cause;
  using ctpilot::policy::Note;
  using ctpilot::policy::Reason;
  const KnobRef max{"init", Knob::ConntrackMax};
  const auto cause = [](Reason code) { return Cause{code, "gw", std::nullopt, {}, {}}; };
  MetricsRecorder recorder;
  auto report = reportWith(600, 0, 0);
  report.plan.notes = {Note{ActionKind::RaiseMax, max, {cause(Reason::HighWater)}, cause(Reason::MemoryBudget), {}},
                       Note{ActionKind::ShortenTimeout, std::nullopt, {}, cause(Reason::TimeoutsOff), {}},
                       Note{std::nullopt, std::nullopt, {}, cause(Reason::UnwatchedNamespaces), {}}};
  recorder.record(report, ctpilot::policy::Policy{}, 0, 0, false);
  report.plan.notes.pop_back();
  report.plan.notes.pop_back();
  recorder.record(report, ctpilot::policy::Policy{}, 1, 0, false);
  const auto text = exposition(recorder.snapshot());
  CHECK(has(text, "ctpilot_decisions_held_total{reason=\"memory_budget\"} 2"));
  CHECK(has(text, "ctpilot_decisions_held_total{reason=\"timeouts_off\"} 1"));
  CHECK(text.find("unwatched_namespaces") == std::string::npos);
}
