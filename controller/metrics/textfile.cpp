// SPDX-License-Identifier: Apache-2.0
#include "controller/metrics/textfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "controller/written_file.h"

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
  // collected half-written. It is created afresh (O_EXCL, no link followed, never blocking: a
  // FIFO planted there cannot freeze the daemon), and the file it replaces must be a regular
  // one (README Safety promise 13).
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  auto opened = openWrittenFile(temp, ExistingFile::Refuse);
  if (!opened && opened.error().code == Errc::Busy && checkReplaceable(temp)) {
    // A regular file of that name is a leftover of an earlier ctpilot with our pid: ours to remove.
    ::unlink(temp.c_str());
    opened = openWrittenFile(temp, ExistingFile::Refuse);
  }
  if (!opened) return opened.error();
  const UniqueFd fd = std::move(*opened);
  if (auto written = writeAll(fd.get(), content, temp); !written) {
    ::unlink(temp.c_str());
    return written.error();
  }
  ::fchmod(fd.get(), 0644);  // whatever the umask says
  if (auto replaceable = checkReplaceable(path); !replaceable) {
    ::unlink(temp.c_str());
    return replaceable.error();
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return ioError("rename " + temp + " to " + path, err);
  }
  return {};
}

}  // namespace ctpilot::controller::metrics
