// SPDX-License-Identifier: Apache-2.0
#include "sysfs/stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <sstream>
#include <utility>

#include "policy/unique_fd.h"
#include "sysfs/open_file.h"
#include "sysfs/root_path.h"

namespace ctpilot::sysfs {
namespace {

constexpr const char* kProcfsStatsPath = "/proc/net/stat/nf_conntrack";

// Maps a header name of /proc/net/stat/nf_conntrack to the counter it holds (the table's
// procfs column). Columns that name no counter (new, ignore, delete, expect_*, and whatever
// later kernels add) are ignored.
std::uint32_t CpuCounters::*counterFor(const std::string& column) {
  for (const auto& f : counterFields()) {
    if (column == f.procfsColumn) return f.perCpu;
  }
  return nullptr;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string field; in >> field;) out.push_back(field);
  return out;
}

Result<std::string> readWholeFile(const std::string& path) {
  auto text = readRegularFile(path, kMaxKernelFileBytes, "; check --root");
  if (!text && text.error().code == Errc::Missing) {
    return Error{Errc::Missing,
                 text.error().what + " (nf_conntrack is not loaded, or the kernel lacks CONFIG_NF_CONNTRACK_PROCFS)"};
  }
  return text;
}

}  // namespace

const char* statsSourceName(StatsSource source) {
  switch (source) {
    case StatsSource::Netlink: return "netlink";
    case StatsSource::Procfs: return "procfs";
    case StatsSource::Simulated: return "simulated";
  }
  return "netlink";
}

CounterTotals sumCounters(const std::vector<CpuCounters>& cpus) {
  CounterTotals t;
  for (const auto& cpu : cpus) {
    for (const auto& f : counterFields()) t.*f.total += cpu.*f.perCpu;
  }
  return t;
}

Result<ConntrackStats> parseProcfsStats(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return Error{Errc::Malformed, "nf_conntrack stats: empty, expected a header line"};
  const auto header = fields(line);
  std::size_t entriesColumn = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "entries") entriesColumn = i;
  }
  if (entriesColumn == header.size()) {
    return Error{Errc::Malformed, "nf_conntrack stats: header has no 'entries' column: \"" + line.substr(0, 80) + "\""};
  }
  std::vector<std::uint32_t CpuCounters::*> members;
  members.reserve(header.size());
  for (const auto& name : header) members.push_back(counterFor(name));

  ConntrackStats stats;
  stats.source = StatsSource::Procfs;
  int lineNumber = 1;
  while (std::getline(in, line)) {
    ++lineNumber;
    const auto row = fields(line);
    if (row.empty()) continue;
    if (row.size() != header.size()) {
      return Error{Errc::Malformed, "nf_conntrack stats line " + std::to_string(lineNumber) + ": " +
                                        std::to_string(row.size()) + " fields, header has " +
                                        std::to_string(header.size())};
    }
    // One row per possible CPU, in CPU order; every value is hex.
    CpuCounters cpu;
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::uint64_t value = 0;
      const auto& field = row[i];
      const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value, 16);
      if (ec != std::errc{} || end != field.data() + field.size()) {
        return Error{Errc::Malformed, "nf_conntrack stats line " + std::to_string(lineNumber) + ": column " +
                                          header[i] + ": not hex: \"" + field + "\""};
      }
      if (i == entriesColumn) {
        // Every row repeats the netns-wide count.
        if (!stats.entries) stats.entries = static_cast<std::int64_t>(value);
      } else if (members[i] != nullptr) {
        // The kernel's counters are unsigned int: keep them 32-bit so they wrap like the kernel's.
        cpu.*members[i] = static_cast<std::uint32_t>(value);
      }
    }
    stats.cpus.push_back(cpu);
  }
  return stats;
}

ProcfsStats::ProcfsStats(std::string root) : root_(std::move(root)) {}

Result<ConntrackStats> ProcfsStats::read(const Netns& netns) {
  if (netns.initial()) {
    auto text = readWholeFile(underRoot(root_, kProcfsStatsPath));
    if (!text) return text.error();
    return parseProcfsStats(*text);
  }
  // /proc/net follows the thread group leader's netns; /proc/thread-self/net follows this
  // thread's, which runInNetns has moved into the namespace.
  Result<std::string> text = Error{Errc::Io, ""};
  auto entered =
      runInNetns(netns, [&] { text = readWholeFile(underRoot(root_, "/proc/thread-self/net/stat/nf_conntrack")); });
  if (!entered) return entered.error();
  if (!text) return Error{text.error().code, text.error().what + " in netns " + netns.name};
  return parseProcfsStats(*text);
}

FallbackStats::FallbackStats(std::unique_ptr<StatsReader> primary, std::unique_ptr<StatsReader> fallback)
    : primary_(std::move(primary)), fallback_(std::move(fallback)) {}

Result<ConntrackStats> FallbackStats::read(const Netns& netns) { return readWith(netns, &StatsReader::read); }

Result<ConntrackStats> FallbackStats::readCounters(const Netns& netns) {
  return readWith(netns, &StatsReader::readCounters);
}

Result<ConntrackStats> FallbackStats::readWith(const Netns& netns, ReadFn primaryRead) {
  auto first = (primary_.get()->*primaryRead)(netns);
  if (first) return first;
  auto second = fallback_->read(netns);
  if (second) {
    second->fallbackReason = first.error().what;
    return second;
  }
  return Error{second.error().code, first.error().what + "; fallback: " + second.error().what};
}

std::unique_ptr<StatsReader> makeStatsReader(const std::string& root) {
  // A fake tree has files but no kernel to talk netlink to.
  if (!root.empty() && root != "/") return std::make_unique<ProcfsStats>(root);
  return std::make_unique<FallbackStats>(std::make_unique<CtnetlinkStats>(), std::make_unique<ProcfsStats>(root));
}

}  // namespace ctpilot::sysfs
