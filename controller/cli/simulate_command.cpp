#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "controller/cli/cli.h"
#include "controller/simulation.h"
#include "policy/policy_file.h"
#include "policy/units.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Where NAME scenarios are looked up: the source tree the binary was built from (developers),
// the installed data directory, and the Debian location.
std::vector<std::string> scenarioDirs() {
  std::vector<std::string> dirs;
#ifdef CTPILOT_SCENARIO_SOURCE_DIR
  dirs.emplace_back(CTPILOT_SCENARIO_SOURCE_DIR);
#endif
#ifdef CTPILOT_SCENARIO_INSTALL_DIR
  dirs.emplace_back(CTPILOT_SCENARIO_INSTALL_DIR);
#endif
  if (std::find(dirs.begin(), dirs.end(), "/usr/share/ctpilot/scenarios") == dirs.end()) {
    dirs.emplace_back("/usr/share/ctpilot/scenarios");
  }
  return dirs;
}

std::string formatTime(sysfs::SimDuration d) {
  const auto s = d.count() / 1000;
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return text;
}

std::string mib(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

std::string percent(double ratio) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", ratio * 100);
  return text;
}

}  // namespace

int simulateCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::string policyPath;
  std::string scenarioArg;
  std::string csvPath;
  std::uint64_t seed = 0;
  int changesShown = 50;
  po::options_description options("simulate options");
  options.add_options()
      ("help,h", "print this help")
      ("policy", po::value(&policyPath)->value_name("FILE"), "policy to simulate (default: the global --policy, else built-in defaults)")
      ("scenario", po::value(&scenarioArg)->value_name("NAME|FILE"), "a built-in scenario name or a scenario file")
      ("csv", po::value(&csvPath)->value_name("OUT"), "write time, count, max, buckets, drops and timeouts per step to OUT")
      ("seed", po::value(&seed)->value_name("N"), "random seed (default: the scenario's)")
      ("changes", po::value(&changesShown)->value_name("N")->default_value(changesShown), "list at most N changes");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(options).positional({}).run(), vm);  // a stray word is an error
  po::notify(vm);

  const auto dirs = scenarioDirs();
  if (vm.count("help") != 0U) {
    std::cout << "usage: ctpilot simulate --policy FILE --scenario NAME|FILE [--csv OUT] [--seed N]\n"
                 "Runs the controller (the same decide, estimator and actuator as `run`, journal in memory)\n"
                 "against a simulated conntrack table in virtual time, and prints what happened.\n"
                 "Nothing on this machine is read or changed.\n\n"
              << options << "\nbuilt-in scenarios:";
    for (const auto& name : sysfs::listScenarios(dirs)) std::cout << " " << name;
    std::cout << "\n";
    return kExitOk;
  }
  if (scenarioArg.empty()) {
    std::cerr << "ctpilot simulate: no scenario; give --scenario NAME|FILE (built-in:";
    for (const auto& name : sysfs::listScenarios(dirs)) std::cerr << " " << name;
    std::cerr << ")\n";
    return kExitUsage;
  }

  GlobalOptions forPolicy = global;
  if (!policyPath.empty()) forPolicy.policyPath = policyPath;
  std::string policySource;
  const auto policy = loadEffectivePolicy(forPolicy, &policySource);
  if (!policy) {
    std::cerr << "ctpilot simulate: " << policy.error().what << "\n";
    return kExitUsage;
  }

  const auto scenarioPath = sysfs::resolveScenario(scenarioArg, dirs);
  if (!scenarioPath) {
    std::cerr << "ctpilot simulate: " << scenarioPath.error().what << "\n";
    return kExitUsage;
  }
  const auto load = sysfs::loadScenarioFile(*scenarioPath);
  if (!load.ok()) {
    for (const auto& problem : load.problems) std::cerr << problem << "\n";
    std::cerr << "ctpilot simulate: " << *scenarioPath << ": " << load.problems.size()
              << " problem(s); fix them and try again (format: examples/scenarios/README.md)\n";
    return kExitUsage;
  }
  const auto& scenario = load.scenario;

  std::ofstream csv;
  if (!csvPath.empty()) {
    csv.open(csvPath);
    if (!csv) {
      std::cerr << "ctpilot simulate: cannot write " << csvPath << "; check the directory exists and is writable\n";
      return kExitFailure;
    }
  }

  // The controller logs each change at info with the real clock's time stamp, which means
  // nothing in virtual time: the summary below lists the changes instead.
  if (global.logLevel == "info") spdlog::set_level(spdlog::level::warn);
  for (const auto& name : unwatchedNetns(scenario, *policy)) {
    std::cerr << "ctpilot simulate: warning: the scenario sends traffic in netns " << name
              << " which the policy does not watch; set [controller] netns = all to watch it\n";
  }

  CtpilotTuner tuner(*policy);
  SimulationOptions simOptions;
  if (vm.count("seed") != 0U) simOptions.seed = seed;
  if (csv.is_open()) simOptions.csv = &csv;
  const auto s = runSimulation(scenario, tuner, simOptions);
  if (csv.is_open()) {
    csv.close();
    if (!csv) {
      std::cerr << "ctpilot simulate: writing " << csvPath << " failed\n";
      return kExitFailure;
    }
  }

  std::cout << "scenario      " << scenario.name << ": " << scenario.description << "\n"
            << "              " << policy::formatDuration(std::chrono::duration_cast<policy::Duration>(scenario.duration))
            << " of virtual time, seed " << s.seed << "\n"
            << "policy        " << policySource << "\n\n"
            << "dropped       " << s.drops << " new flows (drop: table full)\n"
            << "early drops   " << s.earlyDrops << " unassured entries evicted (early_drop)\n"
            << "insert failed " << s.insertFailed << " (chaintoolong: hash too small)\n"
            << "peak fill     " << percent(s.peakFill) << " (" << s.peakCount << " entries at most)\n"
            << "peak memory   " << mib(s.peakMemoryBytes) << "\n"
            << "nf_conntrack_max     " << s.initialMax << " -> " << s.finalMax << " (highest " << s.peakMax << ")\n"
            << "nf_conntrack_buckets " << s.initialBuckets << " -> " << s.finalBuckets << "\n";
  const auto changes = tuner.explainedChanges();
  std::cout << "changes       " << changes.size() << "\n";
  int shown = 0;
  for (const auto& c : changes) {
    if (shown++ == changesShown) {
      std::cout << "  ... " << changes.size() - static_cast<std::size_t>(changesShown) << " more (--changes N)\n";
      break;
    }
    std::cout << "  " << formatTime(c.at) << "  " << policy::kernelName(c.knob)
              << (c.netns == policy::kInitNetns ? std::string() : " in " + c.netns) << " " << c.from << " -> " << c.to;
    if (!c.reason.empty()) std::cout << "  (" << c.reason << ")";
    std::cout << "\n";
  }
  if (!csvPath.empty()) std::cout << "csv           " << csvPath << "\n";
  return kExitOk;
}

}  // namespace ctpilot::controller
