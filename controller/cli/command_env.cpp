// SPDX-License-Identifier: Apache-2.0
#include "controller/cli/command_env.h"

#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "controller/journal/journal_files.h"
#include "policy/policy_file.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

constexpr const char* kDefaultPolicyPath = "/etc/ctpilot/policy.conf";

}  // namespace

bool parseCommandArgs(const std::vector<std::string>& args, const po::options_description& options,
                      po::variables_map& vm, const CommandSyntax& syntax) {
  po::options_description all;
  all.add(options);
  if (syntax.hidden != nullptr) all.add(*syntax.hidden);
  // An empty positional description makes a stray word an error instead of ignoring it.
  po::store(po::command_line_parser(args).options(all).positional(syntax.positional).run(), vm);
  po::notify(vm);
  if (vm.count("help") != 0U) {
    std::cout << syntax.usage << options;
    if (syntax.epilogue) syntax.epilogue(std::cout);
    return false;
  }
  return true;
}

Result<policy::Policy> loadEffectivePolicy(const GlobalOptions& global, std::string* source) {
  std::string path = global.policyPath;
  if (path.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(kDefaultPolicyPath, ec)) {
      if (source != nullptr) *source = "built-in defaults";
      return policy::Policy{};
    }
    path = kDefaultPolicyPath;
  }
  if (source != nullptr) *source = path;
  auto load = policy::loadPolicyFile(path, global.stateDir);
  if (!load.ok()) {
    for (const auto& problem : load.problems) std::cerr << problem.str() << "\n";
    return Error{Errc::Malformed,
                 path + ": " + std::to_string(load.problems.size()) + " problem(s); fix them and try again"};
  }
  return load.policy;
}

std::optional<policy::Policy> commandPolicy(const GlobalOptions& global, std::string_view command,
                                            std::string* source) {
  auto loaded = loadEffectivePolicy(global, source);
  if (!loaded) {
    std::cerr << "ctpilot " << command << ": " << loaded.error().what << "\n";
    return std::nullopt;
  }
  return std::move(loaded.value());
}

std::optional<std::string> commandBootId(const GlobalOptions& global, std::string_view command, std::string_view why) {
  auto bootId = sysfs::readBootId(global.root);
  if (!bootId) {
    std::cerr << "ctpilot " << command << ": " << why << ": " << bootId.error().what << "\n";
    return std::nullopt;
  }
  return *bootId;
}

std::optional<sysfs::MemoryFacts> commandMemoryFacts(const GlobalOptions& global, std::string_view command) {
  auto memory = sysfs::readMemoryFacts(global.root);
  if (!memory) {
    std::cerr << "ctpilot " << command << ": cannot read the memory size: " << memory.error().what << "\n";
    return std::nullopt;
  }
  return *memory;
}

std::unique_ptr<FileJournal> commandJournal(const GlobalOptions& global, std::string_view command) {
  auto journal = FileJournal::open(global.stateDir);
  if (!journal) {
    std::cerr << "ctpilot " << command << ": " << journal.error().what << "\n";
    return nullptr;
  }
  for (const auto& warning : (*journal)->warnings()) spdlog::warn("{}", warning);
  return std::move(*journal);
}

bool journalAbsent(const GlobalOptions& global) {
  std::error_code ec;
  return !std::filesystem::exists(journalPath(global.stateDir), ec) && !ec;
}

}  // namespace ctpilot::controller
