// SPDX-License-Identifier: Apache-2.0
#pragma once
// The trace `ctpilot run` keeps when the policy names [controller] trace_file: a StatsReader that
// passes every read through and writes the sample it makes (count, max, buckets, counters) to
// the trace, so the daemon reads the kernel once per tick as before. The file is rotated into
// FILE.1 when it would grow beyond trace_max_size: at most twice that on disk. A write error is
// reported once and ends the trace; it never touches the controller's work. Nothing but a
// regular file is ever written, moved or replaced: a link, FIFO, device or directory at FILE or
// FILE.1 ends the trace with one line and is left as it is (README Safety promise 13).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "controller/replay/recorder.h"
#include "policy/policy.h"
#include "policy/unique_fd.h"
#include "sysfs/stats.h"

namespace ctpilot::controller {

/// A StatsReader that also writes every sample it passes on to a bounded, rotated trace file.
class TraceKeeper final : public sysfs::StatsReader {
 public:
  using Clock = std::function<policy::TimePoint()>;
  using Warn = std::function<void(const std::string&)>;
  /// Keeps a trace of what `inner` reads into `path`, rotating beyond `maxBytes`; `clock` stamps
  /// the samples, `warn` hears of the first write error.
  TraceKeeper(sysfs::StatsReader& inner, const sysfs::KnobStore& knobs, std::string path, std::int64_t maxBytes,
              policy::Duration interval, Clock clock, Warn warn);
  /// Reads through `inner` and, on success, appends the sample of `netns` to the trace.
  Result<sysfs::ConntrackStats> read(const sysfs::Netns& netns) override;
  /// Tells whether the trace is still being written.
  bool keeping() const { return !failed_; }

 private:
  Result<void> rotate();               // moves the file (a regular one) to FILE.1 (nothing or a regular one)
  Result<void> open();                 // starts the file with a header (moving an earlier run's to .1)
  void fail(const std::string& what);  // stops keeping the trace and says why, once

  sysfs::StatsReader& inner_;
  Recorder recorder_;
  std::string path_;
  std::int64_t maxBytes_;
  policy::Duration interval_;
  Clock clock_;
  Warn warn_;
  UniqueFd fd_;
  std::int64_t written_ = 0;
  bool failed_ = false;
};

}  // namespace ctpilot::controller
