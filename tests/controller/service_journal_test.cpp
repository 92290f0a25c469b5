// SPDX-License-Identifier: Apache-2.0
// Each applied change goes to the systemd journal with fields an operator can filter on
// (README "Logs"): journalctl CTPILOT_KNOB=nf_conntrack_max.

#include <doctest/doctest.h>

#include <algorithm>

#include "controller/service_notify.h"

namespace cc = ctpilot::controller;
using ctpilot::policy::Knob;

TEST_CASE("an applied change becomes journald fields naming knob, netns, old, new and the journal record") {
  cc::ActionOutcome outcome;
  outcome.action.kind = ctpilot::policy::ActionKind::RaiseMax;
  outcome.action.ref = {"gw", Knob::ConntrackMax};
  outcome.action.from = 65536;
  outcome.action.to = 131072;
  outcome.action.because = {ctpilot::policy::Cause{ctpilot::policy::Reason::Lookahead, "gw", std::nullopt, {}, {}}};
  outcome.status = cc::ActionOutcome::Status::Applied;
  outcome.kept = 131072;
  outcome.intentId = 42;
  const auto fields = cc::changeJournalFields(outcome);
  const auto has = [&](const std::string& field) {
    return std::find(fields.begin(), fields.end(), field) != fields.end();
  };
  CHECK(has("CTPILOT_KNOB=nf_conntrack_max"));
  CHECK(has("CTPILOT_NETNS=gw"));
  CHECK(has("CTPILOT_OLD=65536"));
  CHECK(has("CTPILOT_NEW=131072"));
  CHECK(has("CTPILOT_JOURNAL_ID=42"));
  CHECK(has("PRIORITY=6"));
  CHECK(std::any_of(fields.begin(), fields.end(), [](const std::string& f) {
    return f.starts_with("MESSAGE=") && f.find("65536 -> 131072") != std::string::npos;
  }));
}
