// SPDX-License-Identifier: Apache-2.0
#pragma once
// Files of the source tree that tests read: the example policies and test data.

#include <string>

#include <doctest/doctest.h>

#include "policy/policy_file.h"

namespace ctpilot::testing {

/// Returns the path of `relative` (like "examples/policies/isp.conf") in the source tree.
inline std::string source(const std::string& relative) { return std::string(CTPILOT_SOURCE_DIR) + "/" + relative; }

/// Returns examples/policies/NAME.conf, which must load without problems.
inline policy::Policy examplePolicy(const std::string& name) {
  const auto load = policy::loadPolicyFile(source("examples/policies/" + name + ".conf"));
  for (const auto& problem : load.problems) CAPTURE(problem.str());
  REQUIRE(load.ok());
  return load.policy;
}

}  // namespace ctpilot::testing
