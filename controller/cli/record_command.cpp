// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/replay/recorder.h"
#include "controller/replay/trace.h"
#include "controller/written_file.h"
#include "policy/units.h"
#include "policy/written_path.h"
#include "sysfs/knob_store.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

// Samples at `interval` until `duration` has passed (when given) or SIGINT/SIGTERM arrives;
// each round is written and flushed at once, so a stop at any moment leaves a readable trace.
struct RecordLoop {
  Recorder& recorder;
  int out;  // the trace, opened by openWrittenFile
  const std::string& path;
  policy::Duration interval;
  std::optional<policy::Duration> duration;
  std::size_t rounds = 0;
  std::size_t samples = 0;
  std::optional<std::string> failure{};
  std::string lastProblem{};
  bool stopping = false;

  void run() {
    boost::asio::io_context io;
    boost::asio::steady_timer timer(io);
    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      std::cerr << "ctpilot record: " << (signo == SIGTERM ? "SIGTERM" : "SIGINT") << " received; stopping\n";
      stopping = true;
      timer.cancel();
    });
    const auto started = policy::Clock::now();
    const auto step = std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
    std::function<void(const boost::system::error_code&)> onTimer = [&](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      const auto now = policy::Clock::now();
      if (!round(now)) {
        signals.cancel();
        return;
      }
      // In milliseconds: --duration 200000d is beyond what the clock's nanoseconds hold.
      if (duration && std::chrono::duration_cast<policy::Duration>(now - started) + interval / 2 >= *duration) {
        signals.cancel();
        return;
      }
      timer.expires_at(timer.expiry() + step);
      timer.async_wait(onTimer);
    };
    timer.expires_at(std::chrono::steady_clock::now());
    timer.async_wait(onTimer);
    io.run();
  }

  bool round(policy::TimePoint now) {
    auto sampled = recorder.sample(now);
    if (!sampled) {
      failure = sampled.error().what;
      return false;
    }
    for (const auto& problem : sampled->problems) {
      // Say each kind of trouble once, not every interval.
      if (problem != lastProblem) std::cerr << "ctpilot record: warning: " << problem << "\n";
      lastProblem = problem;
    }
    std::ostringstream text;
    for (const auto& s : sampled->samples) writeTraceSample(text, s);
    if (auto written = writeAll(out, text.str(), path); !written) {
      failure = written.error().what + " (disk full?)";
      return false;
    }
    ++rounds;
    samples += sampled->samples.size();
    return true;
  }
};

std::string header(const GlobalOptions& global, const policy::Policy& policy) {
  Trace header;
  header.interval = policy.controller.interval;
  if (const auto memory = sysfs::readMemoryFacts(global.root)) header.memTotalBytes = memory->memTotalBytes;
  std::ostringstream text;
  writeTraceHeader(text, header);
  return text.str();
}

// Refuses an --out that ctpilot may not write (README Safety promise 13): /, /proc, /sys, /dev,
// the state directory, or a file the policy writes. Says why on stderr.
bool outAllowed(const std::string& outPath, const GlobalOptions& global, const policy::Policy& policy) {
  auto why = policy::forbiddenWritePath(outPath, global.stateDir);
  if (!why) why = policy::collidingWritePaths(policy.controller.traceFile, outPath);
  if (!why) why = policy::collidingWritePaths(outPath, policy.metrics.textfile);
  if (!why) return true;
  std::cerr << "ctpilot record: --out " << printable(outPath) << " " << printable(*why) << "\n";
  return false;
}

// Opens --out and writes the trace's header: never through a link, never blocking on a FIFO,
// never over a file unless --force says so. Returns kExitOk, or the exit code after saying why.
int openOut(const std::string& outPath, bool force, const GlobalOptions& global, const policy::Policy& policy,
            UniqueFd& out) {
  if (!outAllowed(outPath, global, policy)) return kExitUsage;
  auto opened = openWrittenFile(outPath, force ? ExistingFile::Truncate : ExistingFile::Refuse);
  if (!opened) {
    const auto code = opened.error().code;
    std::cerr << "ctpilot record: " << printable(opened.error().what)
              << (code == Errc::Busy        ? "; pass --force to replace it, or choose another --out"
                  : code == Errc::Malformed ? ""
                                            : "; check the directory exists and is writable")
              << "\n";
    return code == Errc::Busy || code == Errc::Malformed ? kExitUsage : kExitFailure;
  }
  out = std::move(*opened);
  if (auto written = writeAll(out.get(), header(global, policy), outPath); !written) {
    std::cerr << "ctpilot record: " << printable(written.error().what) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

// long: its options table, one option a line (kept out of clang-format's call-chain wrapping)
int recordCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::string outPath;
  std::string durationText;
  bool force = false;
  po::options_description options("record options");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("out", po::value(&outPath)->value_name("FILE"), "write the trace (JSON Lines) to FILE, a new file")
      ("force", po::bool_switch(&force), "replace FILE when it exists (a regular file only)")
      ("duration", po::value(&durationText)->value_name("D"), "stop after D (30s, 10m, 2h); default: at SIGINT or SIGTERM");
  // clang-format on
  po::variables_map vm;
  CommandSyntax syntax;
  syntax.usage =
      "usage: ctpilot record --out FILE [--force] [--duration D]\n"
      "Samples the watched namespaces at the policy's interval into a trace for\n"
      "`ctpilot simulate --trace FILE`. Reads only: no knob, no journal is written.\n\n";
  if (!parseCommandArgs(args, options, vm, syntax)) return kExitOk;
  if (outPath.empty()) {
    std::cerr << "ctpilot record: no output; give --out FILE\n";
    return kExitUsage;
  }
  std::optional<policy::Duration> duration;
  if (!durationText.empty()) {
    const auto parsed = policy::parseDuration(durationText);
    if (!parsed || parsed->count() <= 0) {
      std::cerr << "ctpilot record: --duration " << durationText << " is not a positive duration (30s, 10m, 2h)\n";
      return kExitUsage;
    }
    duration = *parsed;
  }
  std::string source;
  const auto policy = commandPolicy(global, "record", &source);
  if (!policy) return kExitUsage;

  UniqueFd out;
  if (const int rc = openOut(outPath, force, global, *policy, out); rc != kExitOk) return rc;

  // A const store: record reads knobs and has no way to write one.
  const sysfs::ProcKnobStore knobs(global.root);
  auto stats = sysfs::makeStatsReader(global.root);
  const std::string root = global.root;
  Recorder recorder(
      knobs, *stats, [root](const policy::NetnsSelector& s) { return sysfs::discoverNetns(root, s); },
      policy->controller.netns);
  std::cerr << "ctpilot record: sampling every " << policy::formatDuration(policy->controller.interval) << " into "
            << outPath
            << (duration ? " for " + policy::formatDuration(*duration) : std::string(" until SIGINT or SIGTERM"))
            << " (policy " << source << ")\n";
  RecordLoop loop{.recorder = recorder,
                  .out = out.get(),
                  .path = outPath,
                  .interval = policy->controller.interval,
                  .duration = duration};
  loop.run();
  if (loop.failure) {
    std::cerr << "ctpilot record: " << *loop.failure << "; " << loop.rounds << " round(s) are in " << outPath << "\n";
    return kExitFailure;
  }
  std::cerr << "ctpilot record: wrote " << loop.samples << " sample(s) in " << loop.rounds << " round(s) to " << outPath
            << (loop.rounds < 2 ? "; a replay needs at least two rounds" : "") << "\n";
  return kExitOk;
}

}  // namespace ctpilot::controller
