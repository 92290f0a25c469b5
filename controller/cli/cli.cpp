// SPDX-License-Identifier: Apache-2.0
#include "controller/cli/cli.h"

#include <iostream>
#include <map>

#include <boost/program_options.hpp>

#include "controller/build_info.h"
#include "controller/cli/logging.h"
#include "policy/policy_file.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

using CommandFn = int (*)(const GlobalOptions&, const std::vector<std::string>&);

struct CommandEntry {
  CommandFn fn;
  const char* synopsis;
};

const std::map<std::string, CommandEntry>& commands() {
  static const std::map<std::string, CommandEntry> kCommands{
      {"run", {runCommand, "run [--dry-run] [--once]            the controller loop (foreground; systemd runs it)"}},
      {"plan",
       {planCommand,
        "plan                                sample briefly, print what run would do now, change nothing"}},
      {"status",
       {statusCommand,
        "status [--json]                     table fill per watched netns, knobs vs baseline, recent changes"}},
      {"history", {historyCommand, "history [--json] [--limit N]        the journal, newest last"}},
      {"rollback", {rollbackCommand, "rollback (--last N | --to ID | --all) [--dry-run] [--force] [--hold DURATION]"}},
      {"resume", {resumeCommand, "resume                              lift the holds rollback placed"}},
      {"check-policy",
       {checkPolicyCommand, "check-policy FILE...                validate policy files, print the effective policy"}},
      {"simulate",
       {simulateCommand,
        "simulate --policy FILE (--scenario NAME|FILE | --trace FILE... | --prometheus URL) [--json] [--csv OUT] "
        "[--seed N]"}},
      {"record",
       {recordCommand,
        "record --out FILE [--force] [--duration D]   sample the live kernel into a trace for simulate --trace"}},
  };
  return kCommands;
}

// The global options that take a value; the command line is split at the command by them.
bool isGlobalWithValue(const std::string& name) {
  return name == "--policy" || name == "--state-dir" || name == "--root" || name == "--log-level";
}

void printUsage(std::ostream& out, const po::options_description& globals) {
  out << "usage: ctpilot [--policy FILE] [--state-dir DIR] [--root DIR] [--log-level LEVEL] COMMAND [ARGS]\n\n"
         "commands:\n";
  for (const auto& [name, entry] : commands()) out << "  " << entry.synopsis << "\n";
  out << "\nctpilot help [COMMAND] prints this, or the command's --help.\n\n" << globals;
}

// The options that come before the command, written into `global`.
po::options_description globalOptions(GlobalOptions& global) {
  po::options_description globals("global options");
  // Defaults are written into the descriptions rather than shown as "(=VALUE)": the option
  // column stays narrow and no path is cut in two at 80 columns.
  // clang-format off
  globals.add_options()
      ("help,h", "print this help")
      ("version,V", "print the version, source revision and build date")
      ("policy", po::value(&global.policyPath)->value_name("FILE"),
       "policy file (default /etc/ctpilot/policy.conf if it exists, else built-in defaults)")
      ("state-dir", po::value(&global.stateDir)->value_name("DIR"),
       "journal and lock directory (default /var/lib/ctpilot)")
      ("root", po::value(&global.root)->value_name("DIR"),
       "prefix of every /proc and /sys path (default /; tests use a fake tree)")
      ("log-level", po::value(&global.logLevel)->value_name("LEVEL"),
       "trace, debug, info (default), warn, error, critical or off");
  // clang-format on
  return globals;
}

// The command line split at the command: the global options before it, its own words after.
struct CommandLine {
  std::vector<std::string> globalTokens;
  std::string command;
  std::vector<std::string> args;
};

// Global options come before the command; everything after the command is the command's own
// (so `ctpilot rollback --help` is rollback's help, and simulate has its own --policy).
CommandLine splitAtCommand(int argc, char** argv) {
  CommandLine line;
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (!line.command.empty()) {
      line.args.push_back(token);
    } else if (token.rfind('-', 0) == 0) {
      line.globalTokens.push_back(token);
      const auto name = token.substr(0, token.find('='));
      if (isGlobalWithValue(name) && token.find('=') == std::string::npos && i + 1 < argc) {
        line.globalTokens.emplace_back(argv[++i]);
      }
    } else {
      line.command = token;
    }
  }
  return line;
}

// Runs the command; a word it does not take is a usage error that names its --help.
int dispatch(CommandFn fn, const GlobalOptions& global, const std::string& command,
             const std::vector<std::string>& args) {
  try {
    return fn(global, args);
  } catch (const po::unknown_option& e) {
    const auto name = e.get_option_name();
    if (isGlobalWithValue(name)) {
      std::cerr << "ctpilot " << command << ": " << name << " is a global option: put it before the command ("
                << "ctpilot " << name << " VALUE " << command << " ...)\n";
    } else {
      std::cerr << "ctpilot " << command << ": " << e.what() << "; see ctpilot " << command << " --help\n";
    }
    return kExitUsage;
  } catch (const po::error& e) {
    std::cerr << "ctpilot " << command << ": " << e.what() << "; see ctpilot " << command << " --help\n";
    return kExitUsage;
  }
}

// Says the command is unknown, with the command it is probably a typo of.
int unknownCommand(const std::string& command) {
  std::vector<std::string> names{"help"};
  for (const auto& [name, entry] : commands()) names.push_back(name);
  const auto suggestion = policy::closest(command, names);
  std::cerr << "ctpilot: unknown command '" << command << "'"
            << (suggestion.empty() ? std::string() : "; did you mean '" + suggestion + "'?")
            << " (see ctpilot --help)\n";
  return kExitUsage;
}

}  // namespace

int runCli(int argc, char** argv) {
  GlobalOptions global;
  const po::options_description globals = globalOptions(global);
  CommandLine line = splitAtCommand(argc, argv);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(line.globalTokens).options(globals).positional({}).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ctpilot: " << e.what() << "; see ctpilot --help\n";
    return kExitUsage;
  }

  if (vm.count("help") != 0U) {
    printUsage(std::cout, globals);
    return kExitOk;
  }
  if (vm.count("version") != 0U) {
    std::cout << versionLine() << "\n";
    return kExitOk;
  }
  if (line.command.empty()) {
    printUsage(std::cerr, globals);
    return kExitUsage;
  }
  if (line.command == "help") {
    // `ctpilot help` is the usage, `ctpilot help COMMAND` the command's --help.
    if (line.args.empty() || line.args.front().rfind('-', 0) == 0) {
      printUsage(std::cout, globals);
      return kExitOk;
    }
    line.command = line.args.front();
    line.args = {"--help"};
  }
  const auto found = commands().find(line.command);
  if (found == commands().end()) return unknownCommand(line.command);
  if (auto logging = setupLogging(global.logLevel); !logging) {
    std::cerr << "ctpilot: " << logging.error().what << "\n";
    return kExitUsage;
  }
  return dispatch(found->second.fn, global, line.command, line.args);
}

}  // namespace ctpilot::controller
