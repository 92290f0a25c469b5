#include "controller/replay/trace_keeper.h"

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <utility>

namespace ctpilot::controller {

TraceKeeper::TraceKeeper(sysfs::StatsReader& inner, const sysfs::KnobStore& knobs, std::string path, std::int64_t maxBytes,
                         policy::Duration interval, Clock clock, Warn warn)
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
  out_.close();
  if (warn_) warn_("not keeping the trace any more: " + what);
}

bool TraceKeeper::open() {
  std::error_code ec;
  // Appending to an earlier run's trace would join two recordings: start afresh, keep the old one.
  if (!out_.is_open() && std::filesystem::exists(path_, ec)) std::filesystem::rename(path_, path_ + ".1", ec);
  out_.open(path_, std::ios::trunc);
  if (!out_) return false;
  Trace header;
  header.interval = interval_;
  std::ostringstream text;
  writeTraceHeader(text, header);
  out_ << text.str();
  written_ = static_cast<std::int64_t>(text.str().size());
  return static_cast<bool>(out_);
}

Result<sysfs::ConntrackStats> TraceKeeper::read(const sysfs::Netns& netns) {
  auto stats = inner_.read(netns);
  if (!stats || failed_) return stats;
  const auto sample = recorder_.sampleWith(netns, *stats, clock_());
  if (!sample) return stats;  // the controller says what it could not read
  std::ostringstream line;
  writeTraceSample(line, *sample);
  const auto bytes = static_cast<std::int64_t>(line.str().size());
  if (out_.is_open() && written_ + bytes > maxBytes_) {
    out_.close();
    std::error_code ec;
    std::filesystem::rename(path_, path_ + ".1", ec);
    if (ec) {
      fail("rotating " + path_ + ": " + ec.message());
      return stats;
    }
  }
  if (!out_.is_open() && !open()) {
    fail("cannot write " + path_ + "; check the directory exists and is writable");
    return stats;
  }
  out_ << line.str();
  out_.flush();
  if (!out_) {
    fail("writing " + path_ + " failed (disk full?)");
    return stats;
  }
  written_ += bytes;
  return stats;
}

}  // namespace ctpilot::controller
