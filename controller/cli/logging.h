#pragma once

#include <string>

#include "policy/result.h"

namespace ctpilot::controller {

/// Configures spdlog once: stderr, level from --log-level (trace|debug|info|warn|error|critical|off);
/// under systemd (JOURNAL_STREAM set) the timestamp is left out. Errc::Rejected on a bad level.
Result<void> setupLogging(const std::string& level);

}  // namespace ctpilot::controller
