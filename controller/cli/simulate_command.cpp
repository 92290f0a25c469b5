// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/journal/journal.h"
#include "controller/replay/fleet.h"
#include "controller/replay/prometheus_client.h"
#include "controller/replay/replay.h"
#include "controller/replay/trace.h"
#include "controller/simulation.h"
#include "controller/written_file.h"
#include "policy/policy_file.h"
#include "policy/units.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Where NAME scenarios are looked up: `scenarios/` beside the binary (the build tree gets a
// copy of examples/scenarios there), the installed data directory, and the Debian location.
// No path of the tree the binary was built in is compiled in (README "Install").
std::vector<std::string> scenarioDirs() {
  std::vector<std::string> dirs;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((self.parent_path() / "scenarios").string());
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
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::string percent(double ratio) { return fmt::format("{:.1f}%", ratio * 100); }

// Where the simulated run's output goes and how much of it to show.
struct Outputs {
  std::string csvPath;
  int changesShown = 50;
  std::string entryLife;  // --entry-life, traces only
  bool json = false;      // --json: the fleet answer as one JSON document
};

// The CSV, written through openWrittenStream (README Safety promise 13: no link followed, no
// FIFO waited on, only a regular file replaced); none when `path` is empty.
Result<std::optional<WrittenStream>> openCsv(const std::string& path) {
  if (path.empty()) return std::optional<WrittenStream>{};
  auto csv = openWrittenStream(path, ExistingFile::Truncate);
  if (!csv) {
    if (csv.error().code == Errc::Malformed) return csv.error();
    return Error{Errc::Io, "cannot write " + path + "; check the directory exists and is writable"};
  }
  return std::optional<WrittenStream>(std::move(*csv));
}

std::ostream* csvStream(std::optional<WrittenStream>& csv) { return csv ? &csv->out() : nullptr; }

bool closeCsv(std::optional<WrittenStream>& csv, const std::string& path) {
  if (!csv || csv->close()) return true;
  std::cerr << "ctpilot simulate: writing " << path << " failed\n";
  return false;
}

void printResults(const SimulationSummary& s, const CtpilotTuner& tuner, const Outputs& out) {
  std::cout << "dropped       " << s.drops << " new flows (drop: table full)\n"
            << "early drops   " << s.earlyDrops << " unassured entries evicted (early_drop)\n"
            << "insert failed " << s.insertFailed << " (chaintoolong: hash too small)\n"
            << "peak fill     " << percent(s.peakFill) << " (" << s.peakCount << " entries at most)\n"
            << "peak memory   " << policy::formatBytes(s.peakMemoryBytes) << "\n"
            << "nf_conntrack_max     " << s.initialMax << " -> " << s.finalMax << " (highest " << s.peakMax << ")\n"
            << "nf_conntrack_buckets " << s.initialBuckets << " -> " << s.finalBuckets << "\n";
  const auto changes = tuner.explainedChanges();
  std::cout << "changes       " << changes.size() << "\n";
  int shown = 0;
  for (const auto& c : changes) {
    if (shown++ == out.changesShown) {
      std::cout << "  ... " << changes.size() - static_cast<std::size_t>(out.changesShown) << " more (--changes N)\n";
      break;
    }
    std::cout << "  " << formatTime(c.at) << "  " << policy::refName({c.netns, c.knob}) << " " << c.from << " -> "
              << c.to;
    if (!c.reason.empty()) std::cout << "  (" << c.reason << ")";
    std::cout << "\n";
  }
  if (!out.csvPath.empty()) std::cout << "csv           " << out.csvPath << "\n";
}

// The controller logs each change at info with the real clock's time stamp, which means
// nothing in virtual time: the summary lists the changes instead.
void quietController(const GlobalOptions& global) {
  if (global.logLevel == "info") spdlog::set_level(spdlog::level::warn);
}

int simulateScenario(const GlobalOptions& global, const policy::Policy& policy, const std::string& policySource,
                     const std::string& scenarioArg, std::optional<std::uint64_t> seed, const Outputs& out) {
  const auto scenarioPath = sysfs::resolveScenario(scenarioArg, scenarioDirs());
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
  auto csv = openCsv(out.csvPath);
  if (!csv) {
    std::cerr << "ctpilot simulate: " << csv.error().what << "\n";
    return kExitFailure;
  }
  quietController(global);
  for (const auto& name : unwatchedNetns(scenario, policy)) {
    std::cerr << "ctpilot simulate: warning: the scenario sends traffic in netns " << name
              << " which the policy does not watch; set [controller] netns = all to watch it\n";
  }
  CtpilotTuner tuner(policy);
  SimulationOptions simOptions;
  simOptions.seed = seed;
  simOptions.csv = csvStream(*csv);
  const auto s = runSimulation(scenario, tuner, simOptions);
  if (!closeCsv(*csv, out.csvPath)) return kExitFailure;
  std::cout << "scenario      " << scenario.name << ": " << scenario.description << "\n"
            << "              "
            << policy::formatDuration(std::chrono::duration_cast<policy::Duration>(scenario.duration))
            << " of virtual time, seed " << s.seed << "\n"
            << "policy        " << policySource << "\n\n";
  printResults(s, tuner, out);
  return kExitOk;
}

// Plots count, max and drops of a replay's CSV into PNG with gnuplot; says why when it cannot.
std::string plotReplay(const std::string& csvPath) {
  if (csvPath.empty()) return "no plot: give --csv OUT for a plot in OUT.png";
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    return "no plot: gnuplot is not installed (apt-get install gnuplot-nox); " + csvPath + " holds the same data";
  }
  const auto png = csvPath + ".png";
  const auto script = csvPath + ".gp";
  {
    std::ostringstream gp;
    // Entries span from a few thousand to millions: a log scale shows both; the recording dashed.
    gp << "set terminal pngcairo size 1000,500 noenhanced\nset output '" << png << "'\nset datafile separator ','\n"
       << "set key top left\nset xlabel 'seconds'\nset ylabel 'entries'\nset logscale y\nset y2label 'drops'\n"
       << "set ytics nomirror\nset y2tics\n"
       << "plot '" << csvPath << "' using 1:3 with lines lw 2 lc 1 title 'count (replay)', "
       << "'' using 1:9 with lines dt 2 lc 1 title 'count (recorded)', "
       << "'' using 1:4 with lines lw 2 lc 2 title 'nf_conntrack_max (replay)', "
       << "'' using 1:10 with lines dt 2 lc 2 title 'nf_conntrack_max (recorded)', "
       << "'' using 1:6 axes x1y2 with lines lw 2 lc 7 title 'drops (replay)', "
       << "'' using 1:11 axes x1y2 with lines dt 2 lc 7 title 'drops (recorded)'\n";
    auto fd = openWrittenFile(script, ExistingFile::Truncate);
    if (!fd || !writeAll(fd->get(), gp.str(), script)) return "no plot: cannot write " + script;
  }
  const auto rc = std::system(("gnuplot '" + script + "' 2>/dev/null").c_str());
  (void)std::remove(script.c_str());  // a script left behind beside the CSV is harmless
  return rc == 0 ? png : "no plot: gnuplot failed on " + csvPath;
}

