// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the metrics endpoint's request parser (controller/metrics/http_request).
// Any bytes give a verdict, never a crash; a verdict given is final (more bytes do not change
// it); the head is complete once the limit is reached; a complete verdict is one the endpoint
// has an answer for.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/metrics/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using ctpilot::controller::metrics::parseRequestHead;
  using ctpilot::controller::metrics::statusLine;
  if (size == 0) return 0;
  // The first byte picks where the bytes are cut into what arrived first and what came later.
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t limit = 1 + data[0] % 64 * 8;
  const auto whole = parseRequestHead(bytes, limit);
  if (bytes.size() >= limit && !whole.complete) std::abort();
  if (whole.complete && statusLine(whole.status).rfind("500", 0) == 0) std::abort();
  for (std::size_t cut = 0; cut <= bytes.size(); cut += 1 + bytes.size() / 16) {
    const auto first = parseRequestHead(bytes.substr(0, cut), limit);
    if (first.complete && (first.status != whole.status || first.headOnly != whole.headOnly)) std::abort();
  }
  return 0;
}
