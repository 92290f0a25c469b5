// SPDX-License-Identifier: Apache-2.0
#include "sysfs/knob_registry.h"

namespace ctpilot::sysfs {
namespace {

// Every knob ctpilot may touch: one entry per row of CTPILOT_KNOBS (policy/knob.h), the path
// named after the kernel name. The kernel keeps nf_conntrack_max and the bucket count global
// (writable only from the initial netns); count and timeouts exist per netns.
constexpr RegistryEntry kRegistry[] = {
#define CTPILOT_REGISTRY_ENTRY(name, kernel, scope, kind, kernelDefault)     \
  RegistryEntry{Knob::name, "/proc/sys/net/netfilter/" kernel, Scope::scope, \
                policy::KnobKind::kind != policy::KnobKind::ReadOnly},
    CTPILOT_KNOBS(CTPILOT_REGISTRY_ENTRY)
#undef CTPILOT_REGISTRY_ENTRY
};

}  // namespace

const RegistryEntry& registryEntry(Knob knob) { return kRegistry[static_cast<std::size_t>(knob)]; }

}  // namespace ctpilot::sysfs