void printFidelity(const ReplayDemand& d, const SimulationSummary& s, const ReplayFidelity& f) {
  for (const auto& n : d.netns) {
    std::cout << "entry life    " << fmt::format("{:.1f}s", static_cast<double>(n.extraLife.count()) / 1000)
              << (d.netns.size() > 1 ? " in netns " + n.netns : std::string())
              << " for what the recording could not hold (--entry-life D overrides)\n";
  }
  std::cout << "recorded      drops " << d.recordedDrops << ", early drops " << d.recordedEarlyDrops << ", inserts "
            << d.recordedInserts << ", peak " << d.recordedPeakCount << " entries, nf_conntrack_max " << d.initialMax
            << " -> " << d.recordedFinalMax << "\n"
            << "replayed      drops " << s.drops << ", early drops " << s.earlyDrops << ", inserts " << s.inserts
            << "; count off the recording by " << fmt::format("{:.1f}", f.meanAbsCountError) << " entries on average, "
            << f.maxAbsCountError << " at most (" << f.points << " instants)\n";
  if (f.gapsJumped > 0) {
    std::cout << "gaps          " << f.gapsJumped << " gap(s) in the recording crossed in one step ("
              << policy::formatDuration(std::chrono::duration_cast<policy::Duration>(f.jumped))
              << " without ticks: the tuner ticks " << kTicksAfterInstant
              << " times at most after a recorded instant)\n";
  }
  std::cout << "\n";
}

