// SPDX-License-Identifier: Apache-2.0
#include "controller/build_info.h"

// Generated at every build by controller/build_info.cmake (rewritten only when it changes).
#include "build_info_values.h"

namespace ctpilot::controller {

const BuildInfo& buildInfo() {
  static const BuildInfo kInfo{CTPILOT_VERSION, CTPILOT_REVISION, CTPILOT_BUILD_DATE};
  return kInfo;
}

std::string_view versionLine() {
  return "ctpilot " CTPILOT_VERSION " (revision " CTPILOT_REVISION ", built " CTPILOT_BUILD_DATE ")";
}

}  // namespace ctpilot::controller
