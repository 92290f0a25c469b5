// SPDX-License-Identifier: Apache-2.0
#pragma once
// One controller per state directory: an exclusive flock on STATE_DIR/lock holding the pid of
// its holder. The kernel releases an flock when its holder exits, crashed or not, so a stale
// lock file never blocks a restart.

#include <string>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller {

/// An exclusive lock on a state directory, held until destroyed (closing the descriptor
/// releases it; the file stays: removing it would race with a process taking it).
class StateLock {
 public:
  /// Takes the lock on `stateDir`/lock (the directory created 0750, the file 0640, no symlink
  /// followed: see state_dir.h) and writes our pid in it. Errc::Busy when another process
  /// holds it: "another ctpilot (pid N) holds DIR/lock; stop it first"; Refused/Missing/Io
  /// (a message that says what to do) when the file cannot be opened safely.
  static Result<StateLock> acquire(const std::string& stateDir);
  /// Returns the path of the lock file.
  const std::string& path() const { return path_; }

 private:
  StateLock(UniqueFd fd, std::string path);
  UniqueFd fd_;
  std::string path_;
};

}  // namespace ctpilot::controller
