// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "policy/knob.h"

using namespace ctpilot::policy;

TEST_CASE("every knob is found by its kernel name and by its policy name") {
  for (const auto& info : allKnobs()) {
    CAPTURE(info.kernelName);
    CHECK(knobByName(info.kernelName) == info.knob);
    CHECK(knobByName(policyName(info.knob)) == info.knob);
    CHECK(&knobInfo(info.knob) == &info);
  }
}

TEST_CASE("timeouts drop the nf_conntrack_ prefix in policy files, other knobs keep it") {
  CHECK(policyName(Knob::TcpTimeoutTimeWait) == "tcp_timeout_time_wait");
  CHECK(policyName(Knob::ConntrackMax) == "nf_conntrack_max");
  CHECK(kernelDefault(Knob::TcpTimeoutEstablished) == 432000);
  CHECK_FALSE(knobByName("tcp_timeout_nonsense").has_value());
  CHECK_FALSE(isTimeout(Knob::Buckets));
}

TEST_CASE("a knob's kind gives its valid range: table sizes the kernel's int, timeouts INT_MAX jiffies at HZ=1000") {
  CHECK(validRange(Knob::ConntrackMax).max == 2147483647);
  CHECK(validRange(Knob::Buckets).min == 1);
  CHECK(validRange(Knob::TcpTimeoutTimeWait).max == 2147483);
  CHECK(validRange(Knob::IcmpTimeout).min == 1);
  for (const auto& info : allKnobs()) {
    CAPTURE(info.kernelName);
    CHECK(info.timeout == (info.kind == KnobKind::Timeout));
    const auto range = validRange(info.knob);
    CHECK(range.max == (info.timeout ? kTimeoutRange.max : kTableSizeRange.max));
    if (info.timeout) CHECK((info.kernelDefault >= range.min && info.kernelDefault <= range.max));
  }
}

TEST_CASE("timeouts and the count live per netns; nf_conntrack_max and the buckets are global") {
  for (const auto& info : allKnobs()) {
    CAPTURE(info.kernelName);
    CHECK(info.scope == (info.kind == KnobKind::Limit ? KnobScope::Global : KnobScope::Netns));
  }
  CHECK(knobInfo(Knob::Count).kind == KnobKind::ReadOnly);
}
