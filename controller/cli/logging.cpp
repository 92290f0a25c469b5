#include "controller/cli/logging.h"

#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace ctpilot::controller {

Result<void> setupLogging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off"; only accept "off" when asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return Error{Errc::Rejected, "--log-level " + level +
                                     ": not a level (use trace, debug, info, warn, error, critical or off)"};
  }
  auto logger = spdlog::stderr_color_mt("ctpilot");
  // journald adds its own timestamp; a second one only wastes width.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    logger->set_pattern("%^%l%$: %v");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$: %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace ctpilot::controller
