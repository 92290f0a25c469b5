#include <filesystem>
#include <iostream>
#include <memory>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "controller/cli.h"
#include "controller/controller.h"
#include "controller/daemon.h"
#include "controller/journal.h"
#include "controller/state_lock.h"
#include "sysfs/knob_store.h"
#include "sysfs/netns.h"
#include "sysfs/stats.h"
#include "sysfs/system_facts.h"

namespace po = boost::program_options;

namespace ctpilot::controller {

int runCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool dryRunFlag = false;
  bool once = false;
  po::options_description options("run options");
  options.add_options()
      ("help,h", "print this help")
      ("dry-run", po::bool_switch(&dryRunFlag), "never write a knob; journal planned changes only")
      ("once", po::bool_switch(&once), "sample 3 times at the policy interval, act once, exit");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(options).run(), vm);
  po::notify(vm);
  if (vm.count("help") != 0U) {
    std::cout << "usage: ctpilot run [--dry-run] [--once]\n\n" << options;
    return kExitOk;
  }

  std::string source;
  auto loaded = loadEffectivePolicy(global, &source);
  if (!loaded) {
    std::cerr << "ctpilot run: " << loaded.error().what << "\n";
    return kExitUsage;
  }
  policy::Policy policy = std::move(loaded.value());

  std::error_code ec;
  std::filesystem::create_directories(global.stateDir, ec);
  if (ec) {
    std::cerr << "ctpilot run: cannot create the state directory " << global.stateDir << ": " << ec.message()
              << "; run as root or pass --state-dir DIR\n";
    return kExitFailure;
  }
  auto lock = StateLock::acquire(global.stateDir);
  if (!lock) {
    std::cerr << "ctpilot run: " << lock.error().what
              << (lock.error().code == Errc::Busy ? "" : "; run as root or pass --state-dir DIR") << "\n";
    return lock.error().code == Errc::Busy ? kExitRefused : kExitFailure;
  }
  auto journal = FileJournal::open(global.stateDir);
  if (!journal) {
    std::cerr << "ctpilot run: cannot open the journal in " << global.stateDir << ": " << journal.error().what
              << "\n";
    return kExitFailure;
  }
  for (const auto& warning : (*journal)->warnings()) spdlog::warn("journal: {}", warning);

  auto bootId = sysfs::readBootId(global.root);
  if (!bootId) {
    std::cerr << "ctpilot run: cannot read the boot id: " << bootId.error().what << "\n";
    return kExitFailure;
  }
  auto memory = sysfs::readMemoryFacts(global.root);
  if (!memory) {
    std::cerr << "ctpilot run: cannot read the memory size: " << memory.error().what << "\n";
    return kExitFailure;
  }

  sysfs::ProcKnobStore knobs(global.root);
  auto stats = statsReaderFor(global.root);
  const std::string root = global.root;
  ControllerDeps deps{
      .knobs = knobs,
      .stats = *stats,
      .journal = **journal,
      .discover = [root](const policy::NetnsSelector& selector) { return sysfs::discoverNetns(root, selector); },
      .memory = *memory,
      .bootId = *bootId,
      .dryRun = dryRunFlag,
      .forget = [&knobs](const sysfs::Netns& netns) { knobs.forget(netns); },
  };
  spdlog::info("policy: {}; state: {}", source, global.stateDir);
  Controller controller(std::move(policy), std::move(deps));
  Daemon daemon(controller, [&global] { return loadEffectivePolicy(global); });
  daemon.run(once);

  if (controller.policy().controller.rollbackOnExit && !controller.dryRun()) {
    // controller/rollback.h (planning and executing a rollback) is not in this tree yet.
    spdlog::warn("rollback_on_exit is set, but this build cannot roll back on exit yet; tuned values stay in "
                 "place (use ctpilot rollback --all)");
  }
  if (once && !daemon.lastReport().sampled) {
    const auto& error = daemon.lastReport().error;
    std::cerr << "ctpilot run: could not sample conntrack" << (error ? ": " + error->what : std::string())
              << "; is nf_conntrack loaded (modprobe nf_conntrack)?\n";
    return kExitFailure;
  }
  spdlog::info("stopped; tuned values stay in place");
  return kExitOk;
}

}  // namespace ctpilot::controller
