// SPDX-License-Identifier: Apache-2.0
#include "policy/written_path.h"

#include <array>
#include <filesystem>
#include <system_error>

namespace ctpilot::policy {
namespace {

namespace fs = std::filesystem;

// "/a/./b//c/../d/" -> "/a/b/d": the spelling compared, with no trailing slash.
std::string lexical(const std::string& path) {
  auto text = fs::path(path).lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

// The real path of the part of `path` that exists, then the rest as spelled.
std::string real(const std::string& path) {
  std::error_code ec;
  const auto resolved = fs::weakly_canonical(fs::path(path), ec);
  return ec ? lexical(path) : lexical(resolved.string());
}

bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return path == "/";
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

}  // namespace

std::optional<std::string> forbiddenWritePath(const std::string& path, const std::string& stateDir) {
  if (path.empty()) return std::nullopt;
  constexpr std::array<const char*, 3> kSystem = {"/proc", "/sys", "/dev"};
  for (const auto& spelled : {lexical(path), real(path)}) {
    if (spelled == "/") return std::string("is the root directory; name a file ctpilot may own");
    for (const char* dir : kSystem) {
      if (under(spelled, dir)) {
        return "is under " + std::string(dir) +
               ", which ctpilot never writes; name a file of its own (example: /var/log/ctpilot/...)";
      }
    }
    if (stateDir.empty()) continue;
    for (const auto& state : {lexical(stateDir), real(stateDir)}) {
      if (under(spelled, state)) {
        return "is in the state directory " + stateDir + ", which holds ctpilot's journal; name a file outside it";
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> collidingWritePaths(const std::string& trace, const std::string& textfile) {
  if (trace.empty() || textfile.empty()) return std::nullopt;
  for (const auto& t : {lexical(trace), real(trace)}) {
    for (const auto& x : {lexical(textfile), real(textfile)}) {
      if (t == x || t + ".1" == x || x + ".1" == t || t.starts_with(x + ".tmp.")) {
        return "trace_file " + trace + " and [metrics] textfile " + textfile +
               " name the same file (the trace is rotated into FILE.1, the textfile written through FILE.tmp.PID); "
               "give each its own";
      }
    }
  }
  return std::nullopt;
}

}  // namespace ctpilot::policy
