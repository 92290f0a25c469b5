// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "policy/policy_file.h"

namespace po = boost::program_options;

namespace ctpilot::controller {

// Made for config management's validate step (Ansible: `validate: ctpilot check-policy %s`):
// stderr carries only "FILE:LINE: message" lines, stdout only the effective policy, and the
// exit code alone says whether the file may be installed.
int checkPolicyCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool quiet = false;
  std::vector<std::string> files;
  po::options_description options("check-policy options");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("quiet,q", po::bool_switch(&quiet), "print nothing on success; only the exit code tells");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("file", po::value(&files));
  CommandSyntax syntax;
  syntax.usage =
      "usage: ctpilot check-policy [--quiet] FILE...\n"
      "Validates policy files. Prints every problem as FILE:LINE: message on stderr and exits 2;\n"
      "on success prints the effective policy (defaults filled in) and exits 0.\n\n";
  syntax.hidden = &hidden;
  syntax.positional.add("file", -1);
  po::variables_map vm;
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;
  if (files.empty()) {
    std::cerr << "ctpilot check-policy: no policy file given; usage: ctpilot check-policy [--quiet] FILE...\n";
    return kExitUsage;
  }

  bool allValid = true;
  std::vector<std::pair<std::string, policy::Policy>> valid;
  for (const auto& file : files) {
    // trace_file and textfile are checked against the state directory `run` would use.
    auto load = policy::loadPolicyFile(file, global.stateDir);
    for (const auto& problem : load.problems) std::cerr << problem.str() << "\n";
    if (load.ok()) {
      valid.emplace_back(file, std::move(load.policy));
    } else {
      allValid = false;
    }
  }
  if (!allValid) return kExitUsage;
  if (quiet) return kExitOk;
  for (std::size_t i = 0; i < valid.size(); ++i) {
    if (valid.size() > 1) std::cout << (i == 0 ? "" : "\n") << "# " << valid[i].first << "\n";
    std::cout << policy::formatPolicy(valid[i].second);
  }
  return kExitOk;
}

}  // namespace ctpilot::controller
