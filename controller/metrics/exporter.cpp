#include "controller/metrics/exporter.h"

#include <spdlog/spdlog.h>

#include "controller/metrics/textfile.h"

namespace ctpilot::controller::metrics {

Exporter::Exporter(boost::asio::io_context& io) : io_(io) {}

void Exporter::configure(const policy::MetricsPolicy& policy) {
  const bool sameListen = http_ && policy.listenHost == config_.listenHost && policy.listenPort == config_.listenPort;
  if (policy.textfile != config_.textfile) textfileFailing_ = false;
  config_ = policy;
  if (sameListen) return;
  http_.reset();
  if (policy.listenHost.empty()) return;
  auto endpoint = std::make_unique<HttpEndpoint>(io_);
  if (auto listened = endpoint->listen(policy.listenHost, policy.listenPort); !listened) {
    spdlog::error("cannot serve metrics: {}; fix [metrics] listen and reload", listened.error().what);
    return;
  }
  http_ = std::move(endpoint);
  if (isLoopback(policy.listenHost)) {
    spdlog::info("serving metrics at http://{}/metrics", http_->address());
  } else {
    spdlog::warn("serving metrics at http://{}/metrics, beyond loopback: anyone who can reach it sees the table "
                 "fill and the policy's limits; restrict it with a firewall",
                 http_->address());
  }
}

void Exporter::stop() {
  if (http_) http_->stop();
  http_.reset();
}

void Exporter::afterTick(const TickReport& report, const policy::Policy& policy, double endSeconds,
                         double durationSeconds, bool dryRun) {
  if (config_.textfile.empty() && !http_) return;
  recorder_.record(report, policy, endSeconds, durationSeconds, dryRun);
  auto text = exposition(recorder_.snapshot());
  if (!config_.textfile.empty()) {
    if (auto written = writeTextfile(config_.textfile, text); !written) {
      if (!textfileFailing_) {
        // A link, FIFO or directory in the way says so itself (README Safety promise 13).
        spdlog::warn("cannot write the metrics textfile: {}{}", written.error().what,
                     written.error().code == Errc::Malformed ? "" : "; does its directory exist and is it writable?");
      }
      textfileFailing_ = true;
    } else if (textfileFailing_) {
      spdlog::info("metrics textfile {} written again", config_.textfile);
      textfileFailing_ = false;
    }
  }
  if (http_) http_->publish(std::move(text));
}

}  // namespace ctpilot::controller::metrics
