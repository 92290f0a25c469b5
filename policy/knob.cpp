// SPDX-License-Identifier: Apache-2.0
#include "policy/knob.h"

namespace ctpilot::policy {
namespace {

constexpr std::string_view kPrefix = "nf_conntrack_";

}  // namespace

std::span<const KnobInfo> allKnobs() { return kKnobs; }

const KnobInfo& knobInfo(Knob knob) { return kKnobs[static_cast<std::size_t>(knob)]; }

std::string_view kernelName(Knob knob) { return knobInfo(knob).kernelName; }

std::string_view policyName(Knob knob) {
  const auto& info = knobInfo(knob);
  return info.timeout ? info.kernelName.substr(kPrefix.size()) : info.kernelName;
}

std::optional<Knob> knobByName(std::string_view name) {
  for (const auto& info : kKnobs) {
    if (info.kernelName == name || policyName(info.knob) == name) return info.knob;
  }
  return std::nullopt;
}

bool isTimeout(Knob knob) { return knobInfo(knob).timeout; }

std::int64_t kernelDefault(Knob knob) { return knobInfo(knob).kernelDefault; }

}  // namespace ctpilot::policy