// Warns about recorded namespaces the policy does not watch; false (said why) when the policy
// names one the trace does not hold: the controller would watch nothing.
bool netnsAgree(const Trace& trace, const policy::Policy& policy, const std::string& file) {
  for (const auto& name : unwatchedNetns(trace.netns(), policy)) {
    std::cerr << "ctpilot simulate: warning: the trace holds netns " << printable(name)
              << " which the policy does not watch; set [controller] netns = all to watch it\n";
  }
  if (policy.controller.netns.mode != policy::NetnsSelector::Mode::Named) return true;
  const auto recorded = trace.netns();
  for (const auto& name : policy.controller.netns.names) {
    if (std::find(recorded.begin(), recorded.end(), name) != recorded.end()) continue;
    std::cerr << "ctpilot simulate: " << printable(file) << ": the policy watches netns " << name
              << " which the trace does not hold (it has:";
    for (const auto& r : recorded) std::cerr << " " << printable(r);
    std::cerr << "); point [controller] netns at the recorded names\n";
    return false;
  }
  return true;
}

// --entry-life as a duration; false (said why) when it is not a positive one.
bool entryLifeOption(const Outputs& out, std::optional<sysfs::SimDuration>& entryLife) {
  if (out.entryLife.empty()) return true;
  const auto parsed = policy::parseDuration(out.entryLife);
  if (!parsed || parsed->count() <= 0) {
    std::cerr << "ctpilot simulate: --entry-life " << printable(out.entryLife)
              << " is not a positive duration (120s, 5m)\n";
    return false;
  }
  entryLife = std::chrono::duration_cast<sysfs::SimDuration>(*parsed);
  return true;
}

int simulateTrace(const GlobalOptions& global, const policy::Policy& policy, const std::string& policySource,
                  const std::vector<std::string>& files, const Trace* trace, const Outputs& out) {
  std::optional<sysfs::SimDuration> entryLife;
  if (!entryLifeOption(out, entryLife)) return kExitUsage;
  const auto demand = demandFromTrace(*trace, entryLife);
  if (!demand) {
    std::cerr << "ctpilot simulate: " << printable(files.front() + ": " + demand.error().what) << "\n";
    return kExitUsage;
  }
  // What a trace says is quoted escaped: its bytes never reach the terminal raw.
  for (const auto& warning : trace->warnings) std::cerr << "ctpilot simulate: warning: " << printable(warning) << "\n";
  for (const auto& note : trace->notes) std::cerr << "ctpilot simulate: note: " << printable(note) << "\n";
  for (const auto& note : demand->notes) std::cerr << "ctpilot simulate: note: " << printable(note) << "\n";
  auto csv = openCsv(out.csvPath);
  if (!csv) {
    std::cerr << "ctpilot simulate: " << csv.error().what << "\n";
    return kExitFailure;
  }
  quietController(global);
  if (!netnsAgree(*trace, policy, printable(files.front()))) return kExitUsage;
  CtpilotTuner tuner(policy);
  ReplayOptions options;
  options.name = printable(files.front());
  if (trace->memTotalBytes) options.memTotalBytes = *trace->memTotalBytes;
  options.csv = csvStream(*csv);
  options.minTick = std::chrono::duration_cast<sysfs::SimDuration>(trace->interval);
  ReplayFidelity fidelity;
  const auto s = runReplay(*demand, tuner, options, &fidelity);
  if (!closeCsv(*csv, out.csvPath)) return kExitFailure;
  std::cout << "trace         " << printable(files.front())
            << (files.size() > 1 ? " (+" + std::to_string(files.size() - 1) + " files)" : "") << ": "
            << printable(trace->source) << ", " << trace->samples.size() << " samples, "
            << policy::formatDuration(std::chrono::duration_cast<policy::Duration>(demand->duration)) << " every "
            << policy::formatDuration(trace->interval) << "\n"
            << "policy        " << policySource << "\n\n";
  printFidelity(*demand, s, fidelity);
  printResults(s, tuner, out);
  std::cout << "plot          " << plotReplay(out.csvPath) << "\n";
  return kExitOk;
}

