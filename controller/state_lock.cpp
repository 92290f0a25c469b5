// SPDX-License-Identifier: Apache-2.0
#include "controller/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "controller/state_dir.h"

namespace ctpilot::controller {
namespace {

std::string readHolder(int fd) {
  char buffer[32] = {};
  const auto n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  std::string pid(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

StateLock::StateLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

StateLock::StateLock(StateLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

StateLock& StateLock::operator=(StateLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<StateLock> StateLock::acquire(const std::string& stateDir) {
  const std::string path = (stateDir.empty() || stateDir.back() == '/' ? stateDir : stateDir + "/") + "lock";
  // No symlink followed, modes and owner checked (README Safety promise 12).
  auto opened = openStateFile(stateDir, "lock", StateAccess::Create);
  if (!opened) return opened.error();
  const int fd = opened->fd;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      const auto holder = readHolder(fd);
      ::close(fd);
      return Error{Errc::Busy, "another ctpilot (pid " + holder + ") holds " + path + "; stop it first"};
    }
    ::close(fd);
    return errnoError(err, "lock " + path);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is only for the message a second instance prints; failing to write it is harmless.
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return StateLock(fd, path);
}

}  // namespace ctpilot::controller
