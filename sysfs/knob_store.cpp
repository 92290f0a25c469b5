// SPDX-License-Identifier: Apache-2.0
#include "sysfs/knob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <map>
#include <string_view>
#include <utility>

#include "policy/unique_fd.h"
#include "sysfs/knob_registry.h"
#include "sysfs/open_file.h"
#include "sysfs/root_path.h"

namespace ctpilot::sysfs {
namespace {

// The same kernel knob as nf_conntrack_buckets (both resize the table), reached through the
// module parameter. Some kernels and containers refuse the sysctl but allow this one.
constexpr const char* kHashsizePath = "/sys/module/nf_conntrack/parameters/hashsize";

// Turns an errno from open/read/write of a knob into an Error that says what to do.
Error knobError(int err, const std::string& op, const std::string& path, const std::string& root) {
  Error error = errnoError(err, op + " " + path);
  if (err == ENOENT) {
    struct stat st {};
    // nf_conntrack_count exists whenever nf_conntrack is loaded: tells "module absent" from "knob absent".
    if (::stat(underRoot(root, registryEntry(Knob::Count).path).c_str(), &st) == 0) {
      error.what += " (this kernel does not have this knob)";
    } else {
      error.what += " (nf_conntrack is not loaded: run `modprobe nf_conntrack`)";
    }
  }
  return error;
}

// Parses a sysctl value: one decimal integer, surrounding whitespace allowed.
Result<std::int64_t> parseValue(std::string_view text, const std::string& path) {
  const auto first = text.find_first_not_of(" \t\n");
  const auto last = text.find_last_not_of(" \t\n");
  if (first == std::string_view::npos) return Error{Errc::Malformed, "read " + path + ": empty, expected an integer"};
  const auto trimmed = text.substr(first, last - first + 1);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (ec != std::errc{} || end != trimmed.data() + trimmed.size()) {
    return Error{Errc::Malformed, "read " + path + ": not an integer: \"" + std::string(trimmed.substr(0, 40)) + "\""};
  }
  return value;
}

// Reads a knob from offset 0 of an open descriptor (sysctl files re-read from 0 each time).
Result<std::int64_t> readFd(int fd, const std::string& path, const std::string& root) {
  std::array<char, 128> buf{};
  const auto n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  if (n < 0) return knobError(errno, "read", path, root);
  return parseValue(std::string_view(buf.data(), static_cast<std::size_t>(n)), path);
}

Result<void> writeFd(int fd, std::int64_t value, const std::string& path, const std::string& root) {
  const std::string text = std::to_string(value) + "\n";
  const auto n = ::pwrite(fd, text.data(), text.size(), 0);
  if (n < 0) {
    // A descriptor that could only be opened read-only means the file is not writable for us.
    if (errno == EBADF) return Error{Errc::Refused, "write " + path + ": not writable in this netns"};
    return knobError(errno, "write", path, root);
  }
  if (static_cast<std::size_t>(n) != text.size()) return Error{Errc::Io, "write " + path + ": short write"};
  return {};
}

Result<void> writePath(const std::string& path, std::int64_t value, const std::string& root) {
  // O_TRUNC as `echo > file` does: harmless on /proc/sys, needed for a plain file in a fake tree.
  const UniqueFd fd = openNonBlocking(path, O_WRONLY | O_TRUNC);
  if (!fd) return knobError(errno, "write", path, root);
  if (auto regular = requireRegular(fd.get(), path); !regular) return regular.error();
  return writeFd(fd.get(), value, path, root);
}

}  // namespace

struct ProcKnobStore::State {
  struct Held {
    UniqueFd fd;
    bool writable = false;
  };
  // Descriptors opened inside a non-initial netns, by (netns inode, knob). They keep reading
  // and writing that namespace's value after the opening thread has left it (checked on Linux 6.18 for
  // nf_conntrack_count and a timeout).
  std::map<std::pair<std::uint64_t, Knob>, Held> held;
  // Read-only descriptors of the initial netns's files (and of global knobs, which live there),
  // by knob: a tick reads about eight knobs, and a sysctl re-reads from offset 0 each time, so
  // there is no need to open them anew. Kept apart from `held`: an inode of 0 there means "no
  // identity", and forget() of any namespace must not close these.
  std::map<Knob, UniqueFd> initial;

  // Reads `knob` in the initial netns through a kept descriptor. A file that cannot be opened
  // (module not loaded yet) is not remembered, so it is found once it appears. A kept descriptor
  // whose read fails (module unloaded and reloaded: its old files answer ENOENT) is closed and
  // the file opened afresh, once, so a reload costs no failed read.
  Result<std::int64_t> readInitial(Knob knob, const std::string& path, const std::string& root) {
    if (const auto found = initial.find(knob); found != initial.end()) {
      auto value = readFd(found->second.get(), path, root);
      if (value || value.error().code == Errc::Malformed) return value;
      initial.erase(found);
    }
    UniqueFd fd = openNonBlocking(path, O_RDONLY);
    if (!fd) return knobError(errno, "read", path, root);
    if (auto regular = requireRegular(fd.get(), path); !regular) return regular.error();
    const int raw = fd.get();
    initial.emplace(knob, std::move(fd));
    return readFd(raw, path, root);
  }

