#include "controller/daemon.h"

#include <chrono>
#include <csignal>
#include <exception>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "controller/metrics/exporter.h"
#include "controller/service_notify.h"
#include "policy/units.h"

namespace ctpilot::controller {
namespace {

double unixSeconds(policy::TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

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

}  // namespace

Daemon::Daemon(Controller& controller, std::function<Result<policy::Policy>()> loadPolicy)
    : controller_(controller), loadPolicy_(std::move(loadPolicy)) {}

void Daemon::run(bool once) {
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  metrics::Exporter exporter(io);
  exporter.configure(controller_.policy().metrics);
  ServiceNotifier notifier;
  std::string lastChange;
  int samples = 0;
  bool stopping = false;

  std::function<void()> schedule;
  const auto onTimer = [&](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    const auto now = std::chrono::system_clock::now();
    const auto started = std::chrono::steady_clock::now();
    ++samples;
    try {
      // The loop must outlive anything a tick runs into; errors from the kernel are values,
      // so only a bug (or memory exhaustion) ends up here.
      if (once && samples < kOnceSamples) {
        last_ = controller_.observe(now);
      } else {
        last_ = controller_.tick(now);
      }
    } catch (const std::exception& e) {
      spdlog::error("tick failed: {}; trying again at the next interval", e.what());
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    lastChange = lastChangeOf(last_, lastChange);
    sendChangesToJournal(last_);
    exporter.afterTick(last_, controller_.policy(), unixSeconds(std::chrono::system_clock::now()), took.count(),
                       controller_.dryRun());
    notifier.tickDone(statusLine(last_, lastChange));
    if (once && samples >= kOnceSamples) {
      stopping = true;
      signals.cancel();
      exporter.stop();
      return;
    }
    schedule();
  };
  schedule = [&] {
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        controller_.policy().controller.interval);
    // Keep a steady cadence (deadline + interval) unless a tick overran; then skip ahead rather
    // than ticking in a burst.
    auto next = timer.expiry() + interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval;
    timer.expires_at(next);
    timer.async_wait(onTimer);
  };

  std::function<void()> waitSignal;
  waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        notifier.reloading();
        auto loaded = loadPolicy_();
        exporter.reloaded(static_cast<bool>(loaded));
        if (!loaded) {
          spdlog::error("not reloading the policy: {}; keeping the policy in force", loaded.error().what);
          notifier.reloaded("policy reload failed, old policy in force: " + loaded.error().what);
        } else {
          controller_.reload(std::move(loaded.value()));
          exporter.configure(controller_.policy().metrics);
          spdlog::info("reloaded the policy (interval {})",
                       policy::formatDuration(controller_.policy().controller.interval));
          notifier.reloaded(statusLine(last_, lastChange));
        }
        waitSignal();
        return;
      }
      spdlog::info("{} received; stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      notifier.stopping();
      stopping = true;
      timer.cancel();
      exporter.stop();
    });
  };

  spdlog::info("started: interval {}, {}", policy::formatDuration(controller_.policy().controller.interval),
               controller_.dryRun() ? "dry run (no knob is written)" : "acting");
  if (const auto watchdog = notifier.watchdog();
      watchdog && controller_.policy().controller.interval * 2 > *watchdog) {
    spdlog::warn("[controller] interval {} is more than half of the systemd watchdog ({}); systemd may restart "
                 "ctpilot between two ticks: shorten the interval or raise WatchdogSec=",
                 policy::formatDuration(controller_.policy().controller.interval),
                 policy::formatDuration(std::chrono::duration_cast<policy::Duration>(*watchdog)));
  }
  waitSignal();
  timer.expires_at(std::chrono::steady_clock::now());
  timer.async_wait(onTimer);
  io.run();
}

}  // namespace ctpilot::controller
