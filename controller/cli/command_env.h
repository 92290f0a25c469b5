// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every command shares: reading its arguments (and printing its --help), the effective
// policy, the boot id and the journal of the state directory, each with the one-line message
// a command prints when it cannot have them.

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "controller/cli/cli.h"
#include "controller/journal/journal.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "sysfs/system_facts.h"

namespace ctpilot::controller {

/// How a command reads its words and what its --help prints besides its options.
struct CommandSyntax {
  /// Printed above the options by --help ("usage: ctpilot plan\n\n..."); may be empty.
  std::string usage;
  /// Options parsed but not listed by --help (the names of positional words).
  const boost::program_options::options_description* hidden = nullptr;
  /// Which hidden options take the positional words; empty: a stray word is an error.
  boost::program_options::positional_options_description positional;
  /// Printed below the options by --help, when set.
  std::function<void(std::ostream&)> epilogue;
};

/// Parses a command's arguments into `vm` (a stray word is an error, thrown as po::error);
/// on --help prints the usage, `options` and the epilogue, and returns false: the command then
/// exits 0.
bool parseCommandArgs(const std::vector<std::string>& args, const boost::program_options::options_description& options,
                      boost::program_options::variables_map& vm, const CommandSyntax& syntax = {});

/// Loads the policy GlobalOptions names (or the built-in defaults); prints every problem as
/// "FILE:LINE: message" on stderr and returns Errc::Malformed when the file is bad.
Result<policy::Policy> loadEffectivePolicy(const GlobalOptions& global, std::string* source = nullptr);

/// loadEffectivePolicy for `ctpilot COMMAND`: on failure also prints "ctpilot COMMAND: what"
/// and returns nullopt (the command then exits kExitUsage).
std::optional<policy::Policy> commandPolicy(const GlobalOptions& global, std::string_view command,
                                            std::string* source = nullptr);

/// Reads this boot's id; on failure prints "ctpilot COMMAND: WHY: what" and returns nullopt
/// (the command then exits kExitFailure).
std::optional<std::string> commandBootId(const GlobalOptions& global, std::string_view command, std::string_view why);

/// Reads the memory facts; on failure prints "ctpilot COMMAND: cannot read the memory size: what"
/// and returns nullopt (the command then exits kExitFailure).
std::optional<sysfs::MemoryFacts> commandMemoryFacts(const GlobalOptions& global, std::string_view command);

/// Opens the journal of the state directory for appending (all of it: rollback and resume) and
/// logs what it warns of; on failure prints "ctpilot COMMAND: what" and returns nullptr (the
/// command then exits kExitFailure).
std::unique_ptr<FileJournal> commandJournal(const GlobalOptions& global, std::string_view command);

/// True when the state directory certainly holds no journal.jsonl (an unreadable directory is
/// not "no journal": opening it then says why).
bool journalAbsent(const GlobalOptions& global);

}  // namespace ctpilot::controller
