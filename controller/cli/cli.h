// SPDX-License-Identifier: Apache-2.0
#pragma once
// The command-line front end: global options, then one command. Each command lives in its own
// file (status_command.cpp, run_command.cpp, ...); what they share (argument parsing, the
// policy, the boot id, the journal) is in command_env.h.

#include <string>
#include <vector>

namespace ctpilot::controller {

/// Exit codes (a contract: scripts depend on them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure
inline constexpr int kExitUsage = 2;    // bad usage or bad policy
inline constexpr int kExitRefused = 3;  // refused for safety (lock held, knob changed by someone else)

/// Options that come before the command.
struct GlobalOptions {
  std::string policyPath;  // empty: /etc/ctpilot/policy.conf if it exists, else built-in defaults
  std::string stateDir = "/var/lib/ctpilot";
  std::string root = "/";  // prefix of every /proc and /sys path
  std::string logLevel = "info";
};

/// Parses the command line and runs the command; returns the exit code.
int runCli(int argc, char** argv);

// Commands: each takes the arguments after its name and returns an exit code.
int statusCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int checkPolicyCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int runCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int planCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int historyCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int rollbackCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int resumeCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int simulateCommand(const GlobalOptions& global, const std::vector<std::string>& args);
int recordCommand(const GlobalOptions& global, const std::vector<std::string>& args);

}  // namespace ctpilot::controller
