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
