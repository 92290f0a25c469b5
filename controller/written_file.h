// SPDX-License-Identifier: Apache-2.0
#pragma once
// Writing a file outside the state directory (README Safety promise 13): the trace_file, the
// metrics textfile and `record --out`. Every open is O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC, so a
// symbolic link is never written through and a FIFO never blocks; whatever is found at the path
// is checked with fstat (or lstat before a rename) to be a regular file before anything is
// truncated, written or renamed over, and anything else is refused with one line and left as it
// was.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller {

/// How openWrittenFile treats a file already at the path.
enum class ExistingFile {
  Refuse,    ///< created with O_EXCL: a file there is Errc::Busy ("... exists; ...")
  Truncate,  ///< a regular file there is truncated (after the check, never before)
};

/// Opens `path` for writing (created with `mode`), never through a symbolic link and never
/// blocking; Errc::Malformed "PATH is a symbolic link|FIFO|device|directory ...; remove it" when
/// something other than a regular file is there.
Result<UniqueFd> openWrittenFile(const std::string& path, ExistingFile existing, mode_t mode = 0644);

/// Succeeds when `path` is absent or a regular file (lstat: a symbolic link is refused), so it
/// may be renamed away or renamed over; otherwise Errc::Malformed naming what is there.
Result<void> checkReplaceable(const std::string& path);

/// Writes all of `data` to `fd` (EINTR retried); the error names `path`.
Result<void> writeAll(int fd, std::string_view data, const std::string& path);

}  // namespace ctpilot::controller
