// SPDX-License-Identifier: Apache-2.0
#pragma once
// Loading, validating and printing policy files (INI, read in one pass; the keys are in policy_keys.h).

#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace ctpilot::policy {

/// One problem in a policy file; prints as "FILE:LINE: message".
struct PolicyProblem {
  std::string file;
  int line = 0;         // 1-based; 0 when the problem is about the whole file
  std::string message;  // "[max] ceiling: \"4X\" is not a count (examples: 262144, 256k, 4M)"
  std::string str() const;
};

/// A loaded policy, or every problem found in the file.
struct PolicyLoad {
  Policy policy;  // defaults filled in; meaningful only when ok()
  std::vector<PolicyProblem> problems;
  bool ok() const { return problems.empty(); }
};

/// Parses policy text; `file` names it in problems. Reports every problem, not just the first.
/// A path the policy tells ctpilot to write (trace_file, textfile) is refused when it is `/`,
/// under /proc, /sys or /dev, names the other, or (when `stateDir` is given) lies in the state
/// directory (README Safety promise 13).
PolicyLoad parsePolicy(std::string_view text, const std::string& file, const std::string& stateDir = "");

/// Reads and parses a policy file (a regular file of at most 1 MiB: a FIFO or device is refused
/// at once, never waited on); an unreadable file is one problem at line 0.
PolicyLoad loadPolicyFile(const std::string& path, const std::string& stateDir = "");

/// Formats the effective policy as a policy file that parsePolicy accepts (every key, with units).
std::string formatPolicy(const Policy& policy);

/// The candidate closest to `word` when it is plausibly a typo of it (a few edits), else "":
/// the "did you mean" of unknown keys, timeouts and commands.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace ctpilot::policy
