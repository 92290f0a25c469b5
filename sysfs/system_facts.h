// SPDX-License-Identifier: Apache-2.0
#pragma once
// Facts about the machine that turn a memory budget into a ceiling, and the boot id.

#include <cstdint>
#include <optional>
#include <string>

#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::sysfs {

/// Memory facts from /proc/meminfo and /proc/slabinfo.
struct MemoryFacts {
  std::int64_t memTotalBytes = 0;
  std::int64_t slabObjectBytes = 0;  // nf_conntrack slab object size; 0 when unknown
  /// Returns the memory one entry costs: the slab object (256 B when unknown), an allowance
  /// for extensions (NAT, acct, timestamps) and a bucket share (8 B per bucket / entries_per_bucket).
  std::int64_t entryBytes() const;
};

/// Reads MemTotal and the nf_conntrack slab object size under `root`. MemTotal is required
/// (Errc::Missing/Malformed); slabinfo is optional (unreadable without root).
Result<MemoryFacts> readMemoryFacts(const std::string& root);

/// Returns the active objects of the nf_conntrack slab in slabinfo text: the entries of every
/// network namespace together (plus a few allocated but not yet in a table); nullopt when absent.
std::optional<std::int64_t> parseSlabEntries(const std::string& slabinfo);

/// Reads the nf_conntrack slab's active objects from /proc/slabinfo under `root` (root only).
Result<std::int64_t> readSlabEntries(const std::string& root);

/// Parses /sys/kernel/slab/CACHE/objects ("1024" or "1024 N0=1024"): the first number.
std::optional<std::int64_t> parseSlabObjects(const std::string& text);

/// Reads the nf_conntrack slab's active objects from /sys/kernel/slab/nf_conntrack/objects
/// under `root`: one small file, where /proc/slabinfo formats every cache of the kernel (about
/// 1.5 ms of kernel time on Linux 6.18). Only when that entry is a directory of its own: a
/// symlink means SLUB merged the cache with others (their objects would count too), and then
/// this fails with Errc::Missing, as it does without SLUB's sysfs.
Result<std::int64_t> readSysfsSlabObjects(const std::string& root);

/// readSysfsSlabObjects for every tick: the file is opened (and checked) once and read again
/// with pread at offset 0, which makes SLUB count again; a failed read closes it, and the next
/// call opens it anew.
class SlabObjectsReader {
 public:
  explicit SlabObjectsReader(std::string root) : root_(std::move(root)) {}
  Result<std::int64_t> read();

 private:
  std::string root_;
  UniqueFd fd_;
};

/// Reads /proc/sys/kernel/random/boot_id under `root`.
Result<std::string> readBootId(const std::string& root);

}  // namespace ctpilot::sysfs
