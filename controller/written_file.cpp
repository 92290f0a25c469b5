// SPDX-License-Identifier: Apache-2.0
#include "controller/written_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace ctpilot::controller {
namespace {

const char* kindOf(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Error notRegular(const std::string& path, mode_t mode) {
  return Error{
      Errc::Malformed,
      path + " is " + kindOf(mode) +
          ", not a regular file; ctpilot does not write through it or over it; remove it or name another file"};
}

}  // namespace

Result<void> checkReplaceable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return errnoError(errno, "stat " + path);
  }
  if (!S_ISREG(st.st_mode)) return notRegular(path, st.st_mode);
  return {};
}

Result<UniqueFd> openWrittenFile(const std::string& path, ExistingFile existing, mode_t mode) {
  // Look before opening: opening a device or a FIFO with a reader can have effects of its own.
  if (auto replaceable = checkReplaceable(path); !replaceable) return replaceable.error();
  int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  if (existing == ExistingFile::Refuse) flags |= O_EXCL;
  UniqueFd fd(::open(path.c_str(), flags, mode));
  if (!fd) {
    const int err = errno;
    if (err == EEXIST) return Error{Errc::Busy, path + " exists; ctpilot does not overwrite it"};
    if (err == ELOOP) return notRegular(path, S_IFLNK);
    if (err == ENXIO) return notRegular(path, S_IFIFO);  // a FIFO with no reader, put there since the check
    return errnoError(err, "cannot write " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError(errno, "stat " + path);
  if (!S_ISREG(st.st_mode)) return notRegular(path, st.st_mode);  // put there since the check
  if (existing == ExistingFile::Truncate && ::ftruncate(fd.get(), 0) != 0) return errnoError(errno, "truncate " + path);
  const int status = ::fcntl(fd.get(), F_GETFL);
  if (status >= 0) ::fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK);
  return fd;
}

Result<void> writeAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError(errno, "write " + path);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

namespace {

std::string joined(const std::string& dir, const std::string& name) {
  return (dir.empty() || dir.back() == '/' ? dir : dir + "/") + name;
}

// Fills the temporary file of `target` (open as `fd`, named `tmp` in errors).
Result<void> fillTemporary(int fd, const Replacement& target, std::string_view data, const std::string& tmp) {
  if (auto written = writeAll(fd, data, tmp); !written) return written;
  if (::fchmod(fd, target.mode) != 0) return errnoError(errno, "chmod " + tmp);  // whatever the umask
  if (target.durability == Durability::Synced && ::fsync(fd) != 0) return errnoError(errno, "fsync " + tmp);
  return {};
}

}  // namespace

Result<void> replaceFile(const Replacement& target, std::string_view data) {
  const std::string tmp = joined(target.dir, target.tmpName);
  const UniqueFd fd(::openat(target.dirFd, target.tmpName.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, target.mode));
  if (!fd) return errnoError(errno, "create " + tmp);
  Result<void> done = fillTemporary(fd.get(), target, data, tmp);
  if (done && ::renameat(target.dirFd, target.tmpName.c_str(), target.dirFd, target.name.c_str()) != 0) {
    done = errnoError(errno, "rename " + tmp + " to " + joined(target.dir, target.name));
  }
  if (!done) {
    ::unlinkat(target.dirFd, target.tmpName.c_str(), 0);
    return done;
  }
  if (target.durability == Durability::Synced && ::fsync(target.dirFd) != 0) {
    return errnoError(errno, "fsync directory " + target.dir);
  }
  return {};
}

Result<WrittenStream> openWrittenStream(const std::string& path, ExistingFile existing) {
  auto fd = openWrittenFile(path, existing);
  if (!fd) return fd.error();
  WrittenStream stream;
  stream.buffer_ = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(fd->release(), std::ios::out);
  stream.out_ = std::make_unique<std::ostream>(stream.buffer_.get());
  return stream;
}

bool WrittenStream::close() {
  out_->flush();
  return static_cast<bool>(*out_) && buffer_->close() != nullptr;
}

}  // namespace ctpilot::controller
