// SPDX-License-Identifier: Apache-2.0
#pragma once
// Writing a file outside the state directory (README Safety promise 13): the trace_file, the
// metrics textfile and `record --out`. Every open is O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC, so a
// symbolic link is never written through and a FIFO never blocks; whatever is found at the path
// is checked with fstat (or lstat before a rename) to be a regular file before anything is
// truncated, written or renamed over, and anything else is refused with one line and left as it
// was.

#include <sys/types.h>

#include <ext/stdio_filebuf.h>
#include <memory>
#include <ostream>
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

/// How far replaceFile makes a replacement last.
enum class Durability {
  Synced,       ///< the file and the directory fsync'd: a crash leaves the old file or the new one
  ReadersOnly,  ///< no fsync: a reader sees the old file or the new one (the metrics textfile,
                ///< rewritten every tick and worthless after a crash)
};

/// A file replaceFile replaces: `name` in the directory open as `dirFd` (whose path is `dir`),
/// through the temporary `tmpName` beside it.
struct Replacement {
  int dirFd = -1;
  std::string dir;
  std::string name;
  std::string tmpName;
  mode_t mode = 0644;
  Durability durability = Durability::Synced;
};

/// Replaces the file `target` names with `data` atomically: creates the temporary file afresh
/// (O_EXCL|O_NOFOLLOW|O_NONBLOCK: anything already there is EEXIST, never followed or waited on)
/// with `mode` whatever the umask, writes `data`, fsyncs it, renames it over the file (a
/// symbolic link there is replaced, not followed) and fsyncs the directory (the fsyncs when
/// Synced). A temporary file it created is removed again on failure. Errors: "create|write|fsync
/// DIR/TMP: <strerror>", "rename DIR/TMP to DIR/NAME: ...", "fsync directory DIR: ...".
Result<void> replaceFile(const Replacement& target, std::string_view data);

/// A std::ostream over a file opened by openWrittenFile (the CSVs of `simulate --csv`).
class WrittenStream {
 public:
  std::ostream& out() { return *out_; }
  /// Flushes and closes the file; false when any write or the close failed.
  bool close();

 private:
  friend Result<WrittenStream> openWrittenStream(const std::string&, ExistingFile);
  std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> buffer_;  // owns the descriptor
  std::unique_ptr<std::ostream> out_;
};

/// openWrittenFile, as a stream.
Result<WrittenStream> openWrittenStream(const std::string& path, ExistingFile existing);

}  // namespace ctpilot::controller
