// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the Prometheus answer reader (simulate --trace with query_range answers,
// simulate --prometheus). Any bytes give traces or one error line, never a crash, a hang or
// memory beyond the points kept: the error has no newline and no raw control byte (it quotes
// the input escaped), every trace has at least two samples in time order with counts and
// limits a 32-bit kernel value holds, and every Prometheus warning kept is escaped too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/replay/prometheus_import.h"

namespace {

bool printableLine(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace cc = ctpilot::controller;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto fleet = cc::importPrometheusFleet({{"answer.json", text}});
  if (!fleet) {
    if (fleet.error().what.empty() || !printableLine(fleet.error().what)) std::abort();
    return 0;
  }
  if (fleet->instances.empty()) std::abort();
  for (const auto& warning : fleet->warnings) {
    if (!printableLine(warning)) std::abort();
  }
  for (const auto& instance : fleet->instances) {
    const auto& samples = instance.trace.samples;
    if (samples.size() < 2) std::abort();
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (i > 0 && samples[i].time < samples[i - 1].time) std::abort();
      if (samples[i].count < 0 || samples[i].count > 4294967295LL || samples[i].max < 0 ||
          samples[i].max > 4294967295LL)
        std::abort();
    }
  }
  return 0;
}
