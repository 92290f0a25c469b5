// SPDX-License-Identifier: Apache-2.0
#include "controller/metrics/exporter.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "controller/metrics/textfile.h"

namespace ctpilot::controller::metrics {

Exporter::Exporter(boost::asio::io_context& io) : io_(io), bindRetry_(io) {}

void Exporter::configure(const policy::MetricsPolicy& policy) {
  const bool sameListen = http_ && policy.listenHost == config_.listenHost && policy.listenPort == config_.listenPort;
  if (policy.textfile != config_.textfile) textfileFailing_ = false;
  config_ = policy;
  if (sameListen) return;
  http_.reset();
  bindRetry_.cancel();
  bindFailures_ = 0;
  if (policy.listenHost.empty()) return;
  bind();
}

void Exporter::bind() {
  auto endpoint = std::make_unique<HttpEndpoint>(io_);
  if (auto listened = endpoint->listen(config_.listenHost, config_.listenPort); !listened) {
    if (listened.error().code == Errc::Rejected) {  // not an address: trying again cannot help
      spdlog::error("cannot serve metrics: {}; fix [metrics] listen and reload", listened.error().what);
      return;
    }
    const auto wait = std::min(std::chrono::seconds(1L << std::min(bindFailures_, 5)), kBindRetryMax);
    if (bindFailures_ == 0) {
      spdlog::error("cannot serve metrics: {}; trying again every {}s at most (is another exporter on that port?)",
                    listened.error().what, kBindRetryMax.count());
    }
    ++bindFailures_;
    bindRetry_.expires_after(wait);
    bindRetry_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) bind();
    });
    return;
  }
  http_ = std::move(endpoint);
  if (!text_.empty()) http_->publish(text_);
  if (bindFailures_ > 0) spdlog::info("metrics listen address bound after {} failed attempts", bindFailures_);
  bindFailures_ = 0;
  if (isLoopback(config_.listenHost)) {
    spdlog::info("serving metrics at http://{}/metrics", http_->address());
  } else {
    spdlog::warn(
        "serving metrics at http://{}/metrics, beyond loopback: anyone who can reach it sees the table "
        "fill and the policy's limits; restrict it with a firewall",
        http_->address());
  }
}

void Exporter::stop() {
  bindRetry_.cancel();
  if (http_) http_->stop();
  http_.reset();
}

void Exporter::afterTick(const TickReport& report, const policy::Policy& policy, double endSeconds,
                         double durationSeconds, bool dryRun) {
  if (config_.textfile.empty() && config_.listenHost.empty()) return;
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
  text_ = std::move(text);
  if (http_) http_->publish(text_);
}

}  // namespace ctpilot::controller::metrics
