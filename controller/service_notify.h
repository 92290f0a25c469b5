// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tells systemd how the daemon is doing (sd_notify(3)): READY=1 once the journal is open and
// the first sample read, a one-line STATUS=, WATCHDOG=1 after each completed tick, and
// RELOADING=1 ... READY=1 around a policy reload. Without NOTIFY_SOCKET every call does nothing.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controller/controller.h"

namespace ctpilot::controller {

/// Returns the STATUS= line for a tick: the fullest netns, its fill and time to full, and the
/// last change (`lastChange` empty: none yet), e.g.
/// "gw 45.2% full, full in 3m 10s; last change 21:04:05 raised nf_conntrack_max 65536 -> 131072".
std::string statusLine(const TickReport& report, const std::string& lastChange);

/// Returns the systemd journal fields (FIELD=value) of one applied change: MESSAGE, PRIORITY,
/// CTPILOT_KNOB, CTPILOT_NETNS, CTPILOT_OLD, CTPILOT_NEW, CTPILOT_JOURNAL_ID (its intent record).
std::vector<std::string> changeJournalFields(const ActionOutcome& outcome);

/// Sends each applied change of `report` to the systemd journal (sd_journal_sendv) when
/// `socketPath` (journald's native socket) exists; does nothing otherwise.
void sendChangesToJournal(const TickReport& report, const std::string& socketPath = "/run/systemd/journal/socket");

/// Sends service state to systemd's notification socket.
class ServiceNotifier {
 public:
  /// Reads NOTIFY_SOCKET and WATCHDOG_USEC (via libsystemd) from the environment.
  ServiceNotifier();
  /// Tells whether systemd (or a test) listens.
  bool enabled() const { return enabled_; }
  /// Returns the watchdog period systemd asked for, if any.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }
  /// After a completed tick: READY=1 the first time, STATUS=, and WATCHDOG=1.
  void tickDone(const std::string& status);
  /// Before re-reading the policy.
  void reloading();
  /// After the reload (or its failure): READY=1 with a STATUS= saying how it went.
  void reloaded(const std::string& status);
  /// Before stopping.
  void stopping();

 private:
  void send(const std::string& message);

  bool enabled_ = false;
  bool ready_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace ctpilot::controller