// Shows "LABEL done/total" on stderr, rewritten in place, when stderr is a terminal.
std::function<void(std::size_t, std::size_t)> progressLine(const char* label) {
  if (::isatty(STDERR_FILENO) == 0) return {};
  return [label](std::size_t done, std::size_t total) {
    std::cerr << "\rctpilot simulate: " << label << " " << done << "/" << total << (done == total ? "\n" : "")
              << std::flush;
  };
}

// The fleet answer: every instance replayed, one table (or --json), notes and warnings on stderr.
int simulateFleet(const GlobalOptions& global, const policy::Policy& policy, const std::string& policySource,
                  const FleetTraces& fleet, const Outputs& out) {
  FleetOptions options;
  if (!entryLifeOption(out, options.entryLife)) return kExitUsage;
  options.csvDir = out.csvPath;
  options.progress = progressLine("replayed instances");
  quietController(global);
  auto report = replayFleet(fleet, policy, options);
  if (!report) {
    std::cerr << "ctpilot simulate: " << report.error().what << "\n";
    return report.error().code == Errc::Io ? kExitFailure : kExitUsage;
  }
  report->policySource = policySource;
  for (const auto& warning : report->warnings) std::cerr << "ctpilot simulate: warning: " << warning << "\n";
  constexpr std::size_t kNotesShown = 20;
  for (std::size_t i = 0; i < report->notes.size() && i < kNotesShown; ++i)
    std::cerr << "ctpilot simulate: note: " << report->notes[i] << "\n";
  if (report->notes.size() > kNotesShown) {
    std::cerr << "ctpilot simulate: note: ... " << report->notes.size() - kNotesShown
              << " more (--json lists them all)\n";
  }
  if (report->rows.empty()) {
    std::cerr << "ctpilot simulate: no instance could be replayed (the warnings above say why)\n";
    return kExitUsage;
  }
  if (out.json) {
    std::cout << fleetJson(*report).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "policy        " << policySource << "\n\n" << fleetTable(*report);
    if (!out.csvPath.empty()) std::cout << "csv           " << printable(out.csvPath) << "/ (one file per instance)\n";
  }
  return kExitOk;
}

// What --prometheus needs beside the URL.
struct PrometheusArgs {
  PrometheusQuery query;
  std::string since, from, to, step = "15s", timeout = "30s";
};

// Fills the query's range, step and timeout; false (said why) on a bad option.
bool prometheusRange(PrometheusArgs& a) {
  const auto duration = [](const std::string& text, const char* option, policy::Duration& into) {
    const auto parsed = policy::parseDuration(text);
    if (!parsed || parsed->count() <= 0) {
      std::cerr << "ctpilot simulate: " << option << " " << printable(text)
                << " is not a positive duration (15s, 7d)\n";
      return false;
    }
    into = *parsed;
    return true;
  };
  policy::Duration step{}, timeout{};
  if (!duration(a.step, "--step", step) || !duration(a.timeout, "--timeout", timeout)) return false;
  a.query.step = std::chrono::duration_cast<std::chrono::milliseconds>(step);
  a.query.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (a.since.empty() == (a.from.empty() && a.to.empty()) || a.from.empty() != a.to.empty()) {
    std::cerr << "ctpilot simulate: --prometheus needs --since D (up to now) or --from TIME --to TIME (RFC 3339: "
                 "2026-11-22T20:00:00Z)\n";
    return false;
  }
  if (!a.since.empty()) {
    policy::Duration since{};
    if (!duration(a.since, "--since", since)) return false;
    a.query.to = std::chrono::time_point_cast<policy::TimePoint::duration>(std::chrono::system_clock::now());
    a.query.from = a.query.to - since;
    return true;
  }
  const auto from = parseTime(a.from);
  const auto to = parseTime(a.to);
  if (!from || !to) {
    std::cerr << "ctpilot simulate: --from/--to " << printable(!from ? a.from : a.to)
              << " is not an RFC 3339 time (2026-11-22T20:00:00Z)\n";
    return false;
  }
  a.query.from = *from;
  a.query.to = *to;
  return true;
}

