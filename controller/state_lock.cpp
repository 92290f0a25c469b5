// SPDX-License-Identifier: Apache-2.0
#include "controller/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "controller/state_dir.h"
#include "policy/read_file.h"

namespace ctpilot::controller {
namespace {

std::string readHolder(int fd, const std::string& path) {
  auto read = readAt(fd, 0, 31, path);
  std::string pid = read ? *read : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

StateLock::StateLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

Result<StateLock> StateLock::acquire(const std::string& stateDir) {
  const std::string path = (stateDir.empty() || stateDir.back() == '/' ? stateDir : stateDir + "/") + "lock";
  // No symlink followed, modes and owner checked (README Safety promise 12).
  auto opened = openStateFile(stateDir, "lock", StateAccess::Create);
  if (!opened) return opened.error();
  UniqueFd fd = std::move(opened->fd);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return Error{Errc::Busy,
                   "another ctpilot (pid " + readHolder(fd.get(), path) + ") holds " + path + "; stop it first"};
    }
    return errnoError(err, "lock " + path);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is only for the message a second instance prints; failing to write it is harmless.
  if (::ftruncate(fd.get(), 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  }
  return StateLock(std::move(fd), path);
}

}  // namespace ctpilot::controller
