// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/trace_keeper.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <sstream>
#include <utility>

#include "controller/written_file.h"

namespace ctpilot::controller {

TraceKeeper::TraceKeeper(sysfs::StatsReader& inner, const sysfs::KnobStore& knobs, std::string path,
                         std::int64_t maxBytes, policy::Duration interval, Clock clock, Warn warn)
    : inner_(inner),
      // The keeper never discovers namespaces: it records the ones the controller reads.
      recorder_(knobs, inner, {}, policy::NetnsSelector{}),
      path_(std::move(path)),
      maxBytes_(maxBytes),
      interval_(interval),
      clock_(std::move(clock)),
      warn_(std::move(warn)) {}

void TraceKeeper::fail(const std::string& what) {
  failed_ = true;
  fd_.reset();
  if (warn_) warn_("not keeping the trace any more: " + what);
}

Result<void> TraceKeeper::rotate() {
  // Only a regular file is moved, and only over a regular file (or nothing): a directory,
  // device, FIFO or symbolic link at either name is left as it is (README Safety promise 13).
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0 && errno == ENOENT) return {};  // nothing to move
  if (auto here = checkReplaceable(path_); !here) return here.error();
  if (auto there = checkReplaceable(path_ + ".1"); !there) return there.error();
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT) {
    return errnoError(errno, "rotating " + path_ + " into " + path_ + ".1");
  }
  return {};
}

Result<void> TraceKeeper::open() {
  // Appending to an earlier run's trace would join two recordings: start afresh, keep the old
  // one as FILE.1. The new file is created with O_EXCL, never through a link.
  if (auto rotated = rotate(); !rotated) return rotated.error();
  auto fd = openWrittenFile(path_, ExistingFile::Refuse);
  if (!fd) return fd.error();
  Trace header;
  header.interval = interval_;
  std::ostringstream text;
  writeTraceHeader(text, header);
  if (auto written = writeAll(fd->get(), text.str(), path_); !written) return written.error();
  fd_ = std::move(*fd);
  written_ = static_cast<std::int64_t>(text.str().size());
  return {};
}

Result<sysfs::ConntrackStats> TraceKeeper::read(const sysfs::Netns& netns) {
  auto stats = inner_.read(netns);
  if (!stats || failed_) return stats;
  const auto sample = recorder_.sampleWith(netns, *stats, clock_());
  if (!sample) return stats;  // the controller says what it could not read
  std::ostringstream line;
  writeTraceSample(line, *sample);
  const auto bytes = static_cast<std::int64_t>(line.str().size());
  if (fd_ && written_ + bytes > maxBytes_) fd_.reset();  // the next open moves it to FILE.1
  if (!fd_) {
    if (auto opened = open(); !opened) {
      fail(opened.error().what);
      return stats;
    }
  }
  if (auto written = writeAll(fd_.get(), line.str(), path_); !written) {
    fail(written.error().what + " (disk full?)");
    return stats;
  }
  written_ += bytes;
  return stats;
}

}  // namespace ctpilot::controller
