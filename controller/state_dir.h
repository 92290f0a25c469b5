// SPDX-License-Identifier: Apache-2.0
#pragma once
// The state directory is ctpilot's alone (README Safety promise 12): the directory and every
// file in it (journal.jsonl, journal.jsonl.1, journal.checkpoint, lock, rollback.lock) are opened without following a
// symbolic link, created 0750 (directory) and 0640 (files), and refused when they are writable by group or others or
// owned by someone other than the running user or root. Anyone who could write the journal
// could make `rollback` write registry knobs.

#include <sys/types.h>

#include <string>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller {

/// How a state file is opened.
enum class StateAccess {
  Read,          ///< read only; a missing file is Errc::Missing
  Create,        ///< read and write, creating the directory (parents too) and the file
  AppendOrRead,  ///< like Create with O_APPEND; an existing file we may not write is opened read-only
};

/// An open file of the state directory.
struct StateFile {
  UniqueFd fd;            ///< the open file descriptor (O_CLOEXEC)
  bool created = false;   ///< this call created the file
  bool writable = false;  ///< opened for writing
};

/// Opens `dir`/`name` with no symlink followed (the directory with O_DIRECTORY|O_NOFOLLOW, the
/// file with openat and O_NOFOLLOW) after checking both are safe: right type, owned by us or
/// root, not writable by group or others. A new file's directory entry is fsync'd. Errors say
/// what to do in one line ("...; run chmod 0640 DIR/journal.jsonl").
Result<StateFile> openStateFile(const std::string& dir, const std::string& name, StateAccess access);

/// Says whether `dir`/`name` exists, checking the directory as openStateFile does. A missing
/// directory is false; a `dir` that is not a directory or is unsafe is an error.
Result<bool> stateFileExists(const std::string& dir, const std::string& name);

/// Reads the whole of `dir`/`name` (opened as openStateFile does). Errc::Missing when absent.
Result<std::string> readStateFile(const std::string& dir, const std::string& name);

/// Replaces `dir`/`name` with `data` atomically, so a crash leaves the old file or the new one,
/// never half of either: writes `name`.tmp (created afresh with `mode`, no symlink followed),
/// fsyncs it, renames it over `name` (a symlink there is replaced, never followed) and fsyncs
/// the directory. The directory is checked as openStateFile does.
Result<void> replaceStateFile(const std::string& dir, const std::string& name, const std::string& data,
                              mode_t mode = 0640);

/// Removes `dir`/`name` (a symlink there is removed, not followed); absent is no error.
Result<void> removeStateFile(const std::string& dir, const std::string& name);

}  // namespace ctpilot::controller
