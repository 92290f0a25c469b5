// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the trace reader (simulate --trace). Any bytes give a trace or one
// "FILE:LINE: message" error of printable characters, never an abort (1e400), a stack overflow
// (100,000 nested brackets) or an overflow; every sample it accepts is in range
// (checkTraceSample), writes back as a trace that reads back the same, and turns into demand
// without error or overflow (UBSan).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "controller/journal/journal.h"
#include "controller/replay/replay.h"
#include "controller/replay/trace.h"

namespace ctpilot::controller {
namespace {

bool printableText(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace
}  // namespace ctpilot::controller

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ctpilot::controller;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  const auto trace = parseTrace(in, "fuzz.jsonl");
  if (!trace) {
    const auto& what = trace.error().what;
    if (what.rfind("fuzz.jsonl", 0) != 0 || !printableText(what)) std::abort();
    return 0;
  }
  for (const auto& warning : trace->warnings) {
    if (!printableText(warning)) std::abort();
  }
  std::ostringstream out;
  writeTraceHeader(out, *trace);
  for (const auto& sample : trace->samples) {
    if (!checkTraceSample(sample)) std::abort();
    writeTraceSample(out, sample);
  }
  std::istringstream back(out.str());
  const auto again = parseTrace(back, "printed.jsonl");
  if (!again || again->samples.size() != trace->samples.size() || !again->warnings.empty()) std::abort();
  for (std::size_t i = 0; i < trace->samples.size(); ++i) {
    const auto& a = trace->samples[i];
    const auto& b = again->samples[i];
    if (std::chrono::floor<std::chrono::milliseconds>(a.time) != b.time || a.netns != b.netns || a.count != b.count ||
        a.max != b.max || a.buckets != b.buckets || a.counters != b.counters) {
      std::abort();
    }
  }
  (void)demandFromTrace(*trace);  // an error (a missing counter) or demand; UBSan watches the arithmetic
  return 0;
}
