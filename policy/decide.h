// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/observation.h"
#include "policy/policy.h"

namespace ctpilot::policy {

/// Decides what to change now. Pure and deterministic: the same inputs give the same plan.
/// Every action respects the safety promises (ceiling, memory budget, baseline, count margin,
/// floors, cooldowns, holds, externally changed knobs) and carries its reasons as data (policy/reason.h);
/// so does every note on a change held back.
Plan decide(const Policy& policy, const Observation& obs, const History& history);

/// Updates history.calmSince from obs: sets a netns' entry when its fill first drops under
/// relax_below, erases it when fill is back at or above. Call before decide() each tick.
void updateCalm(const Policy& policy, const Observation& obs, History& history);

/// Returns the effective ceiling for nf_conntrack_max: min(ceiling, memory budget / entryBytes),
/// but never below the baseline.
std::int64_t effectiveCeiling(const Policy& policy, const Observation& obs);

/// Returns the entries memory_budget of MemTotal holds at obs.entryBytes each, in all namespaces
/// together; 0 when MemTotal or the entry size is unknown.
std::int64_t memoryCapEntries(const Policy& policy, const Observation& obs);

}  // namespace ctpilot::policy
