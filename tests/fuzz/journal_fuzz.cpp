// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the journal reader. Any file content gives records or one
// "journal.jsonl:LINE:" error, never a crash (an attacker who can write the journal is refused
// by the state directory checks; a damaged disk is not). Every record read prints as a line
// that reads back as the same line. The same bytes are also read as journal.checkpoint: a
// checkpoint or an error, never a crash, and a checkpoint prints as text that reads back to the
// same text; its "view" is also read without the checksum (so mutations reach the view's
// reader), and a view read prints as JSON that reads back to the same JSON.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/journal/checkpoint.h"
#include "controller/journal/journal.h"
#include "controller/journal/journal_view.h"

namespace {

// One state directory for the whole run (never destroyed, so the exit handler can remove it).
const std::string& stateDir() {
  static const std::string* const dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "ctpilot-fuzz-journal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return new std::string(pattern);
  }();
  static const bool cleanup = std::atexit([] { std::filesystem::remove_all(*dir); }) == 0;
  (void)cleanup;
  return *dir;
}

void checkRoundTrip(const ctpilot::controller::JournalRecord& record) {
  const auto line = ctpilot::controller::toJsonLine(record);
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) std::abort();
  const auto again = ctpilot::controller::recordFromJson(json);
  if (!again || ctpilot::controller::toJsonLine(*again) != line) std::abort();
}

void checkCheckpoint(const std::string& text) {
  namespace cc = ctpilot::controller;
  if (auto checkpoint = cc::parseCheckpoint(text)) {
    const auto printed = cc::checkpointText(*checkpoint);
    auto again = cc::parseCheckpoint(printed);
    if (!again || cc::checkpointText(*again) != printed) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = stateDir() + "/journal.jsonl";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto journal = ctpilot::controller::FileJournal::open(stateDir());
  if (journal) {
    for (const auto& record : (*journal)->records()) checkRoundTrip(record);
  } else if (journal.error().what.empty()) {
    std::abort();
  }
  auto records = ctpilot::controller::readJournalFile(path);
  if (records) {
    for (const auto& record : *records) checkRoundTrip(record);
  }
  checkCheckpoint(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
