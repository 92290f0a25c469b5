#include <iostream>

#include "controller/cli.h"

namespace ctpilot::controller {

// Placeholder until the command is built.
int checkPolicyCommand(const GlobalOptions&, const std::vector<std::string>&) {
  std::cerr << "ctpilot: check-policy is not built yet\n";
  return kExitFailure;
}

}  // namespace ctpilot::controller
