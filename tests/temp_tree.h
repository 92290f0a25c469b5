// SPDX-License-Identifier: Apache-2.0
#pragma once
// A temporary directory tree for hermetic tests (a fake /proc and /sys, a state directory),
// removed when the test ends.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

namespace ctpilot::testing {

struct TempTree {
  std::filesystem::path root;

  /// Creates /tmp/ctpilot-NAME-XXXXXX.
  explicit TempTree(const std::string& name = "test") {
    std::string pattern = (std::filesystem::temp_directory_path() / ("ctpilot-" + name + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    root = pattern;
  }
  ~TempTree() { std::filesystem::remove_all(root); }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  /// Returns `path` (absolute, like "/proc/meminfo") inside the tree.
  std::filesystem::path at(const std::string& path) const { return root / std::filesystem::path(path).relative_path(); }
  /// Writes `text` to `path`, creating its directories.
  void write(const std::string& path, const std::string& text) const {
    std::filesystem::create_directories(at(path).parent_path());
    std::ofstream(at(path)) << text;
  }
  /// Makes `path` a symlink to `target`, creating its directories.
  void link(const std::string& path, const std::string& target) const {
    std::filesystem::create_directories(at(path).parent_path());
    std::filesystem::create_symlink(target, at(path));
  }
  /// Creates the directory `path`.
  void dir(const std::string& path) const { std::filesystem::create_directories(at(path)); }
  /// Returns the content of `path` ("" when absent).
  std::string read(const std::string& path) const {
    std::ifstream in(at(path));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

/// A fresh directory /tmp/ctpilot-NAME-XXXXXX whose files are named directly in it (a state
/// directory), removed at the end of the test.
struct TempDir : TempTree {
  explicit TempDir(const std::string& name = "test") : TempTree(name), path(root.string()) {}
  /// Returns the path of `name` in the directory.
  std::string sub(const std::string& name) const { return (root / name).string(); }
  std::string path;
};

/// Returns the content of the file at `path` ("" when absent).
inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// Replaces the content of the file at `path` with `text`.
inline void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace ctpilot::testing
