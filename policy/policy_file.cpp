#include "policy/policy_file.h"

namespace ctpilot::policy {

std::string PolicyProblem::str() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

// Placeholder until the loader is built.
PolicyLoad parsePolicy(std::string_view, const std::string& file) {
  return PolicyLoad{{}, {{file, 0, "policy files are not supported yet"}}};
}

PolicyLoad loadPolicyFile(const std::string& path) { return parsePolicy({}, path); }

std::string formatPolicy(const Policy&) { return {}; }

}  // namespace ctpilot::policy