int simulatePrometheus(const GlobalOptions& global, const policy::Policy& policy, const std::string& policySource,
                       PrometheusArgs& args, const Outputs& out) {
  if (!prometheusRange(args)) return kExitUsage;
  auto answers = fetchPrometheus(args.query, progressLine("fetched pieces"));
  if (!answers) {
    std::cerr << "ctpilot simulate: " << answers.error().what << "\n";
    return answers.error().code == Errc::Io ? kExitFailure : kExitUsage;
  }
  auto fleet = importPrometheusFleet(*answers);
  if (!fleet) {
    std::cerr << "ctpilot simulate: " << fleet.error().what << "\n";
    return kExitUsage;
  }
  for (auto& warning : fleet->warnings) warning = "Prometheus: " + warning;
  return simulateFleet(global, policy, policySource, *fleet, out);
}

// Everything `simulate` takes on its command line.
struct SimulateArgs {
  std::string policyPath;
  std::string scenarioArg;
  std::vector<std::string> traces;
  PrometheusArgs prom;
  Outputs out;
  std::uint64_t seed = 0;
};

po::options_description simulateOptions(SimulateArgs& a) {
  po::options_description options("simulate options");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("policy", po::value(&a.policyPath)->value_name("FILE"), "policy to simulate (default: the global --policy, else built-in defaults)")
      ("scenario", po::value(&a.scenarioArg)->value_name("NAME|FILE"), "a built-in scenario name or a scenario file")
      ("trace", po::value(&a.traces)->value_name("FILE"), "replay a recorded trace (ctpilot record) or Prometheus query_range answers of one or many instances (repeat for several files)")
      ("prometheus", po::value(&a.prom.query.url)->value_name("URL"), "replay every instance's conntrack history from Prometheus (http:// or https://)")
      ("match", po::value(&a.prom.query.match)->value_name("SELECTOR"), "with --prometheus: label matchers choosing the instances, e.g. '{job=\"node\"}'")
      ("since", po::value(&a.prom.since)->value_name("D"), "with --prometheus: the last D up to now (7d)")
      ("from", po::value(&a.prom.from)->value_name("TIME"), "with --prometheus: start of the range (RFC 3339)")
      ("to", po::value(&a.prom.to)->value_name("TIME"), "with --prometheus: end of the range (RFC 3339)")
      ("step", po::value(&a.prom.step)->value_name("D"), "with --prometheus: resolution (default 15s; at least 1s)")
      ("timeout", po::value(&a.prom.timeout)->value_name("D"), "with --prometheus: per request (default 30s)")
      ("basic-auth-file", po::value(&a.prom.query.basicAuthFile)->value_name("FILE"), "with --prometheus: a file holding user:password")
      ("bearer-token-file", po::value(&a.prom.query.bearerTokenFile)->value_name("FILE"), "with --prometheus: a file holding a bearer token")
      ("ca-file", po::value(&a.prom.query.caFile)->value_name("FILE"), "with an https:// URL: trust this CA file instead of the system's")
      ("json", po::bool_switch(&a.out.json), "with --trace or --prometheus: the fleet answer as one JSON document")
      ("entry-life", po::value(&a.out.entryLife)->value_name("D"), "with --trace or --prometheus: how long an entry the recording could not hold would have stayed (default: Little's law over the recording)")
      ("csv", po::value(&a.out.csvPath)->value_name("OUT"), "write time, count, max, buckets, drops and timeouts per step to OUT (a fleet: one CSV per instance in the directory OUT)")
      ("seed", po::value(&a.seed)->value_name("N"), "random seed (default: the scenario's)")
      ("changes", po::value(&a.out.changesShown)->value_name("N")->default_value(a.out.changesShown), "list at most N changes");
  // clang-format on
  return options;
}

