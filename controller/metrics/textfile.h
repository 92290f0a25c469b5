// SPDX-License-Identifier: Apache-2.0
#pragma once
// The metrics as a file for node_exporter's textfile collector, replaced atomically so that a
// scrape never reads half a file.

#include <string>

#include "policy/result.h"

namespace ctpilot::controller::metrics {

/// Writes `content` to `path` through a temporary file in the same directory and a rename;
/// the file is mode 0644 (node_exporter runs as its own user).
Result<void> writeTextfile(const std::string& path, const std::string& content);

}  // namespace ctpilot::controller::metrics
