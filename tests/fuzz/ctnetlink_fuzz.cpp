// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the ctnetlink statistics decoder. Any bytes a socket could deliver split
// into messages and decode into statistics or Errc::Malformed, never an out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sysfs/ctnetlink_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ct = ctpilot::sysfs::ctnetlink;
  // A copy of exactly `size` bytes, so ASan sees any read past the end of what was received.
  const std::vector<std::uint8_t> buffer(data, data + size);
  const std::span<const std::uint8_t> bytes(buffer);
  (void)ct::decodeCpuStats(bytes);
  (void)ct::decodeGlobalStats(bytes);
  if (auto messages = ct::splitMessages(bytes)) {
    for (const auto message : *messages) {
      (void)ct::decodeCpuStats(message);
      (void)ct::decodeGlobalStats(message);
    }
  }
  return 0;
}
