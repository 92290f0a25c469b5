// SPDX-License-Identifier: Apache-2.0
// Policy-quality benchmark: every scenario, side by side, under ctpilot with each example
// policy and under the alternatives operators use today. Prints a markdown table; with --out
// also writes it to OUT/policy-quality.md and one CSV per (scenario, contender) for plots.
// A measurement, not a test: nothing here passes or fails.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "controller/simulation.h"
#include "policy/policy_file.h"
#include "sysfs/sim/scenario.h"
#include "sysfs/sim/sim_kernel.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace ctpilot::bench {
namespace {

using controller::SimTuner;
using policy::Knob;
using sysfs::SimDuration;
using sysfs::SimKernel;

// The kernel's default left alone: nobody touches anything.
class KernelDefault final : public SimTuner {
 public:
  std::string name() const override { return "kernel default"; }
  SimDuration interval() const override { return 1h; }
  void start(SimKernel&, const sysfs::Scenario&, policy::TimePoint) override {}
  void tick(SimKernel&, policy::TimePoint) override {}
};

// kube-proxy's one-shot start-up setting (cmd/kube-proxy/app/conntrack.go): max =
// max(maxPerCore 32768 x cores, min 131072), capped here at 1,048,576; the hash raised to
// max/4 only when it is smaller; established 24 h and close_wait 1 h, written once in the
// netns kube-proxy runs in (the initial one). Never looks again.
class KubeProxyOneShot final : public SimTuner {
 public:
  std::string name() const override { return "kube-proxy one-shot"; }
  SimDuration interval() const override { return 1h; }
  void start(SimKernel& kernel, const sysfs::Scenario& scenario, policy::TimePoint) override {
    const auto init = sysfs::initNetns();
    const std::int64_t max = std::min<std::int64_t>(std::max<std::int64_t>(32768LL * scenario.cpus, 131072), 1048576);
    (void)kernel.write(init, Knob::ConntrackMax, max);
    if (kernel.buckets() < max / 4) (void)kernel.write(init, Knob::Buckets, max / 4);
    (void)kernel.write(init, Knob::TcpTimeoutEstablished, 86400);
    (void)kernel.write(init, Knob::TcpTimeoutCloseWait, 3600);
  }
  void tick(SimKernel&, policy::TimePoint) override {}
};

// The rule of thumb many operators script: every second, when the fullest netns is within
// 25% of nf_conntrack_max, raise it by 25%. No hash resize, no ceiling, no timeouts.
class ThresholdRule final : public SimTuner {
 public:
  std::string name() const override { return "threshold +25%"; }
  SimDuration interval() const override { return 1s; }
  void start(SimKernel&, const sysfs::Scenario&, policy::TimePoint) override {}
  void tick(SimKernel& kernel, policy::TimePoint) override {
    std::int64_t fullest = 0;
    for (const auto& ns : kernel.netns()) fullest = std::max(fullest, kernel.count(ns.name));
    const auto max = kernel.max();
    if (fullest * 4 >= max * 3) (void)kernel.write(sysfs::initNetns(), Knob::ConntrackMax, max + max / 4);
  }
};

// An expert's static setting, written at boot (sysctl.d, or the module's hashsize) and never
// again: nf_conntrack_max = what the built-in policy's memory_budget holds at the entry size
// ctpilot measures, buckets = that / entries_per_bucket (controller::staticAtBudget). Set
// before any traffic, so its hash is sized while the table is empty: no resize stall.
class StaticAtBudget final : public SimTuner {
 public:
  std::string name() const override { return "static at budget"; }
  SimDuration interval() const override { return 1h; }
  void start(SimKernel&, const sysfs::Scenario&, policy::TimePoint) override {}
  void tick(SimKernel&, policy::TimePoint) override {}
  // Changes `scenario` into the machine as it boots with the static setting.
  static void boot(sysfs::Scenario& scenario) {
    const auto setting = controller::staticAtBudget(policy::Policy{}, controller::simulatedMemory(scenario));
    scenario.max = setting.max;
    scenario.buckets = setting.buckets;
  }
};

struct Contender {
  std::string name;
  std::string slug;  // file-name part of its CSV
  std::function<std::unique_ptr<SimTuner>()> make;
  std::function<void(sysfs::Scenario&)> boot;  // changes the machine before the warm-up, or empty
};

struct Row {
  std::string contender;
  controller::SimulationSummary summary;
};

std::string withThousands(std::uint64_t n) {
  const auto digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::vector<Contender> contenders(const std::string& policiesDir) {
  std::vector<Contender> out;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(policiesDir, ec)) {
    if (entry.path().extension() == ".conf") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  // The built-in defaults (no policy file): the policy whose memory budget "static at budget" uses.
  out.push_back({"ctpilot defaults",
                 "ctpilot-defaults",
                 [] { return std::make_unique<controller::CtpilotTuner>(policy::Policy{}, "ctpilot defaults"); },
                 {}});
  for (const auto& file : files) {
    auto load = policy::loadPolicyFile(file.string());
    if (!load.ok()) {
      for (const auto& p : load.problems) std::cerr << p.str() << "\n";
      std::cerr << "ctpilot-bench-policies: skipping " << file.string() << "\n";
      continue;
    }
    const auto stem = file.stem().string();
    auto policy = load.policy;
    out.push_back({"ctpilot " + stem,
                   "ctpilot-" + stem,
                   [policy, stem] { return std::make_unique<controller::CtpilotTuner>(policy, "ctpilot " + stem); },
                   {}});
  }
  out.push_back({"kernel default", "kernel-default", [] { return std::make_unique<KernelDefault>(); }, {}});
  out.push_back({"kube-proxy one-shot", "kube-proxy", [] { return std::make_unique<KubeProxyOneShot>(); }, {}});
  out.push_back({"threshold +25%", "threshold", [] { return std::make_unique<ThresholdRule>(); }, {}});
  out.push_back({"static at budget", "static-at-budget", [] { return std::make_unique<StaticAtBudget>(); },
                 StaticAtBudget::boot});
  return out;
}

void usage(std::ostream& out) {
  out << "usage: ctpilot-bench-policies [--policies DIR] [--scenarios DIR] [--only NAME]... [--out DIR] [--seed N]\n"
         "Runs every scenario under ctpilot with the built-in defaults and each policy in DIR and under the\n"
         "kernel default, kube-proxy's one-shot setting, a +25% threshold rule and a static setting at the\n"
         "memory budget; prints a markdown table. --out DIR also writes\n"
         "DIR/policy-quality.md and DIR/csv/SCENARIO--CONTENDER.csv.\n";
}

}  // namespace
}  // namespace ctpilot::bench

