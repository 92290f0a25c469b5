// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the metrics go after each tick: the textfile and the HTTP endpoint of the policy's
// [metrics] section. Renders once per tick; a scrape only reads what was rendered.

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/controller.h"
#include "controller/metrics/http_endpoint.h"
#include "controller/metrics/snapshot.h"
#include "policy/policy.h"

namespace ctpilot::controller::metrics {

/// Keeps the metrics outputs in step with the policy and feeds them after every tick.
class Exporter {
 public:
  /// Creates an exporter whose HTTP endpoint (if any) runs on `io`.
  explicit Exporter(boost::asio::io_context& io);
  /// Opens, moves or closes the HTTP endpoint to match `policy` (start-up and reload). A
  /// listen address that cannot be bound (the port in use) is logged and tried again, after
  /// 1 s, then twice as long each time up to kBindRetryMax; the controller runs on meanwhile.
  void configure(const policy::MetricsPolicy& policy);
  /// Records a completed tick and refreshes the textfile and the served text.
  void afterTick(const TickReport& report, const policy::Policy& policy, double endSeconds, double durationSeconds,
                 bool dryRun);
  /// Closes the HTTP endpoint and its connections so that the loop can end.
  void stop();
  /// Records the outcome of a policy reload (shown at the next tick).
  void reloaded(bool ok) { recorder_.reloaded(ok); }
  /// Returns the address the endpoint listens on ("" when not listening).
  std::string listening() const { return http_ ? http_->address() : std::string(); }

  /// The longest wait between two attempts to bind the listen address.
  static constexpr std::chrono::seconds kBindRetryMax{30};

 private:
  void bind();

  boost::asio::io_context& io_;
  boost::asio::steady_timer bindRetry_;
  int bindFailures_ = 0;
  std::string text_;  // the last text rendered, served at once by an endpoint bound later
  MetricsRecorder recorder_;
  policy::MetricsPolicy config_;
  std::unique_ptr<HttpEndpoint> http_;
  bool textfileFailing_ = false;
};

}  // namespace ctpilot::controller::metrics
