// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the policy parser. Any text gives a policy or FILE:LINE problems, never a
// crash; a policy it accepts prints (formatPolicy) as a file it accepts again, unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/policy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto load = ctpilot::policy::parsePolicy(text, "fuzz.conf");
  for (const auto& problem : load.problems) {
    if (problem.str().empty()) std::abort();
  }
  if (!load.ok()) return 0;
  const auto printed = ctpilot::policy::formatPolicy(load.policy);
  const auto again = ctpilot::policy::parsePolicy(printed, "printed.conf");
  if (!again.ok() || ctpilot::policy::formatPolicy(again.policy) != printed) std::abort();
  return 0;
}
