// SPDX-License-Identifier: Apache-2.0
#include "controller/cli/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace ctpilot::controller {
namespace {

// %* in a pattern: the sd-daemon priority prefix of the message's level.
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = journalPrefix(static_cast<int>(msg.level));
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<PriorityFlag>(); }
};

}  // namespace

bool streamIsJournal(const char* journalStream, int fd) {
  if (journalStream == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(journalStream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

const char* journalPrefix(int spdlogLevel) {
  switch (static_cast<spdlog::level::level_enum>(spdlogLevel)) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "<7>";
    case spdlog::level::info: return "<6>";
    case spdlog::level::warn: return "<4>";
    case spdlog::level::err: return "<3>";
    case spdlog::level::critical: return "<2>";
    default: return "<6>";
  }
}

Result<void> setupLogging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off"; only accept "off" when asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return Error{Errc::Rejected,
                 "--log-level " + level + ": not a level (use trace, debug, info, warn, error, critical or off)"};
  }
  auto logger = spdlog::stderr_color_mt("ctpilot");
  if (streamIsJournal(std::getenv("JOURNAL_STREAM"), STDERR_FILENO)) {
    // journald reads the <N> prefix as the priority (journalctl -p warning) and adds its own
    // timestamp.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%l: %v");
    logger->set_formatter(std::move(formatter));
  } else {
    // Also under systemd with stderr redirected elsewhere (JOURNAL_STREAM inherited by a
    // shell, `ctpilot ... 2>file` from a unit): nothing adds a timestamp there.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$: %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace ctpilot::controller
