#include "controller/metrics/textfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ctpilot::controller::metrics {
namespace {

Error ioError(const std::string& what, int err) {
  const auto code = (err == EACCES || err == EPERM || err == EROFS) ? Errc::Refused
                    : err == ENOENT                                ? Errc::Missing
                                                                   : Errc::Io;
  return Error{code, what + ": " + std::strerror(err)};
}

}  // namespace

Result<void> writeTextfile(const std::string& path, const std::string& content) {
  // node_exporter reads only *.prom: a temporary name that does not end in .prom is never
  // collected half-written.
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ioError("create " + temp, errno);
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return ioError("write " + temp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);  // whatever the umask says
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return ioError("close " + temp, err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return ioError("rename " + temp + " to " + path, err);
  }
  return {};
}

}  // namespace ctpilot::controller::metrics
