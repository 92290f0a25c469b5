// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "policy/knob.h"
#include "policy/result.h"
#include "sysfs/netns.h"

namespace ctpilot::sysfs {

using policy::Knob;

/// Reads and writes conntrack knobs: the only way from ctpilot to /proc/sys and /sys.
class KnobStore {
 public:
  virtual ~KnobStore() = default;
  /// Returns the current value of `knob` in `netns` (global knobs: the global value).
  /// Errc::Missing when nf_conntrack is not loaded or the knob does not exist on this kernel.
  virtual Result<std::int64_t> read(const Netns& netns, Knob knob) const = 0;
  /// Writes `value` (global knobs from the initial netns only), reads it back and returns what
  /// the kernel kept. Errc::Refused on EACCES/EPERM/EROFS, Rejected on EINVAL; knobs outside
  /// the registry or not writable are Refused without touching the kernel.
  virtual Result<std::int64_t> write(const Netns& netns, Knob knob, std::int64_t value) = 0;
};

/// The real store over /proc/sys and /sys under a root prefix. Per-netns knobs are reached
/// through file descriptors opened inside the namespace and kept open.
class ProcKnobStore final : public KnobStore {
 public:
  /// Creates a store whose paths are prefixed with `root` ("/" in production).
  explicit ProcKnobStore(std::string root);
  ~ProcKnobStore() override;
  ProcKnobStore(const ProcKnobStore&) = delete;  // owns the descriptors it keeps open
  ProcKnobStore& operator=(const ProcKnobStore&) = delete;
  Result<std::int64_t> read(const Netns& netns, Knob knob) const override;
  Result<std::int64_t> write(const Netns& netns, Knob knob, std::int64_t value) override;
  /// Closes every descriptor held for `netns` (call when a namespace vanished).
  void forget(const Netns& netns);

 private:
  struct State;
  std::string root_;
  std::unique_ptr<State> state_;
};

}  // namespace ctpilot::sysfs
