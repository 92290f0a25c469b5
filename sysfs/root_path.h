// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

namespace ctpilot::sysfs {

/// Joins the `--root` prefix and an absolute kernel path: ("/", "/proc/x") -> "/proc/x",
/// ("/tmp/t/", "/proc/x") -> "/tmp/t/proc/x". An empty root is "/".
inline std::string underRoot(std::string_view root, std::string_view path) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  std::string joined(root);
  joined += path;
  return joined;
}

}  // namespace ctpilot::sysfs
