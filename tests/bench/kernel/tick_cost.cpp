// SPDX-License-Identifier: Apache-2.0
// ctpilot-bench-tick: the cost of one sampling cycle on the real kernel, netlink against procfs.
//
//   ctpilot-bench-tick --stats netlink|procfs --netns all|NAME[,NAME...] [--ticks N] [--reads N]
//                      [--interval D_MS] [--paced]
//
// Builds the real Controller (ProcKnobStore on "/", a FileJournal in a temporary directory,
// dry run: nothing is ever written) with the statistics reader forced to one mechanism, then:
//   1. calls Controller::tick() --ticks times, with a made-up clock advancing by --interval per
//      tick: back to back (warm caches), or with --paced sleeping --interval between ticks as
//      the daemon does (what other processes do meanwhile evicts ctpilot from the caches), and
//   2. reads the statistics of every watched namespace --reads times with the reader alone.
// Prints one JSON line: wall time per tick (mean, p50, p99), CPU time per tick (utime+stime of
// the whole process, which includes the threads that enter namespaces), and the same per
// statistics read. A benchmark, not a test: it measures and prints, it judges nothing.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "controller/controller.h"
#include "controller/journal/journal.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace {

using namespace ctpilot;
using SteadyClock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

double cpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double microsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count();
}

std::vector<std::string> splitNames(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  for (std::string name; std::getline(in, name, ',');) {
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

nlohmann::json summary(const std::vector<double>& micros, double cpuSecondsTotal) {
  double sum = 0;
  for (const double v : micros) sum += v;
  const double n = micros.empty() ? 1.0 : static_cast<double>(micros.size());
  return {{"count", micros.size()},
          {"wall_us_mean", sum / n},
          {"wall_us_p50", percentile(micros, 0.50)},
          {"wall_us_p99", percentile(micros, 0.99)},
          {"cpu_us_mean", cpuSecondsTotal * 1e6 / n}};
}

struct Args {
  std::string stats;
  std::vector<std::string> netns;
  int ticks = 300;
  int reads = 300;
  int intervalMs = 100;
  bool paced = false;
};

Args parseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--paced") {
      args.paced = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--stats") {
      args.stats = value;
    } else if (flag == "--netns") {
      args.netns = splitNames(value);
    } else if (flag == "--ticks") {
      args.ticks = std::stoi(value);
    } else if (flag == "--reads") {
      args.reads = std::stoi(value);
    } else if (flag == "--interval") {
      args.intervalMs = std::stoi(value);
    } else {
      throw std::invalid_argument("unknown option " + flag);
    }
  }
  if (args.stats != "netlink" && args.stats != "procfs") throw std::invalid_argument("--stats netlink or procfs");
  if (args.netns.empty()) throw std::invalid_argument("--netns needs at least one name (init or /run/netns names)");
  if (args.ticks < 1 || args.ticks > 100000 || args.reads < 0 || args.reads > 100000) {
    throw std::invalid_argument("--ticks 1..100000, --reads 0..100000");
  }
  if (args.intervalMs < 1) throw std::invalid_argument("--interval must be at least 1 (ms)");
  return args;
}

std::unique_ptr<sysfs::StatsReader> readerFor(const std::string& stats) {
  if (stats == "netlink") return std::make_unique<sysfs::CtnetlinkStats>();
  return std::make_unique<sysfs::ProcfsStats>("/");
}

