// SPDX-License-Identifier: Apache-2.0
#include "controller/metrics/textfile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "controller/written_file.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller::metrics {

Result<void> writeTextfile(const std::string& path, const std::string& content) {
  // node_exporter reads only *.prom: a temporary name that does not end in .prom is never
  // collected half-written. It is created afresh (O_EXCL, no link followed, never blocking: a
  // FIFO planted there cannot freeze the daemon), and the file it replaces must be a regular
  // one (README Safety promise 13).
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  const std::string suffix = ".tmp." + std::to_string(::getpid());
  // Anything but a regular file at either name is refused and left as it is.
  if (auto replaceable = checkReplaceable(path + suffix); !replaceable) return replaceable.error();
  if (auto replaceable = checkReplaceable(path); !replaceable) return replaceable.error();
  // O_PATH: creating and renaming in the directory needs no right to read it.
  const UniqueFd dirFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dirFd) return errnoError(errno, "cannot write " + path + suffix);
  const Replacement target{dirFd.get(), dir, name, name + suffix, 0644, Durability::ReadersOnly};
  // A regular file at the temporary name is a leftover of an earlier ctpilot with our pid: ours.
  ::unlinkat(dirFd.get(), target.tmpName.c_str(), 0);
  return replaceFile(target, content);
}

}  // namespace ctpilot::controller::metrics
