// SPDX-License-Identifier: Apache-2.0
// ctpilot-bench-journal: what a long journal costs. For N records (default 100 and 1,000,000):
//   start-up:  FileJournal::open of a journal of N records of this boot (every line parsed),
//              and of N records of earlier boots after `run`'s rotation moved them aside;
//              and openControllerJournal of the N records of this boot from journal.checkpoint
//              (what `run` does), in a fresh process (this program again, --start-from DIR), so
//              its peak RSS is its own;
//   tick:      Controller::tick on the simulated kernel with that journal, wall time per tick
//              (mean of --ticks ticks after one warm-up tick; one thread), the journal
//              refreshed each tick;
//   history:   readJournalTail(5) on the rotated state directory (what `history --limit 5` reads);
//   status:    with --ctpilot PATH, the wall time of `PATH --root FAKE --state-dir DIR status
//              --json` (best of 3; FAKE: a fake /proc tree with one netns, built-in policy) over
//              the journal of this boot with its checkpoint, and over a journal of N records of
//              earlier boots that `run` has not moved aside yet; and, in this process, what status
//              reads of the journal (openControllerJournal read-only without the applied history,
//              the view, the 5 newest changes read backwards): the journal's share alone.
// Prints one JSON line per N. A benchmark, not a test: it measures and prints, it judges nothing.
//
//   ctpilot-bench-journal [--records N[,N...]] [--ticks T] [--ctpilot PATH]
//   ctpilot-bench-journal --start-from DIR     (the start-up measure above, one JSON line)

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "controller/controller.h"
#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "sysfs/sim/sim_kernel.h"

