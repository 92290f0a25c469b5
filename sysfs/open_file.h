// SPDX-License-Identifier: Apache-2.0
#pragma once
// Opening kernel files without ever hanging. Under --root the tree is only files someone put
// there; a FIFO in place of a knob, boot_id or meminfo would block a plain open(2) or read(2)
// forever. Every /proc and /sys file ctpilot reads is a regular file, so anything else is
// refused.

#include <cstddef>
#include <string>

#include "policy/read_file.h"
#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::sysfs {

/// The most ctpilot reads of one /proc file (slabinfo, meminfo, stat/nf_conntrack), through
/// readRegularFile (policy/read_file.h): a file beyond it under --root is not the kernel's.
inline constexpr std::size_t kMaxKernelFileBytes = std::size_t{16} << 20;

/// open(2) with O_CLOEXEC that cannot block: O_NONBLOCK while opening (a FIFO without a
/// writer opens at once), cleared again afterwards. Owns nothing, errno set, on failure.
UniqueFd openNonBlocking(const std::string& path, int flags);

/// Succeeds when `fd` is a regular file; otherwise Errc::Malformed "PATH is not a regular file
/// (a FIFO?); check --root", so a FIFO is never read or written.
Result<void> requireRegular(int fd, const std::string& path);

}  // namespace ctpilot::sysfs
