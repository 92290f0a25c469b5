// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which paths a policy or a command may tell ctpilot to write (README Safety promise 13):
// [controller] trace_file, [metrics] textfile and `record --out` name files of their own, never
// the state directory or a file in it, `/`, or anything under /proc, /sys or /dev, and never
// each other. Checked when the policy is parsed (check-policy, run, a reload) and when `record`
// starts; what is at the path when it is written is checked again then (no link, FIFO, device
// or directory is ever written through).

#include <optional>
#include <string>

namespace ctpilot::policy {

/// Why ctpilot may not write `path`, or nullopt when it may: "/" itself, a path under /proc,
/// /sys or /dev, or (when `stateDir` is not empty) the state directory or a path under it.
/// Compared after removing ".", ".." and repeated slashes, and again through the real path of
/// whatever part of it exists (a symbolic link to /proc is found).
std::optional<std::string> forbiddenWritePath(const std::string& path, const std::string& stateDir);

/// Why two files ctpilot writes may not be `a` (a trace, rotated into `a`.1) and `b` (the
/// textfile, written through `b`.tmp.PID), or nullopt when they do not collide.
std::optional<std::string> collidingWritePaths(const std::string& trace, const std::string& textfile);

}  // namespace ctpilot::policy
