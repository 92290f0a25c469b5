#pragma once
// Opening kernel files without ever hanging. Under --root the tree is only files someone put
// there; a FIFO in place of a knob, boot_id or meminfo would block a plain open(2) or read(2)
// forever. Every /proc and /sys file ctpilot reads is a regular file, so anything else is
// refused.

#include <string>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::sysfs {

/// open(2) with O_CLOEXEC that cannot block: O_NONBLOCK while opening (a FIFO without a
/// writer opens at once), cleared again afterwards. Owns nothing, errno set, on failure.
UniqueFd openNonBlocking(const std::string& path, int flags);

/// Succeeds when `fd` is a regular file; otherwise Errc::Malformed "PATH is not a regular file
/// (a FIFO?); check --root", so a FIFO is never read or written.
Result<void> requireRegular(int fd, const std::string& path);

}  // namespace ctpilot::sysfs
