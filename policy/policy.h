// SPDX-License-Identifier: Apache-2.0
#pragma once
// The typed policy: what the operator allows ctpilot to do. Defaults here are the built-in
// policy used when no file exists, and must be safe on any machine.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy/knob.h"

namespace ctpilot::policy {

using namespace std::chrono_literals;
using Duration = std::chrono::milliseconds;

/// A fraction in [0, 1]; written as "80%" or "0.8" in policy files.
struct Ratio {
  double value = 0.0;
  friend bool operator==(Ratio, Ratio) = default;
};

/// Which network namespaces the controller watches.
struct NetnsSelector {
  enum class Mode { Init, All, Named };
  Mode mode = Mode::All;           // the limit is global: a namespace left unwatched can fill unseen
  std::vector<std::string> names;  // Mode::Named: names from /run/netns ("init" allowed)
  friend bool operator==(const NetnsSelector&, const NetnsSelector&) = default;
};

/// Tells whether `name` is a plain namespace name as /run/netns holds them: letters, digits,
/// ".", "_", "-", at most 255 characters, not "." or "..".
bool isPlainNetnsName(std::string_view name);

struct ControllerPolicy {
  Duration interval = 1s;  // sampling period while nothing is near its limit (fastInterval below)
  NetnsSelector netns;
  bool dryRun = false;
  bool rollbackOnExit = false;                          // opt-in: restore baselines when the daemon stops
  int maxChanges = 6;                                   // at most this many changes of one knob...
  Duration changeWindow = 10min;                        // ...within this window (no oscillation)
  std::string traceFile;                                // `run` keeps a trace of every sample here ("": none)
  std::int64_t traceMaxBytes = std::int64_t{64} << 20;  // rotate into traceFile.1 beyond this
  /// What a knob changed by someone else becomes: Yield leaves it to them until `ctpilot resume`
  /// or a policy change; Adopt takes their value as the knob's baseline and keeps managing it.
  enum class OnExternal { Yield, Adopt };
  OnExternal onExternal = OnExternal::Yield;
  Duration fastInterval = 100ms;  // sampling period while some watched netns nears its limit (= interval: one pace)
  Ratio fastFill{0.50};           // ...from this fill of the fullest watched netns
  friend bool operator==(const ControllerPolicy&, const ControllerPolicy&) = default;
};

struct MaxPolicy {
  bool enabled = true;  // false: never write nf_conntrack_max (observe only)
  std::int64_t ceiling = std::int64_t{4} * 1024 * 1024;
  Ratio memoryBudget{0.25};  // share of MemTotal the tables of all namespaces together may occupy
  Ratio highWater{0.70};     // below node-mixin's 75% conntrack alert (README "Monitoring")
  Duration lookahead = 60s;
  Ratio targetFill{0.50};
  Duration cooldown = 10s;
  std::int64_t margin = 1024;  // never set max below count + margin
  friend bool operator==(const MaxPolicy&, const MaxPolicy&) = default;
};

struct HashsizePolicy {
  /// Presize: size the hash for the effective ceiling while the table is small (a resize
  /// rehashes every entry under every bucket lock, README Safety promise 11). Follow: resize as
  /// nf_conntrack_max grows. Fixed: never resize.
  enum class Mode { Presize, Follow, Fixed };
  Mode mode = Mode::Presize;
  std::int64_t entriesPerBucket = 4;
  Duration minInterval = 10min;
  std::int64_t maxMemory = 16LL * 1024 * 1024;  // bytes of buckets (8 B each) presize may allocate
  Duration maxStall = 5ms;                      // no resize whose estimated stall of the data plane exceeds this
  bool emergencyMayStall = false;               // chaintoolong/insert_failed may resize beyond max_stall
  friend bool operator==(const HashsizePolicy&, const HashsizePolicy&) = default;
};

struct TimeoutsPolicy {
  enum class Mode { Shorten, Off };
  Mode mode = Mode::Off;  // shortening is opt-in
  Ratio shortenAt{0.90};
  double factor = 0.5;  // in (0, 1)
  Ratio relaxBelow{0.60};
  Duration relaxAfter = 15min;
  Duration cooldown = 30s;  // between two timeout steps in one netns
  std::vector<Knob> order{Knob::TcpTimeoutTimeWait, Knob::TcpTimeoutCloseWait, Knob::TcpTimeoutFinWait,
                          Knob::UdpTimeoutStream, Knob::TcpTimeoutEstablished};
  /// The timeouts that hold flows which never saw a reply (what a flood leaves behind): shortened
  /// before `order`, and earlier (README "How ctpilot decides", shedding). Empty: never shed.
  std::vector<Knob> shed{Knob::UdpTimeout, Knob::TcpTimeoutSynSent, Knob::TcpTimeoutSynRecv,
                         Knob::TcpTimeoutUnacknowledged};
  Duration shedCooldown = 5s;                                          // between two shedding steps in one netns
  std::map<Knob, std::int64_t> floors{{Knob::TcpTimeoutTimeWait, 10},  // seconds
                                      {Knob::TcpTimeoutCloseWait, 10},
                                      {Knob::TcpTimeoutFinWait, 10},
                                      {Knob::UdpTimeoutStream, 30},
                                      {Knob::TcpTimeoutEstablished, 3600},
                                      // a reply within 5 s (a DNS client retries after 5 s: a new entry)
                                      {Knob::UdpTimeout, 5},
                                      // 4 SYN retransmissions (1 + 2 + 4 + 8 + 16 s)
                                      {Knob::TcpTimeoutSynSent, 30},
                                      {Knob::TcpTimeoutSynRecv, 30},
                                      // a peer silent for a minute with data outstanding
                                      {Knob::TcpTimeoutUnacknowledged, 60}};
  friend bool operator==(const TimeoutsPolicy&, const TimeoutsPolicy&) = default;
};

/// Where the metrics go; both off unless set.
struct MetricsPolicy {
  std::string textfile;    // absolute path, rewritten atomically every tick ("" = off)
  std::string listenHost;  // numeric IPv4 or IPv6 address ("" = off)
  int listenPort = 0;
  friend bool operator==(const MetricsPolicy&, const MetricsPolicy&) = default;
};

/// Everything a policy file can say, with defaults filled in.
struct Policy {
  ControllerPolicy controller;
  MaxPolicy max;
  HashsizePolicy hashsize;
  TimeoutsPolicy timeouts;
  MetricsPolicy metrics;
  friend bool operator==(const Policy&, const Policy&) = default;
};

}  // namespace ctpilot::policy
