// SPDX-License-Identifier: Apache-2.0
#include "sysfs/system_facts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <optional>
#include <sstream>
#include <vector>

#include "policy/unique_fd.h"
#include "sysfs/open_file.h"
#include "sysfs/root_path.h"

namespace ctpilot::sysfs {
namespace {

// Used when /proc/slabinfo cannot tell: the nf_conntrack object on 64-bit kernels of the 5.x
// and 6.x series (256 B measured in /proc/slabinfo on Linux 6.18).
constexpr std::int64_t kDefaultSlabObjectBytes = 256;
// Extensions (NAT, accounting, timestamps, labels, ecache) live in one kmalloc block beside
// the entry, allocated only for entries that need them; a NAT gateway with accounting fills
// about one kmalloc-64 object per entry.
constexpr std::int64_t kExtensionAllowanceBytes = 64;
// One hash bucket is an 8-byte hlist head; with the policy's default of 4 entries per bucket
// each entry carries a quarter of one.
constexpr std::int64_t kBucketBytes = 8;
constexpr std::int64_t kEntriesPerBucket = 4;

// Reads a whole (regular) file; a FIFO under --root is refused, never waited on.
Result<std::string> readText(const std::string& path) {
  return readRegularFile(path, kMaxKernelFileBytes, "; check --root");
}

std::optional<std::int64_t> toInt(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Finds the nf_conntrack row of slabinfo 2.x:
// "name active_objs num_objs objsize objperslab pagesperslab : tunables ...". The cache may
// be merged into another one (SLUB) and then does not appear: empty.
std::vector<std::string> conntrackSlabRow(const std::string& slabinfo) {
  std::istringstream in(slabinfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::vector<std::string> row;
    for (std::string field; fields >> field && row.size() < 4;) row.push_back(field);
    if (row.size() == 4 && row[0] == "nf_conntrack") return row;
  }
  return {};
}

std::int64_t slabObjectBytes(const std::string& slabinfo) {
  const auto row = conntrackSlabRow(slabinfo);
  return row.empty() ? 0 : toInt(row[3]).value_or(0);
}

}  // namespace

std::int64_t MemoryFacts::entryBytes() const {
  const std::int64_t object = slabObjectBytes > 0 ? slabObjectBytes : kDefaultSlabObjectBytes;
  return object + kExtensionAllowanceBytes + kBucketBytes / kEntriesPerBucket;
}

Result<MemoryFacts> readMemoryFacts(const std::string& root) {
  const std::string meminfoPath = underRoot(root, "/proc/meminfo");
  auto meminfo = readText(meminfoPath);
  if (!meminfo) return meminfo.error();
  MemoryFacts facts;
  std::istringstream in(*meminfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key, value, unit;
    fields >> key >> value >> unit;
    if (key != "MemTotal:") continue;
    const auto kib = toInt(value);
    if (!kib || *kib <= 0 || unit != "kB") {
      return Error{Errc::Malformed, meminfoPath + ": cannot parse \"" + line + "\""};
    }
    facts.memTotalBytes = *kib * 1024;
    break;
  }
  if (facts.memTotalBytes == 0) return Error{Errc::Malformed, meminfoPath + ": no MemTotal line"};
  // slabinfo is readable only by root; without it the entry size falls back to the default.
  if (auto slabinfo = readText(underRoot(root, "/proc/slabinfo")); slabinfo)
    facts.slabObjectBytes = slabObjectBytes(*slabinfo);
  return facts;
}

std::optional<std::int64_t> parseSlabEntries(const std::string& slabinfo) {
  const auto row = conntrackSlabRow(slabinfo);
  if (row.empty()) return std::nullopt;
  return toInt(row[1]);
}

Result<std::int64_t> readSlabEntries(const std::string& root) {
  const std::string path = underRoot(root, "/proc/slabinfo");
  auto slabinfo = readText(path);
  if (!slabinfo) return slabinfo.error();
  const auto entries = parseSlabEntries(*slabinfo);
  if (!entries) return Error{Errc::Missing, path + ": no nf_conntrack cache (module not loaded, or merged)"};
  return *entries;
}

std::optional<std::int64_t> parseSlabObjects(const std::string& text) {
  std::istringstream in(text);
  std::string first;
  if (!(in >> first)) return std::nullopt;
  const auto value = toInt(first);
  if (!value || *value < 0) return std::nullopt;
  return value;
}

namespace {

// Opens /sys/kernel/slab/nf_conntrack/objects where that cache is its own (not a link).
Result<UniqueFd> openSlabObjects(const std::string& root) {
  const std::string dir = underRoot(root, "/sys/kernel/slab/nf_conntrack");
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return errnoError(errno, "stat " + dir);
  if (S_ISLNK(st.st_mode)) return Error{Errc::Missing, dir + " is a link to a merged cache"};
  if (!S_ISDIR(st.st_mode)) return Error{Errc::Missing, dir + " is not a directory"};
  const std::string path = dir + "/objects";
  UniqueFd fd = openNonBlocking(path, O_RDONLY);
  if (!fd) return errnoError(errno, "open " + path);
  if (auto regular = requireRegular(fd.get(), path); !regular) return regular.error();
  return fd;
}

Result<std::int64_t> preadSlabObjects(int fd, const std::string& root) {
  std::array<char, 256> buf{};
  ssize_t n = 0;
  do {
    n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  } while (n < 0 && errno == EINTR);
  const std::string path = underRoot(root, "/sys/kernel/slab/nf_conntrack/objects");
  if (n < 0) return errnoError(errno, "read " + path);
  const std::string text(buf.data(), static_cast<std::size_t>(n));
  const auto objects = parseSlabObjects(text);
  if (!objects) return Error{Errc::Malformed, path + ": cannot parse \"" + text.substr(0, 40) + "\""};
  return *objects;
}

}  // namespace

Result<std::int64_t> readSysfsSlabObjects(const std::string& root) {
  auto fd = openSlabObjects(root);
  if (!fd) return fd.error();
  return preadSlabObjects(fd->get(), root);
}

Result<std::int64_t> SlabObjectsReader::read() {
  if (!fd_) {
    auto opened = openSlabObjects(root_);
    if (!opened) return opened.error();
    fd_ = std::move(*opened);
  }
  auto objects = preadSlabObjects(fd_.get(), root_);
  if (!objects) fd_ = UniqueFd();
  return objects;
}

Result<std::string> readBootId(const std::string& root) {
  const std::string path = underRoot(root, "/proc/sys/kernel/random/boot_id");
  auto text = readText(path);
  if (!text) return text.error();
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  if (id.empty()) return Error{Errc::Malformed, path + ": empty"};
  return id;
}

}  // namespace ctpilot::sysfs
