// SPDX-License-Identifier: Apache-2.0
#include "sysfs/open_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace ctpilot::sysfs {

UniqueFd openNonBlocking(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fd;
  const int status = ::fcntl(fd.get(), F_GETFL);
  if (status >= 0) ::fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK);
  return fd;
}

Result<void> requireRegular(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError(errno, "stat " + path);
  if (S_ISREG(st.st_mode)) return {};
  return Error{Errc::Malformed, path + " is not a regular file (a FIFO?); check --root"};
}

}  // namespace ctpilot::sysfs