  // A descriptor for `knob` in a non-initial netns: kept in `held`, or owned here when the
  // namespace has no inode to cache it under (then it closes when this goes out of scope).
  struct Opened {
    int fd = -1;
    bool writable = false;
    UniqueFd owned;
  };

  // Returns the descriptor for `knob` in a non-initial `netns`, opening it inside the namespace.
  Result<Opened> open(const Netns& netns, Knob knob, const std::string& path, const std::string& root) {
    const auto key = std::make_pair(netns.inode, knob);
    if (const auto found = held.find(key); found != held.end()) {
      return Opened{found->second.fd.get(), found->second.writable, {}};
    }
    const bool wantWrite = registryEntry(knob).writable;
    Held opened;
    int openErrno = 0;
    auto entered = runInNetns(netns, [&] {
      if (wantWrite) {
        opened.fd = openNonBlocking(path, O_RDWR);
        opened.writable = static_cast<bool>(opened.fd);
      }
      // Not writable for us here (e.g. a netns owned by another user namespace): still readable.
      if (!opened.fd) opened.fd = openNonBlocking(path, O_RDONLY);
      if (!opened.fd) openErrno = errno;
    });
    if (!entered) return entered.error();
    if (!opened.fd) return knobError(openErrno, "open", path + " in netns " + netns.name, root);
    if (auto regular = requireRegular(opened.fd.get(), path + " in netns " + netns.name); !regular) {
      return regular.error();
    }
    Opened result{opened.fd.get(), opened.writable, {}};
    if (netns.inode != 0) {
      held.emplace(key, std::move(opened));
    } else {
      result.owned = std::move(opened.fd);
    }
    return result;
  }

  void drop(const Netns& netns, Knob knob) { held.erase({netns.inode, knob}); }
};

ProcKnobStore::ProcKnobStore(std::string root) : root_(std::move(root)), state_(std::make_unique<State>()) {}

ProcKnobStore::~ProcKnobStore() = default;

Result<std::int64_t> ProcKnobStore::read(const Netns& netns, Knob knob) const {
  const auto& entry = registryEntry(knob);
  const std::string path = underRoot(root_, entry.path);
  // A global knob has one value; inside other namespaces the file only mirrors it.
  if (netns.initial() || entry.scope == Scope::Global) return state_->readInitial(knob, path, root_);
  auto held = state_->open(netns, knob, path, root_);
  if (!held) return held.error();
  auto value = readFd(held->fd, path + " in netns " + netns.name, root_);
  // A stale descriptor (module reloaded): open afresh next time.
  if (!value && netns.inode != 0) state_->drop(netns, knob);
  return value;
}

Result<std::int64_t> ProcKnobStore::write(const Netns& netns, Knob knob, std::int64_t value) {
  const auto& entry = registryEntry(knob);
  const std::string path = underRoot(root_, entry.path);
  const std::string name(policy::kernelName(knob));
  if (!entry.writable) return Error{Errc::Refused, "write " + path + ": " + name + " is read-only"};
  if (entry.scope == Scope::Global && !netns.initial()) {
    return Error{Errc::Refused, "write " + path + " in netns " + netns.name + ": " + name +
                                    " is global and can only be written from the initial netns"};
  }
  if (netns.initial()) {
    auto written = writePath(path, value, root_);
    if (!written && written.error().code == Errc::Refused && knob == Knob::Buckets) {
      // Both paths resize the same hash table; try the module parameter before giving up.
      if (auto viaParam = writePath(underRoot(root_, kHashsizePath), value, root_); viaParam) written = viaParam;
    }
    if (!written) return written.error();
    return state_->readInitial(knob, path, root_);
  }
  auto held = state_->open(netns, knob, path, root_);
  if (!held) return held.error();
  const std::string where = path + " in netns " + netns.name;
  Result<std::int64_t> kept = Error{Errc::Refused, "write " + where + ": not writable in this netns"};
  if (held->writable) {
    auto written = writeFd(held->fd, value, where, root_);
    kept = written ? readFd(held->fd, where, root_) : Result<std::int64_t>(written.error());
  }
  return kept;
}

void ProcKnobStore::forget(const Netns& netns) {
  for (auto it = state_->held.begin(); it != state_->held.end();) {
    if (it->first.first == netns.inode) {
      it = state_->held.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ctpilot::sysfs
