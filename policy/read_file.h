// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reading a file that someone else may have put in place (README Safety promise 13): the one
// function through which ctpilot reads a whole policy, scenario, trace or kernel file. It
// never hangs and never grows without bound: the file is opened O_NONBLOCK (a FIFO without a
// writer opens at once), checked with fstat to be a regular file (a FIFO, device, directory or
// socket is refused with one line), then read up to a stated size. readAll and readAt are the
// read loops every other reader of an open descriptor uses (EINTR retried, short reads
// continued).

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot {

/// Opens `path` read-only, O_CLOEXEC, without blocking, and checks it is a regular file; the
/// returned descriptor is blocking again. Errc::Missing when absent; Errc::Malformed "PATH is
/// not a regular file (a FIFO, device or directory)" + `hint` otherwise.
Result<UniqueFd> openRegularFile(const std::string& path, const std::string& hint = "");

/// Reads the whole of `path` (opened as openRegularFile does), refusing a file larger than
/// `maxBytes` with Errc::Malformed "PATH is larger than N bytes; is this the right file?".
Result<std::string> readRegularFile(const std::string& path, std::size_t maxBytes, const std::string& hint = "");

/// Reads `fd` from its offset to the end of the file (EINTR retried): Errc::Malformed "PATH is
/// larger than N bytes; is this the right file?" beyond `maxBytes`, "read PATH: <strerror>" on
/// a failed read.
Result<std::string> readAll(int fd, std::size_t maxBytes, const std::string& path);

/// Reads `length` bytes of `fd` at `offset` with pread (EINTR retried, short reads continued);
/// fewer only where the file ends. "read PATH: <strerror>" on a failed read.
Result<std::string> readAt(int fd, off_t offset, std::size_t length, const std::string& path);

}  // namespace ctpilot
