// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "policy/result.h"

namespace ctpilot::controller {

/// Configures spdlog once: stderr, level from --log-level (trace|debug|info|warn|error|critical|off);
/// under journald (JOURNAL_STREAM names stderr) each line starts with its sd-daemon(3) priority
/// ("<4>" for warn) and the timestamp is left out. Errc::Rejected on a bad level.
Result<void> setupLogging(const std::string& level);

/// Tells whether `journalStream` ("DEV:INODE", from JOURNAL_STREAM) names the file open on
/// `fd` (systemd connected it to the journal).
bool streamIsJournal(const char* journalStream, int fd);

/// Returns the sd-daemon(3) priority prefix for an spdlog level: "<7>" debug and trace,
/// "<6>" info, "<4>" warn, "<3>" error, "<2>" critical.
const char* journalPrefix(int spdlogLevel);

}  // namespace ctpilot::controller
