// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <string>

#include "sysfs/knob_registry.h"

using namespace ctpilot;

TEST_CASE("the registry has one entry per knob, at the path named after the kernel name") {
  for (const auto& info : policy::allKnobs()) {
    const auto& entry = sysfs::registryEntry(info.knob);
    CAPTURE(info.kernelName);
    CHECK(entry.knob == info.knob);
    CHECK(std::string(entry.path) == "/proc/sys/net/netfilter/" + std::string(info.kernelName));
  }
}

TEST_CASE("nf_conntrack_max and buckets are global, count is read-only, timeouts are per netns") {
  CHECK(sysfs::registryEntry(policy::Knob::ConntrackMax).scope == sysfs::Scope::Global);
  CHECK(sysfs::registryEntry(policy::Knob::Buckets).scope == sysfs::Scope::Global);
  CHECK_FALSE(sysfs::registryEntry(policy::Knob::Count).writable);
  CHECK(sysfs::registryEntry(policy::Knob::TcpTimeoutTimeWait).scope == sysfs::Scope::Netns);
}

TEST_CASE("the registry takes scope and writability from the knob's row") {
  for (const auto& info : policy::allKnobs()) {
    const auto& entry = sysfs::registryEntry(info.knob);
    CAPTURE(info.kernelName);
    CHECK(entry.scope == info.scope);
    CHECK(entry.writable == (info.kind != policy::KnobKind::ReadOnly));
  }
}
