// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "controller/cli/command_env.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_files.h"
#include "controller/state_dir.h"

namespace po = boost::program_options;

namespace ctpilot::controller {
namespace {

std::string changeText(const JournalRecord& record) {
  if (record.oldValue && record.newValue) {
    return std::to_string(*record.oldValue) + " -> " + std::to_string(*record.newValue);
  }
  if (record.newValue) return std::to_string(*record.newValue);
  if (record.oldValue) return std::to_string(*record.oldValue) + " ->";
  return "-";
}

std::string reasonText(const JournalRecord& record) {
  std::vector<std::string> parts;
  if (!record.reason.empty()) parts.push_back(record.reason);
  if (record.until) parts.push_back("until " + formatTime(*record.until));
  if (!record.error.empty()) parts.push_back("error: " + record.error);
  if (parts.empty()) return "-";
  std::string out = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i) out += "; " + parts[i];
  return out;
}

void printTable(const std::vector<JournalRecord>& records) {
  const std::vector<std::string> header{"ID", "TIME", "KIND", "NETNS", "KNOB", "OLD -> NEW", "REASON"};
  std::vector<std::vector<std::string>> rows{header};
  for (const auto& record : records) {
    rows.push_back({std::to_string(record.id), formatTime(record.time), recordKindName(record.kind),
                    record.netns.empty() ? "-" : record.netns,
                    record.knob ? std::string(policy::kernelName(*record.knob)) : "-", changeText(record),
                    reasonText(record)});
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool lastColumn = c + 1 == row.size();
      const std::string pad(widths[c] - row[c].size(), ' ');
      // Ids right-aligned, the reason unpadded (it is last and often long).
      if (c == 0) {
        line += pad + row[c];
      } else {
        line += row[c] + (lastColumn ? "" : pad);
      }
      if (!lastColumn) line += "  ";
    }
    std::cout << line << "\n";
  }
}

}  // namespace

int historyCommand(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool json = false;
  std::int64_t limit = 0;
  po::options_description options("ctpilot history [--json] [--limit N]");
  // clang-format off
  options.add_options()
      ("help,h", "print this help")
      ("json", po::bool_switch(&json), "print the records as a JSON array, exactly as journaled")
      ("limit", po::value(&limit)->value_name("N"), "print only the newest N records");
  // clang-format on
  po::variables_map vm;
  if (!parseCommandArgs(args, options, vm)) return kExitOk;
  if (vm.count("limit") != 0U && limit < 1) {
    std::cerr << "ctpilot history: --limit " << limit << ": must be at least 1\n";
    return kExitUsage;
  }

  const auto path = journalPath(global.stateDir);
  // A --state-dir that is not a directory, or is unsafe, is an error, not an empty history.
  if (auto exists = stateFileExists(global.stateDir, "journal.jsonl"); !exists) {
    std::cerr << "ctpilot history: " << exists.error().what << "\n";
    return kExitFailure;
  }
  // Read-only, no lock, nothing created: journal.jsonl.1 (earlier boots) then journal.jsonl.
  // With --limit only the newest lines are read, backwards from the end.
  std::vector<std::string> warnings;
  auto read = limit > 0 ? readJournalTail(global.stateDir, limit) : readAllJournals(global.stateDir, warnings);
  if (!read) {
    std::cerr << "ctpilot history: " << read.error().what << "\n";
    return kExitFailure;
  }
  for (const auto& warning : warnings) spdlog::warn("{}", warning);
  const std::vector<JournalRecord>& records = *read;

  if (json) {
    // One record per line, each exactly as its journal line: still valid JSON, and grep-able.
    if (records.empty()) {
      std::cout << "[]\n";
      return kExitOk;
    }
    std::cout << "[\n";
    for (std::size_t i = 0; i < records.size(); ++i) {
      std::cout << toJsonLine(records[i]) << (i + 1 < records.size() ? ",\n" : "\n");
    }
    std::cout << "]\n";
    return kExitOk;
  }
  if (records.empty()) {
    std::cout << "no journal records in " << path << ": ctpilot has changed nothing here yet\n";
    return kExitOk;
  }
  printTable(records);
  return kExitOk;
}

}  // namespace ctpilot::controller
