// SPDX-License-Identifier: Apache-2.0
#pragma once
// Network namespaces: discovery (init, /run/netns names, every distinct one in /proc/*/ns/net)
// and entry. setns(CLONE_NEWNET) changes only the calling thread, so entry happens in a
// thread made for it.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/result.h"
#include "policy/unique_fd.h"

namespace ctpilot::sysfs {

/// One network namespace.
struct Netns {
  std::string name;         // "init", a /run/netns name, or "netns:<inode>" for unnamed ones
  std::string path;         // "" for the initial netns (the process's own), else /run/netns/NAME or /proc/PID/ns/net
  std::uint64_t inode = 0;  // namespace inode: identity across names
  bool initial() const { return path.empty(); }
  friend bool operator==(const Netns&, const Netns&) = default;
};

/// Returns the initial network namespace.
Netns initNetns();

/// Lists the namespaces `selector` names, under `root` ("/" in production). Mode::Named fails
/// with Errc::Missing naming the first absent name; Mode::All never fails for a vanished pid.
Result<std::vector<Netns>> discoverNetns(const std::string& root, const policy::NetnsSelector& selector);

/// Returns the modification time (ns since the epoch) of /run/netns under `root`, 0 when it does
/// not exist: it changes whenever `ip netns add` or `ip netns del` runs. One stat, no scan.
std::int64_t namedNetnsStamp(const std::string& root);

/// namedNetnsStamp for a caller that asks every tick: /run/netns is held open (O_PATH), so each
/// call is one fstat instead of a path lookup. Opened again when it was removed (no links left)
/// or could not be opened before.
class NamedNetnsStamp {
 public:
  explicit NamedNetnsStamp(const std::string& root);
  /// The stamp namedNetnsStamp(root) returns.
  std::int64_t operator()();

 private:
  std::string path_;
  UniqueFd fd_;
};

/// Runs `fn` on a new thread that has entered `netns`, and waits for it. Errors: Missing
/// (netns gone), Refused (no CAP_SYS_ADMIN).
Result<void> runInNetns(const Netns& netns, const std::function<void()>& fn);

}  // namespace ctpilot::sysfs
