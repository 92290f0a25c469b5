// SPDX-License-Identifier: Apache-2.0
#pragma once
// A knob store in memory, for tests and dry reasoning: same rules as the real store
// (registry only, global knobs written from the initial netns only) without a kernel.

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "sysfs/knob_store.h"

namespace ctpilot::sysfs {

/// Holds knob values per (netns name, knob); global knobs are stored once under "init".
class MemoryKnobStore final : public KnobStore {
 public:
  Result<std::int64_t> read(const Netns& netns, Knob knob) const override;
  Result<std::int64_t> write(const Netns& netns, Knob knob, std::int64_t value) override;

  /// Sets a value directly, as the kernel or an operator would (not counted as a write).
  void set(const std::string& netns, Knob knob, std::int64_t value);
  /// Makes writes of `knob` in `netns` fail with Errc::Refused (as EROFS would).
  void makeReadOnly(const std::string& netns, Knob knob);
  /// Makes reads and writes of `knob` fail with Errc::Missing (module not loaded).
  void makeMissing(Knob knob);
  /// Returns the writes that reached the store, in order: (netns, knob, value).
  struct Write {
    std::string netns;
    Knob knob;
    std::int64_t value;
  };
  const std::vector<Write>& writes() const { return writes_; }

 private:
  static std::string keyNetns(const Netns& netns, Knob knob);
  std::map<std::pair<std::string, Knob>, std::int64_t> values_;
  std::set<std::pair<std::string, Knob>> readOnly_;
  std::set<Knob> missing_;
  std::vector<Write> writes_;
};

}  // namespace ctpilot::sysfs
