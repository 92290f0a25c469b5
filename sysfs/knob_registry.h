// SPDX-License-Identifier: Apache-2.0
#pragma once
// The registry of knobs ctpilot may read or write. Nothing outside it is ever written:
// a policy names knobs, never paths.

#include <string_view>

#include "policy/knob.h"

namespace ctpilot::sysfs {

using policy::Knob;

/// Where the kernel keeps a knob (policy/knob.h).
using Scope = policy::KnobScope;

/// Where one knob lives and whether ctpilot may write it.
struct RegistryEntry {
  Knob knob;
  std::string_view path;  // absolute kernel path, without the --root prefix
  Scope scope;
  bool writable;  // nf_conntrack_count is read-only
};

/// Returns the registry entry of `knob`.
const RegistryEntry& registryEntry(Knob knob);

}  // namespace ctpilot::sysfs
