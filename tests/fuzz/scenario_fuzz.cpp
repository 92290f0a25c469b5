// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the scenario parser and the simulated kernel behind it. Any text gives a
// scenario or FILE:LINE problems; a scenario it accepts runs for a few simulated seconds
// without overflow (UBSan) whatever its rates, sizes and timeouts.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sysfs/sim/scenario.h"
#include "sysfs/sim/sim_kernel.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace std::chrono_literals;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto load = ctpilot::sysfs::parseScenario(text, "fuzz.scenario");
  if (!load.ok()) return 0;
  // Long warmups and durations are valid but slow; a few seconds exercise every computation.
  auto& scenario = load.scenario;
  scenario.warmup = std::min<ctpilot::sysfs::SimDuration>(scenario.warmup, 3s);
  auto kernel = ctpilot::sysfs::SimKernel::fromScenario(scenario);
  kernel->advance(std::min<ctpilot::sysfs::SimDuration>(scenario.duration, 3s));
  return 0;
}