int main(int argc, char** argv) {
  using namespace ctpilot;
  using namespace ctpilot::bench;
  std::string policiesDir = std::string(CTPILOT_SOURCE_DIR) + "/examples/policies";
  std::string scenariosDir = std::string(CTPILOT_SOURCE_DIR) + "/examples/scenarios";
  std::string outDir;
  std::vector<std::string> only;
  std::optional<std::uint64_t> seed;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    const bool hasValue = i + 1 < args.size();
    if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    } else if (a == "--policies" && hasValue) {
      policiesDir = args[++i];
    } else if (a == "--scenarios" && hasValue) {
      scenariosDir = args[++i];
    } else if (a == "--out" && hasValue) {
      outDir = args[++i];
    } else if (a == "--only" && hasValue) {
      only.push_back(args[++i]);
    } else if (a == "--seed" && hasValue) {
      seed = std::stoull(args[++i]);
    } else {
      std::cerr << "ctpilot-bench-policies: unknown or incomplete argument '" << a << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);

  const auto all = contenders(policiesDir);
  auto names = sysfs::listScenarios({scenariosDir});
  if (!only.empty()) {
    std::erase_if(names, [&](const std::string& n) { return std::find(only.begin(), only.end(), n) == only.end(); });
  }
  if (names.empty()) {
    std::cerr << "ctpilot-bench-policies: no scenario found in " << scenariosDir << "\n";
    return 2;
  }
  if (!outDir.empty()) fs::create_directories(fs::path(outDir) / "csv");

  std::ostringstream md;
  md << "| scenario | contender | drops | early drops | insert failed | worst resize stall (ms) | flows in stalls | "
        "peak fill | peak entries | peak memory (MiB) | hash (MiB) | max: start -> end | changes |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
  std::ostringstream notes;
  for (const auto& name : names) {
    const auto load = sysfs::loadScenarioFile((fs::path(scenariosDir) / (name + ".scenario")).string());
    if (!load.ok()) {
      for (const auto& p : load.problems) std::cerr << p << "\n";
      return 2;
    }
    const auto started = std::chrono::steady_clock::now();
    for (const auto& contender : all) {
      auto scenario = load.scenario;
      if (contender.boot) contender.boot(scenario);
      auto tuner = contender.make();
      std::ofstream csv;
      controller::SimulationOptions options;
      options.seed = seed;
      if (!outDir.empty()) {
        csv.open(fs::path(outDir) / "csv" / (name + "--" + contender.slug + ".csv"));
        options.csv = &csv;
      }
      const auto s = controller::runSimulation(scenario, *tuner, options);
      md << "| " << name << " | " << contender.name << " | " << withThousands(s.drops) << " | "
         << withThousands(s.earlyDrops) << " | " << withThousands(s.insertFailed) << " | " << fixed(s.worstStallMs, 1)
         << " | " << withThousands(static_cast<std::uint64_t>(s.stalledFlows)) << " | " << fixed(s.peakFill * 100, 1)
         << "% | " << withThousands(static_cast<std::uint64_t>(s.peakCount)) << " | "
         << fixed(static_cast<double>(s.peakMemoryBytes) / (1024.0 * 1024.0), 1) << " | "
         << fixed(static_cast<double>(std::max(s.initialBuckets, s.finalBuckets)) * 8 / (1024.0 * 1024.0), 1) << " | "
         << withThousands(static_cast<std::uint64_t>(s.initialMax)) << " -> "
         << withThousands(static_cast<std::uint64_t>(s.finalMax)) << " | " << s.changes.size() << " |\n";
      std::cerr << "  " << name << " / " << contender.name << ": drops " << s.drops << "\n";
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    notes << "- " << name << ": " << load.scenario.description << " ("
          << std::chrono::duration_cast<std::chrono::minutes>(load.scenario.duration).count()
          << " min of virtual time; all " << all.size() << " contenders simulated in " << fixed(seconds, 1)
          << " s of wall time)\n";
  }
  std::ostringstream out;
  out << md.str() << "\nScenarios (examples/scenarios/):\n" << notes.str();
  std::cout << out.str();
  if (!outDir.empty()) {
    std::ofstream file(fs::path(outDir) / "policy-quality.md");
    file << out.str();
  }
  return 0;
}
