// SPDX-License-Identifier: Apache-2.0
#include "policy/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace ctpilot {

Result<UniqueFd> openRegularFile(const std::string& path, const std::string& hint) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errnoError(errno, "read " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)                          ? "a directory"
                       : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                    : "a socket";
    return Error{Errc::Malformed, path + " is not a regular file (it is " + kind + ")" + hint};
  }
  const int status = ::fcntl(fd.get(), F_GETFL);
  if (status >= 0) ::fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK);
  return fd;
}

Result<std::string> readRegularFile(const std::string& path, std::size_t maxBytes, const std::string& hint) {
  auto fd = openRegularFile(path, hint);
  if (!fd) return fd.error();
  return readAll(fd->get(), maxBytes, path);
}

Result<std::string> readAll(int fd, std::size_t maxBytes, const std::string& path) {
  std::string text;
  std::array<char, 65536> buf{};
  for (;;) {
    const auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError(errno, "read " + path);
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > maxBytes) {
      return Error{Errc::Malformed,
                   path + " is larger than " + std::to_string(maxBytes) + " bytes; is this the right file?"};
    }
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  return text;
}

Result<std::string> readAt(int fd, off_t offset, std::size_t length, const std::string& path) {
  std::string data(length, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const auto n = ::pread(fd, data.data() + got, data.size() - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError(errno, "read " + path);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

}  // namespace ctpilot