namespace {

using namespace ctpilot;
using SteadyClock = std::chrono::steady_clock;

std::string thisBoot();
const std::string kBoot = thisBoot();  // the boot the benchmark's "this boot" records are of

double msSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// Writes `n` records like a busy controller's (intent, applied pairs of max and a timeout, with
// an observation each) of boot `boot`, ids from 1.
void writeJournal(const std::string& path, std::int64_t n, const std::string& boot) {
  std::ofstream out(path, std::ios::trunc);
  const auto t0 = std::chrono::system_clock::now() - std::chrono::hours(24 * 30);
  for (std::int64_t id = 1; id <= n; ++id) {
    const bool intent = id % 2 == 1;
    auto record = controller::knobRecord(
        intent ? controller::RecordKind::Intent : controller::RecordKind::Applied, t0 + std::chrono::seconds(id), boot,
        {"init", (id / 2) % 2 == 0 ? policy::Knob::ConntrackMax : policy::Knob::TcpTimeoutTimeWait}, 1000 + id,
        1001 + id, "fill 0.91 >= high_water 0.80");
    record.id = id;
    if (!intent) record.ref = id - 1;
    if (intent) record.observation = nlohmann::json{{"max", 262144}, {"count", 240000}, {"fill", 0.91}};
    out << controller::toJsonLine(record) << "\n";
  }
}

double tickCpuMs(controller::Journal& journal, int ticks, std::optional<controller::JournalView> view = {}) {
  sysfs::SimConfig config;
  sysfs::SimKernel kernel(config);
  controller::ControllerDeps deps{
      .knobs = kernel,
      .stats = kernel,
      .journal = journal,
      .discover = [&kernel](const policy::NetnsSelector& selector) { return kernel.discover(selector); },
      .memory = {.memTotalBytes = 16LL << 30, .slabObjectBytes = 256},
      .bootId = kBoot,
      .dryRun = false,
      .forget = {},
      .totalEntries = {},
      .namespacesStamp = {},
      .journalView = std::move(view),
      .journalFolded = {},
  };
  controller::Controller controller(policy::Policy{}, deps);
  auto now = std::chrono::system_clock::now();
  controller.tick(now);
  const auto start = SteadyClock::now();
  for (int i = 0; i < ticks; ++i) controller.tick(now += std::chrono::seconds(1));
  return msSince(start) / ticks;
}

long maxRssKiB() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// What `run` does at start-up with a checkpoint: one JSON line with the time and peak RSS.
int startFrom(const std::string& dir) {
  const auto start = SteadyClock::now();
  auto opened = ctpilot::controller::openControllerJournal(dir, kBoot);
  if (!opened) return 1;
  nlohmann::json out{{"start_from_checkpoint_ms", msSince(start)},
                     {"start_from_checkpoint_max_rss_kib", maxRssKiB()},
                     {"records_after_checkpoint", opened->journal->records().size()},
                     {"warnings", opened->warnings}};
  std::cout << out.dump() << std::endl;
  return 0;
}

// The boot id of the fake root `status` reads (what the records of "this boot" carry).
std::string thisBoot() { return "11111111-2222-3333-4444-555555555555"; }

// Writes a fake /proc tree under `root` for `status --root`: the knobs, the memory size, the boot id.
void fakeRoot(const std::filesystem::path& root) {
  const auto nf = root / "proc/sys/net/netfilter";
  std::filesystem::create_directories(nf);
  std::filesystem::create_directories(root / "proc/sys/kernel/random");
  std::filesystem::create_directories(root / "proc/net/stat");
  std::filesystem::create_directories(root / "sys/module/nf_conntrack/parameters");
  std::ofstream(nf / "nf_conntrack_max") << "262144\n";
  std::ofstream(nf / "nf_conntrack_buckets") << "65536\n";
  std::ofstream(nf / "nf_conntrack_count") << "1000\n";
  for (const char* t : {"tcp_timeout_time_wait", "tcp_timeout_close_wait", "tcp_timeout_fin_wait", "udp_timeout_stream",
                        "tcp_timeout_established"}) {
    std::ofstream(nf / (std::string("nf_conntrack_") + t)) << "120\n";
  }
  std::ofstream(root / "proc/meminfo") << "MemTotal:       16384000 kB\n";
  std::ofstream(root / "proc/sys/kernel/random/boot_id") << thisBoot() << "\n";
}

// The wall time of `ctpilot --root FAKE --state-dir DIR WORDS` (status --json, rollback ...) in ms
// (best of 3: the machine is shared), or null when it fails.
nlohmann::json commandMs(const std::string& ctpilot, const std::string& dir, const std::string& words) {
  if (ctpilot.empty()) return nullptr;
  const auto root =
      std::filesystem::path(dir).parent_path() / (std::filesystem::path(dir).filename().string() + "-root");
  fakeRoot(root);
  const std::string command =
      "'" + ctpilot + "' --root '" + root.string() + "' --state-dir '" + dir + "' " + words + " >/dev/null 2>&1";
  double best = -1;
  for (int i = 0; i < 3; ++i) {
    const auto start = SteadyClock::now();
    const int rc = std::system(command.c_str());
    const double ms = msSince(start);
    if (rc == -1 || !WIFEXITED(rc) || (WEXITSTATUS(rc) != 0 && WEXITSTATUS(rc) != 1)) return nullptr;
    if (best < 0 || ms < best) best = ms;
  }
  return best;
}

// What `status` reads of the journal in `dir`, in ms: the controller's view (read-only, no applied
// history) and the newest changes, read backwards.
double statusJournalMs(const std::string& dir) {
  using namespace ctpilot::controller;
  const auto start = SteadyClock::now();
  auto opened = openControllerJournal(dir, kBoot, JournalUse::ReadOnly, /*history=*/false);
  if (!opened) return -1;
  const auto view = opened->current();
  const auto recent = readJournalTail(
      dir, 5, false,
      [](const JournalRecord& r) {
        return r.kind == RecordKind::Applied || r.kind == RecordKind::Rollback || r.kind == RecordKind::External;
      },
      10000);
  if (!recent) return -1;
  (void)view;
  return msSince(start);
}

// Runs this program again with --start-from `dir` and returns its JSON line.
nlohmann::json startFromChild(const std::string& dir) {
  const std::string command = "/proc/" + std::to_string(::getpid()) + "/exe --start-from '" + dir + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string text;
  char buffer[4096];
  while (const auto n = std::fread(buffer, 1, sizeof(buffer), pipe)) text.append(buffer, n);
  ::pclose(pipe);
  return nlohmann::json::parse(text, nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--start-from") return startFrom(argv[2]);
  std::vector<std::int64_t> sizes{100, 1000000};
  int ticks = 1000;
  std::string ctpilot;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--records") {
      sizes.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) sizes.push_back(std::stoll(item));
    } else if (arg == "--ticks") {
      ticks = std::atoi(argv[i + 1]);
    } else if (arg == "--ctpilot") {
      ctpilot = argv[i + 1];
    }
  }
  spdlog::set_level(spdlog::level::off);
  for (const auto n : sizes) {
    const auto dir = std::filesystem::temp_directory_path() / ("ctpilot-bench-journal-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    nlohmann::json out{{"records", n}};

    // This boot: every record must be read.
    writeJournal(ctpilot::controller::journalPath(dir), n, kBoot);
    auto start = SteadyClock::now();
    auto same = ctpilot::controller::FileJournal::open(dir);
    out["open_same_boot_ms"] = msSince(start);
    if (!same) return 1;
    out["tick_ms_same_boot"] = tickCpuMs(**same, ticks);

    // The checkpoint `run` writes of that journal, then start-up from it (another process).
    start = SteadyClock::now();
    {
      ctpilot::controller::JournalView view(kBoot, ctpilot::controller::ViewScope::Controller);
      same = ctpilot::controller::FileJournal::open(dir);
      if (!same) return 1;
      view.addNew((*same)->records());
      const auto checkpoint = ctpilot::controller::checkpointOf((*same)->position(), view);
      if (!checkpoint || !ctpilot::controller::writeCheckpoint(dir, *checkpoint)) return 1;
    }
    out["fold_and_write_checkpoint_ms"] = msSince(start);
    out["checkpoint_bytes"] = std::filesystem::file_size(dir / ctpilot::controller::kCheckpointName);
    same->reset();
    out["start_from_checkpoint"] = startFromChild(dir.string());
    {
      auto opened = ctpilot::controller::openControllerJournal(dir, kBoot);
      if (!opened) return 1;
      out["tick_ms_from_checkpoint"] = tickCpuMs(*opened->journal, ticks, std::move(opened->view));
    }
    out["status_json_same_boot_ms"] = commandMs(ctpilot, dir.string(), "status --json");
    out["status_journal_same_boot_ms"] = statusJournalMs(dir.string());
    std::filesystem::remove(dir / ctpilot::controller::kCheckpointName);

    // Earlier boots: status before `run` moved them aside, then rotated at start-up and opened.
    writeJournal(ctpilot::controller::journalPath(dir), n, "b-before");
    out["status_json_earlier_boots_ms"] = commandMs(ctpilot, dir.string(), "status --json");
    out["status_journal_earlier_boots_ms"] = statusJournalMs(dir.string());
    out["rollback_all_dry_run_earlier_boots_ms"] = commandMs(ctpilot, dir.string(), "rollback --all --dry-run");
    start = SteadyClock::now();
    const auto moved = ctpilot::controller::rotateJournal(dir, kBoot);
    auto rotated = ctpilot::controller::FileJournal::open(dir);
    out["rotate_and_open_ms"] = msSince(start);
    out["rotated_records"] = moved.value_or(-1);
    if (!rotated) return 1;
    out["tick_ms_after_rotation"] = tickCpuMs(**rotated, ticks);
    rotated->reset();

    start = SteadyClock::now();
    const auto tail = ctpilot::controller::readJournalTail(dir, 5);
    out["history_limit_5_ms"] = msSince(start);
    out["history_limit_5_records"] = tail ? tail->size() : 0;
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(dir.string() + "-root");
    std::cout << out.dump() << std::endl;
  }
  return 0;
}
