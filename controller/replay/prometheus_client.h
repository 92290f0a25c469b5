// SPDX-License-Identifier: Apache-2.0
#pragma once
// Fetches a fleet's conntrack history from Prometheus' HTTP API (/api/v1/query_range) with
// Boost.Beast over http:// or https:// (Boost.Asio ssl, OpenSSL): the series
// prometheus_import.h reads, for every instance a selector matches, a long range split into
// requests under Prometheus' limit of 11,000 points per series. Credentials come from files
// only. The answers are handed to importPrometheusFleet() as they came.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "controller/replay/prometheus_import.h"
#include "policy/policy.h"
#include "policy/result.h"

namespace ctpilot::controller {

/// Prometheus refuses a range query of more points per series than this (11,000); requests
/// stay at or under kPrometheusPointsPerRequest.
inline constexpr std::int64_t kPrometheusPointsPerRequest = 10'000;
/// The most requests one fetch makes (a range/step that needs more is refused: raise --step).
inline constexpr std::size_t kPrometheusMaxRequests = 2'000;

/// Where and what to fetch.
struct PrometheusQuery {
  std::string url;    // http://host:9090 or https://host/prefix
  std::string match;  // label matchers: {job="node",instance=~"gw.*"} (braces optional); may be empty
  policy::TimePoint from{}, to{};
  std::chrono::milliseconds step{15'000};
  std::chrono::milliseconds timeout{30'000};  // per request: connect, send and the whole answer
  std::string basicAuthFile;                  // a file holding "user:password"
  std::string bearerTokenFile;                // a file holding the token
  std::string caFile;                         // https: trust this CA file instead of the system's
};

/// The PromQL selector fetched: every series importPrometheusFleet() uses, narrowed by `match`.
/// Errc::Malformed when `match` is not a list of label matchers.
Result<std::string> fleetSelector(const std::string& match);

/// The [start, end] of each request: consecutive, on the step grid from `from`, each at most
/// kPrometheusPointsPerRequest points. Errc::Malformed for an empty or reversed range, a step
/// under 1 s, or more than kPrometheusMaxRequests requests.
Result<std::vector<std::pair<policy::TimePoint, policy::TimePoint>>> splitRange(const PrometheusQuery& query);

/// Fetches every piece. Errc::Io with one line (the URL, and Prometheus' own `error` for a non-2xx
/// answer; "authentication required" for 401/403) when the server cannot be reached or refuses;
/// Errc::Malformed for a bad URL, selector, range or credentials file. `progress` is told each
/// piece done.
Result<std::vector<PrometheusAnswer>> fetchPrometheus(
    const PrometheusQuery& query, const std::function<void(std::size_t done, std::size_t total)>& progress = {});

}  // namespace ctpilot::controller
