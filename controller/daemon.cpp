// SPDX-License-Identifier: Apache-2.0
#include "controller/daemon.h"

#include <chrono>
#include <csignal>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/metrics/exporter.h"
#include "controller/service_notify.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

double unixSeconds(policy::TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// "21:04:05 raised nf_conntrack_max 65536 -> 131072 (...)" for the newest change of a tick.
std::string lastChangeOf(const TickReport& report, const std::string& before) {
  std::string text;
  if (!report.applied.empty()) {
    const auto& last = report.applied.back();
    text = describeAction(last.action, last.kept, /*would=*/false);
  } else if (!report.planned.empty()) {
    text = "dry run: " + describeAction(report.planned.back(), report.planned.back().to, /*would=*/true);
  } else {
    return before;
  }
  const auto seconds = std::chrono::system_clock::to_time_t(report.now);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  return fmt::format("{:02}:{:02}:{:02} {}", tm.tm_hour, tm.tm_min, tm.tm_sec, text);
}

// One run of the loop: the io_context, its timer and signals, and what the ticks tell
// systemd and Prometheus. Its handlers are member functions; Daemon::run only starts it.
class Loop {
 public:
  Loop(Controller& controller, const std::function<Result<policy::Policy>()>& loadPolicy, TickReport& last, bool once)
      : controller_(controller), loadPolicy_(loadPolicy), last_(last), once_(once), exporter_(io_) {
    exporter_.configure(controller_.policy().metrics);
  }

  // Says how the loop starts, ticks at once, and returns when a signal (or --once) stops it.
  void run() {
    const auto& c = controller_.policy().controller;
    spdlog::info("started: interval {} ({} near the limit), {}", policy::formatDuration(c.interval),
                 policy::formatDuration(c.fastInterval),
                 controller_.dryRun() ? "dry run (no knob is written)" : "acting");
    warnAboutWatchdog();
    waitSignal();
    timer_.expires_at(std::chrono::steady_clock::now());
    timer_.async_wait([this](const boost::system::error_code& ec) { onTimer(ec); });
    io_.run();
  }

 private:
  void warnAboutWatchdog() const {
    const auto watchdog = notifier_.watchdog();
    if (!watchdog || controller_.policy().controller.interval * 2 <= *watchdog) return;
    spdlog::warn(
        "[controller] interval {} is more than half of the systemd watchdog ({}); systemd may restart "
        "ctpilot between two ticks: shorten the interval or raise WatchdogSec=",
        policy::formatDuration(controller_.policy().controller.interval),
        policy::formatDuration(std::chrono::duration_cast<policy::Duration>(*watchdog)));
  }

  void onTimer(const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    const auto now = std::chrono::system_clock::now();
    const auto started = std::chrono::steady_clock::now();
    ++samples_;
    try {
      // The loop must outlive anything a tick runs into; errors from the kernel are values,
      // so only a bug (or memory exhaustion) ends up here.
      if (once_ && samples_ < Daemon::kOnceSamples) {
        last_ = controller_.observe(now);
      } else {
        last_ = controller_.tick(now);
      }
    } catch (const std::exception& e) {
      spdlog::error("tick failed: {}; trying again at the next interval", e.what());
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    lastChange_ = lastChangeOf(last_, lastChange_);
    sendChangesToJournal(last_);
    exporter_.afterTick(last_, controller_.policy(), unixSeconds(std::chrono::system_clock::now()), took.count(),
                        controller_.dryRun());
    // The status line is formatted only for systemd, which alone reads it.
    notifier_.tickDone(notifier_.enabled() ? statusLine(last_, lastChange_) : std::string());
    if (once_ && samples_ >= Daemon::kOnceSamples) {
      stopping_ = true;
      signals_.cancel();
      exporter_.stop();
      return;
    }
    schedule();
  }

  void schedule() {
    // Fast while some namespace is near its limit, growing toward it or dropping; slow otherwise.
    auto pace = nextPace(controller_.policy(), last_);
    if (pace.why != paceWhy_ && (pace.why.empty() || paceWhy_.empty())) {
      spdlog::debug("sampling every {}{}", policy::formatDuration(pace.interval),
                    pace.why.empty() ? std::string() : " (" + pace.why + ")");
    }
    paceWhy_ = std::move(pace.why);
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(pace.interval);
    // Keep a steady cadence (deadline + interval) unless a tick overran; then skip ahead rather
    // than ticking in a burst.
    auto next = timer_.expiry() + interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval;
    timer_.expires_at(next);
    timer_.async_wait([this](const boost::system::error_code& ec) { onTimer(ec); });
  }

  void waitSignal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) { onSignal(ec, signo); });
  }

  void onSignal(const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload();
      waitSignal();
      return;
    }
    spdlog::info("{} received; stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    notifier_.stopping();
    stopping_ = true;
    timer_.cancel();
    exporter_.stop();
  }

  // SIGHUP: a policy that fails to load leaves the one in force.
  void reload() {
    notifier_.reloading();
    auto loaded = loadPolicy_();
    exporter_.reloaded(static_cast<bool>(loaded));
    if (!loaded) {
      spdlog::error("not reloading the policy: {}; keeping the policy in force", loaded.error().what);
      notifier_.reloaded("policy reload failed, old policy in force: " + loaded.error().what);
      return;
    }
    controller_.reload(std::move(loaded.value()));
    exporter_.configure(controller_.policy().metrics);
    spdlog::info("reloaded the policy (interval {})", policy::formatDuration(controller_.policy().controller.interval));
    notifier_.reloaded(statusLine(last_, lastChange_));
  }

  Controller& controller_;
  const std::function<Result<policy::Policy>()>& loadPolicy_;
  TickReport& last_;
  const bool once_;
  boost::asio::io_context io_;
  boost::asio::steady_timer timer_{io_};
  boost::asio::signal_set signals_{io_, SIGTERM, SIGINT, SIGHUP};
  metrics::Exporter exporter_;
  ServiceNotifier notifier_;
  std::string lastChange_;
  std::string paceWhy_;  // why the last schedule sampled fast; empty: at the long interval
  int samples_ = 0;
  bool stopping_ = false;
};

}  // namespace

Daemon::Daemon(Controller& controller, std::function<Result<policy::Policy>()> loadPolicy)
    : controller_(controller), loadPolicy_(std::move(loadPolicy)) {}

void Daemon::run(bool once) {
  Loop loop(controller_, loadPolicy_, last_, once);
  loop.run();
}

}  // namespace ctpilot::controller
