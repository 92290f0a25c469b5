// SPDX-License-Identifier: Apache-2.0
#pragma once
// An owned file descriptor. It lives in policy/, the lowest module, because every module
// opens files: the policy loader, the kernel boundary and the journal.

#include <unistd.h>

#include <utility>

namespace ctpilot {

/// Owns one file descriptor and closes it when it goes out of scope (-1 owns nothing).
class UniqueFd {
 public:
  UniqueFd() = default;
  /// Takes ownership of `fd` (may be -1).
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  /// Returns the descriptor, still owned (-1 when none).
  int get() const { return fd_; }
  /// Tells whether a descriptor is owned.
  explicit operator bool() const { return fd_ >= 0; }
  /// Closes the owned descriptor, if any, and takes `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  /// Gives up ownership and returns the descriptor.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

}  // namespace ctpilot
