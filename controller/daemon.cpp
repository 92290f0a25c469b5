#include "controller/daemon.h"

#include <chrono>
#include <csignal>
#include <exception>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "policy/units.h"

namespace ctpilot::controller {

Daemon::Daemon(Controller& controller, std::function<Result<policy::Policy>()> loadPolicy)
    : controller_(controller), loadPolicy_(std::move(loadPolicy)) {}

void Daemon::run(bool once) {
  boost::asio::io_context io;
  boost::asio::steady_timer timer(io);
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  int samples = 0;
  bool stopping = false;

  std::function<void()> schedule;
  const auto onTimer = [&](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    const auto now = std::chrono::system_clock::now();
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
    if (once && samples >= kOnceSamples) {
      stopping = true;
      signals.cancel();
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
        auto loaded = loadPolicy_();
        if (!loaded) {
          spdlog::error("not reloading the policy: {}; keeping the policy in force", loaded.error().what);
        } else {
          controller_.reload(std::move(loaded.value()));
          spdlog::info("reloaded the policy (interval {})",
                       policy::formatDuration(controller_.policy().controller.interval));
        }
        waitSignal();
        return;
      }
      spdlog::info("{} received; stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      stopping = true;
      timer.cancel();
    });
  };

  spdlog::info("started: interval {}, {}", policy::formatDuration(controller_.policy().controller.interval),
               controller_.dryRun() ? "dry run (no knob is written)" : "acting");
  waitSignal();
  timer.expires_at(std::chrono::steady_clock::now());
  timer.async_wait(onTimer);
  io.run();
}

}  // namespace ctpilot::controller
