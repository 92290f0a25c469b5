// SPDX-License-Identifier: Apache-2.0
#include "sysfs/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>

#include "policy/unique_fd.h"
#include "sysfs/open_file.h"
#include "sysfs/root_path.h"

namespace ctpilot::sysfs {
namespace {

// Returns the namespace inode behind `path`. The kernel's /proc/PID/ns/net is a magic link
// whose text is "net:[INODE]"; a fake tree uses plain symlinks with the same text, so reading
// the link works for both. Anything else (a bind-mounted /run/netns/NAME, a plain file in a
// fake tree) is identified by the inode stat() returns, which for nsfs is the namespace inode.
std::optional<std::uint64_t> namespaceInode(const std::string& path) {
  std::array<char, 64> link{};
  const auto n = ::readlink(path.c_str(), link.data(), link.size() - 1);
  if (n > 0) {
    const std::string_view text(link.data(), static_cast<std::size_t>(n));
    constexpr std::string_view kPrefix = "net:[";
    if (text.starts_with(kPrefix) && text.ends_with("]")) {
      std::uint64_t inode = 0;
      const auto digits = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
      if (ec == std::errc{} && end == digits.data() + digits.size()) return inode;
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_ino);
}

// The inode of the namespace ctpilot itself runs in: /proc/self under a fake root may be
// absent, so /proc/1 stands in for it there.
std::uint64_t initialInode(const std::string& root) {
  for (const char* path : {"/proc/self/ns/net", "/proc/1/ns/net"}) {
    if (const auto inode = namespaceInode(underRoot(root, path))) return *inode;
  }
  return 0;
}

// Lists the entries of a directory, sorted; an absent directory is empty.
std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool isPid(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Netns initNetns() { return Netns{"init", "", initialInode("/")}; }

Result<std::vector<Netns>> discoverNetns(const std::string& root, const policy::NetnsSelector& selector) {
  using Mode = policy::NetnsSelector::Mode;
  const Netns init{"init", "", initialInode(root)};
  std::vector<Netns> found;
  switch (selector.mode) {
    case Mode::Init: found.push_back(init); break;
    case Mode::Named: {
      std::set<std::string> seenNames;
      for (const auto& name : selector.names) {
        if (!seenNames.insert(name).second) continue;
        if (name == "init") {
          found.push_back(init);
          continue;
        }
        const std::string path = underRoot(root, "/run/netns/" + name);
        const auto inode = namespaceInode(path);
        if (!inode) {
          return Error{Errc::Missing, "netns '" + name + "' not found (" + path +
                                          " does not exist): create it with `ip netns add " + name +
                                          "` or fix [controller] netns in the policy"};
        }
        found.push_back(Netns{name, path, *inode});
      }
      break;
    }
    case Mode::All: {
      found.push_back(init);
      std::set<std::uint64_t> seen{init.inode};
      for (const auto& name : listDir(underRoot(root, "/run/netns"))) {
        const std::string path = underRoot(root, "/run/netns/" + name);
        const auto inode = namespaceInode(path);
        // A name whose namespace was just deleted is skipped, not an error.
        if (!inode || !seen.insert(*inode).second) continue;
        found.push_back(Netns{name, path, *inode});
      }
      auto pids = listDir(underRoot(root, "/proc"));
      pids.erase(std::remove_if(pids.begin(), pids.end(), [](const std::string& p) { return !isPid(p); }), pids.end());
      std::sort(pids.begin(), pids.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
      });
      for (const auto& pid : pids) {
        const std::string path = underRoot(root, "/proc/" + pid + "/ns/net");
        // Processes come and go while we look: a vanished pid is simply not there.
        const auto inode = namespaceInode(path);
        if (!inode || !seen.insert(*inode).second) continue;
        found.push_back(Netns{"netns:" + std::to_string(*inode), path, *inode});
      }
      break;
    }
  }
  return found;
}

namespace {
std::int64_t stampOf(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}
}  // namespace

std::int64_t namedNetnsStamp(const std::string& root) {
  struct stat st {};
  if (::stat(underRoot(root, "/run/netns").c_str(), &st) != 0) return 0;
  return stampOf(st);
}

NamedNetnsStamp::NamedNetnsStamp(const std::string& root) : path_(underRoot(root, "/run/netns")) {}

std::int64_t NamedNetnsStamp::operator()() {
  struct stat st {};
  if (fd_ && ::fstat(fd_.get(), &st) == 0 && st.st_nlink > 0) return stampOf(st);
  // Followed like stat(2) follows it; O_PATH opens without reading, a FIFO or device included.
  fd_.reset(::open(path_.c_str(), O_PATH | O_CLOEXEC));
  if (!fd_ || ::fstat(fd_.get(), &st) != 0) return 0;
  return stampOf(st);
}

Result<void> runInNetns(const Netns& netns, const std::function<void()>& fn) {
  // The process itself lives in the initial netns; only helper threads ever leave it.
  if (netns.initial()) {
    fn();
    return {};
  }
  // Non-blocking: under --root a FIFO could stand where a netns file should; setns refuses it.
  const UniqueFd fd = openNonBlocking(netns.path, O_RDONLY);
  if (!fd) {
    const int err = errno;
    if (err == ENOENT)
      return Error{Errc::Missing, "netns " + netns.name + " is gone: " + netns.path + " does not exist"};
    return errnoError(err, "open netns " + netns.name + " (" + netns.path + ")");
  }
  // /proc/PID/ns/net of a pid that was reused now names another namespace.
  struct stat st {};
  if (netns.inode != 0 && ::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_ino) != netns.inode) {
    return Error{Errc::Missing, "netns " + netns.name + " is gone: " + netns.path + " now names another namespace"};
  }
  int setnsErrno = 0;
  std::exception_ptr thrown;
  std::thread worker([&] {
    // setns(CLONE_NEWNET) moves only this thread; it ends with the thread.
    if (::setns(fd.get(), CLONE_NEWNET) != 0) {
      setnsErrno = errno;
      return;
    }
    try {
      fn();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  worker.join();
  if (thrown) std::rethrow_exception(thrown);
  if (setnsErrno == EPERM) {
    return Error{Errc::Refused, "enter netns " + netns.name + ": Operation not permitted (needs CAP_SYS_ADMIN)"};
  }
  if (setnsErrno == EINVAL) {
    return Error{Errc::Missing, "enter netns " + netns.name + ": " + netns.path + " is not a network namespace"};
  }
  if (setnsErrno != 0) return errnoError(setnsErrno, "enter netns " + netns.name);
  return {};
}

}  // namespace ctpilot::sysfs