int run(const Args& args) {
  spdlog::set_level(spdlog::level::warn);  // the daemon's default (info) adds nothing per tick
  // "--netns all": every distinct namespace found in /proc/*/ns/net, rediscovered as the daemon does.
  const bool all = args.netns.size() == 1 && args.netns[0] == "all";
  const policy::NetnsSelector selector = all ? policy::NetnsSelector{policy::NetnsSelector::Mode::All, {}}
                                             : policy::NetnsSelector{policy::NetnsSelector::Mode::Named, args.netns};
  auto watched = sysfs::discoverNetns("/", selector);
  if (!watched) {
    std::cerr << "ctpilot-bench-tick: " << watched.error().what << "\n";
    return kExitFailure;
  }
  auto bootId = sysfs::readBootId("/");
  auto memory = sysfs::readMemoryFacts("/");
  if (!bootId || !memory) {
    std::cerr << "ctpilot-bench-tick: cannot read the boot id or the memory size\n";
    return kExitFailure;
  }

  // A private state directory: the journal is read back every tick, as in the daemon.
  char tmpl[] = "/tmp/ctpilot-bench-tick.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::cerr << "ctpilot-bench-tick: mkdtemp failed\n";
    return kExitFailure;
  }
  const std::string stateDir = tmpl;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } removeDir{stateDir};
  auto journal = controller::FileJournal::open(stateDir);
  if (!journal) {
    std::cerr << "ctpilot-bench-tick: journal: " << journal.error().what << "\n";
    return kExitFailure;
  }

  sysfs::ProcKnobStore knobs("/");
  auto stats = readerFor(args.stats);
  policy::Policy policy;
  policy.controller.interval = std::chrono::milliseconds(args.intervalMs);
  policy.controller.netns = selector;
  policy.controller.dryRun = true;
  controller::ControllerDeps deps{
      .knobs = knobs,
      .stats = *stats,
      .journal = **journal,
      .discover = [](const policy::NetnsSelector& s) { return sysfs::discoverNetns("/", s); },
      .memory = *memory,
      .bootId = *bootId,
      .dryRun = true,
      .forget = [&knobs](const sysfs::Netns& netns) { knobs.forget(netns); },
  };
  controller::Controller controller(policy, std::move(deps));

  // The first tick opens sockets and descriptors: report it apart from the steady state.
  auto now = policy::Clock::now();
  const auto firstStart = SteadyClock::now();
  const auto first = controller.tick(now);
  const double firstMicros = microsSince(firstStart);
  if (!first.sampled) {
    std::cerr << "ctpilot-bench-tick: the first tick could not sample: "
              << (first.error ? first.error->what : std::string("unknown error")) << "\n";
    return kExitFailure;
  }

  std::vector<double> tickMicros;
  tickMicros.reserve(static_cast<std::size_t>(args.ticks));
  int unsampled = 0;
  const double tickCpu0 = cpuSeconds();
  for (int i = 0; i < args.ticks; ++i) {
    now += std::chrono::milliseconds(args.intervalMs);
    if (args.paced) std::this_thread::sleep_for(std::chrono::milliseconds(args.intervalMs));
    const auto start = SteadyClock::now();
    const auto report = controller.tick(now);
    tickMicros.push_back(microsSince(start));
    if (!report.sampled) ++unsampled;
  }
  // Sleeping costs no CPU time, so paced and back-to-back CPU figures compare directly.
  const double tickCpu = cpuSeconds() - tickCpu0;

  // The statistics reader alone, one read per watched namespace per round.
  std::vector<double> readMicros;
  readMicros.reserve(static_cast<std::size_t>(args.reads) * watched->size());
  int readErrors = 0;
  std::string source = "none";
  std::string firstError;
  const double readCpu0 = cpuSeconds();
  for (int round = 0; round < args.reads; ++round) {
    for (const auto& ns : *watched) {
      const auto start = SteadyClock::now();
      const auto read = stats->read(ns);
      readMicros.push_back(microsSince(start));
      if (!read) {
        ++readErrors;
        if (firstError.empty()) firstError = read.error().what;
      } else {
        source = sysfs::statsSourceName(read->source);
      }
    }
  }
  const double readCpu = cpuSeconds() - readCpu0;

  nlohmann::json out{
      {"stats", args.stats},          {"paced", args.paced},
      {"source_seen", source},        {"netns", watched->size()},
      {"first_tick_us", firstMicros}, {"tick", summary(tickMicros, tickCpu)},
      {"unsampled_ticks", unsampled}, {"read", summary(readMicros, readCpu)},
      {"read_errors", readErrors},
  };
  if (!firstError.empty()) out["first_read_error"] = firstError;
  std::cout << out.dump() << std::endl;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parseArgs(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "ctpilot-bench-tick: " << e.what()
              << "\nusage: ctpilot-bench-tick --stats netlink|procfs --netns NAME[,NAME...] [--ticks N] [--reads N] "
                 "[--interval MS] [--paced]\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "ctpilot-bench-tick: " << e.what() << "\n";
    return kExitFailure;
  }
}
