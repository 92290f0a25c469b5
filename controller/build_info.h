// SPDX-License-Identifier: Apache-2.0
#pragma once
// What this binary is: version, source revision and build date. `ctpilot --version` prints
// them; anything that reports on the running binary (metrics, status) takes them from here.

#include <string_view>

namespace ctpilot::controller {

/// The binary's identity, fixed at build time.
struct BuildInfo {
  std::string_view version;   // the project version, e.g. "0.1.0"
  std::string_view revision;  // `git describe --always --dirty --tags` of the source tree, or "unknown"
  std::string_view date;      // build date, YYYY-MM-DD UTC (SOURCE_DATE_EPOCH when set)
};

/// The build information of this binary.
const BuildInfo& buildInfo();

/// One line: "ctpilot 0.1.0 (revision 98ec079, built 2026-11-29)".
std::string_view versionLine();

}  // namespace ctpilot::controller
