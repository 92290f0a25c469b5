// SPDX-License-Identifier: Apache-2.0
#include "controller/service_notify.h"

#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include <filesystem>

#include <cmath>
#include <cstdint>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "policy/units.h"

namespace ctpilot::controller {

std::string statusLine(const TickReport& report, const std::string& lastChange) {
  std::string line;
  if (!report.sampled) {
    line = "cannot read nf_conntrack" + (report.error ? ": " + report.error->what : std::string());
  } else {
    const policy::NetnsObservation* fullest = nullptr;
    for (const auto& n : report.observation.netns) {
      if (fullest == nullptr || n.count > fullest->count) fullest = &n;
    }
    const auto max = report.observation.max;
    if (fullest == nullptr || max <= 0) {
      line = "no watched netns readable";
    } else {
      const double fill = static_cast<double>(fullest->count) / static_cast<double>(max);
      line = fmt::format("{} {:.1f}% full ({}/{})", fullest->netns, fill * 100.0, fullest->count, max);
      const auto estimate = report.estimates.find(fullest->netns);
      if (estimate != report.estimates.end() && estimate->second.secondsToFull) {
        const auto seconds = static_cast<std::int64_t>(std::ceil(*estimate->second.secondsToFull));
        line += ", full in " + policy::formatDuration(std::chrono::seconds(seconds));
      } else {
        line += ", not growing";
      }
    }
  }
  line += lastChange.empty() ? "; no change yet" : "; last change " + lastChange;
  return line;
}

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceNotifier::send(const std::string& message) {
  if (!enabled_) return;
  if (const int rc = sd_notify(0, message.c_str()); rc < 0) {
    spdlog::debug("sd_notify failed: {}", rc);
  }
}

void ServiceNotifier::tickDone(const std::string& status) {
  std::string message = "STATUS=" + status + "\n";
  if (!ready_) message = "READY=1\n" + message;
  ready_ = true;
  if (watchdog_) message += "WATCHDOG=1\n";
  send(message);
}

void ServiceNotifier::reloading() { send("RELOADING=1\nSTATUS=reloading the policy\n"); }

void ServiceNotifier::reloaded(const std::string& status) { send("READY=1\nSTATUS=" + status + "\n"); }

void ServiceNotifier::stopping() { send("STOPPING=1\nSTATUS=stopping\n"); }

std::vector<std::string> changeJournalFields(const ActionOutcome& outcome) {
  const auto& action = outcome.action;
  return {
      "MESSAGE=" + describeAction(action, outcome.kept, /*would=*/false),
      "PRIORITY=6",
      "CTPILOT_KNOB=" + std::string(policy::kernelName(action.ref.knob)),
      "CTPILOT_NETNS=" + action.ref.netns,
      "CTPILOT_OLD=" + std::to_string(action.from),
      "CTPILOT_NEW=" + std::to_string(outcome.kept),
      "CTPILOT_JOURNAL_ID=" + std::to_string(outcome.intentId),
  };
}

void sendChangesToJournal(const TickReport& report, const std::string& socketPath) {
  if (report.applied.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(socketPath, ec)) return;
  for (const auto& outcome : report.applied) {
    const auto fields = changeJournalFields(outcome);
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const auto& field : fields) iov.push_back({const_cast<char*>(field.data()), field.size()});
    if (const int rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size())); rc < 0) {
      spdlog::debug("sd_journal_sendv failed: {}", rc);
    }
  }
}

}  // namespace ctpilot::controller