// False (said why) when the options do not go together.
bool optionsAgree(const SimulateArgs& a, const po::variables_map& vm) {
  const int sources = (a.scenarioArg.empty() ? 0 : 1) + (a.traces.empty() ? 0 : 1) + (a.prom.query.url.empty() ? 0 : 1);
  if (sources != 1) {
    std::cerr
        << "ctpilot simulate: give one of --scenario NAME|FILE, --trace FILE or --prometheus URL (built-in scenarios:";
    for (const auto& name : sysfs::listScenarios(scenarioDirs())) std::cerr << " " << name;
    std::cerr << ")\n";
    return false;
  }
  const auto& q = a.prom.query;
  const bool prometheusOnly = !q.match.empty() || !a.prom.since.empty() || !a.prom.from.empty() || !a.prom.to.empty() ||
                              vm.count("step") != 0U || vm.count("timeout") != 0U || !q.basicAuthFile.empty() ||
                              !q.bearerTokenFile.empty() || !q.caFile.empty();
  if (prometheusOnly && q.url.empty()) {
    std::cerr << "ctpilot simulate: --match, --since, --from, --to, --step, --timeout and the credential files go with "
                 "--prometheus URL\n";
    return false;
  }
  if (a.out.json && !a.scenarioArg.empty()) {
    std::cerr << "ctpilot simulate: --json goes with --trace or --prometheus (the fleet answer)\n";
    return false;
  }
  if (!a.out.entryLife.empty() && !a.scenarioArg.empty()) {
    std::cerr << "ctpilot simulate: --entry-life goes with --trace (a scenario states its lifetimes itself)\n";
    return false;
  }
  return true;
}

// --trace: one instance as before, many as the fleet answer.
int simulateTraceFiles(const GlobalOptions& global, const policy::Policy& policy, const std::string& policySource,
                       const SimulateArgs& a) {
  auto fleet = loadFleetTraces(a.traces);
  if (!fleet) {
    std::cerr << "ctpilot simulate: " << fleet.error().what << "\n";
    return fleet.error().code == Errc::Missing ? kExitFailure : kExitUsage;
  }
  for (const auto& warning : fleet->warnings) std::cerr << "ctpilot simulate: warning: Prometheus: " << warning << "\n";
  if (fleet->instances.size() == 1 && !a.out.json) {
    return simulateTrace(global, policy, policySource, a.traces, &fleet->instances.front().trace, a.out);
  }
  return simulateFleet(global, policy, policySource, *fleet, a.out);
}

}  // namespace

int simulateCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  SimulateArgs a;
  auto options = simulateOptions(a);
  po::variables_map vm;
  CommandSyntax syntax;
  syntax.usage =
      "usage: ctpilot simulate --policy FILE (--scenario NAME|FILE | --trace FILE... | --prometheus URL [--match "
      "SELECTOR]\n"
      "                        (--since D | --from TIME --to TIME) [--step D]) [--json] [--csv OUT] [--seed N]\n"
      "Runs the controller (the same decide, estimator and actuator as `run`, journal in memory)\n"
      "against a simulated conntrack table in virtual time, and prints what happened.\n"
      "Nothing on this machine is read or changed.\n\n";
  syntax.epilogue = [](std::ostream& help) {
    help << "\nbuilt-in scenarios:";
    for (const auto& name : sysfs::listScenarios(scenarioDirs())) help << " " << name;
    help << "\n";
  };
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;
  if (!optionsAgree(a, vm)) return kExitUsage;
  GlobalOptions forPolicy = global;
  if (!a.policyPath.empty()) forPolicy.policyPath = a.policyPath;
  std::string policySource;
  const auto policy = commandPolicy(forPolicy, "simulate", &policySource);
  if (!policy) return kExitUsage;
  if (!a.prom.query.url.empty()) {
    auto prom = a.prom;
    return simulatePrometheus(global, *policy, policySource, prom, a.out);
  }
  if (!a.traces.empty()) return simulateTraceFiles(global, *policy, policySource, a);
  std::optional<std::uint64_t> seedOption;
  if (vm.count("seed") != 0U) seedOption = a.seed;
  return simulateScenario(global, *policy, policySource, a.scenarioArg, seedOption, a.out);
}

}  // namespace ctpilot::controller
