// SPDX-License-Identifier: Apache-2.0
#pragma once
// GET /metrics over HTTP on the daemon's own Asio loop. Nothing here waits: every read and
// write is asynchronous, each connection has a deadline, a bounded request buffer and is
// closed after one response, and at most kMaxConnections are open at once. Slow clients cannot
// starve a scrape: a request head must arrive within kReadDeadline (a scraper sends it at
// once), and when every slot is taken a new connection takes the slot of the oldest one still
// sending its head. The body is the text rendered after the last tick, shared by all
// connections: a scrape never runs a tick, and a tick never waits for a scrape.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policy/result.h"

namespace ctpilot::controller::metrics {

/// Serves the latest metrics text at GET /metrics.
class HttpEndpoint {
 public:
  /// Connections open at once; more are accepted and closed at once.
  static constexpr std::size_t kMaxConnections = 16;
  /// The largest request head read; a larger one is answered 431.
  static constexpr std::size_t kMaxRequestBytes = 8192;
  /// A connection whose request head has not arrived by then is closed (well under
  /// Prometheus' default scrape timeout, 10 s).
  static constexpr std::chrono::seconds kReadDeadline{2};
  /// A connection that has not been answered by then is closed.
  static constexpr std::chrono::seconds kDeadline{5};
  /// The open connections (the type is private to http_endpoint.cpp).
  struct Connections;

  /// Creates an endpoint on `io`; nothing listens until listen().
  explicit HttpEndpoint(boost::asio::io_context& io);
  /// Closes the listening socket; open connections finish or time out.
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  /// Binds `host` (numeric IPv4 or IPv6) and `port` and starts accepting.
  Result<void> listen(const std::string& host, int port);
  /// Stops accepting and closes every open connection now.
  void stop();
  /// Replaces the text served from now on.
  void publish(std::string body);
  /// Returns "ADDRESS:PORT" the endpoint listens on ("" when not listening).
  std::string address() const;

 private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // after an accept error (out of descriptors): pause, not spin
  std::shared_ptr<const std::string> body_;
  // Shared with the connections, which may outlive this: they register there and remove
  // themselves when they close.
  std::shared_ptr<Connections> connections_;
};

/// Tells whether `host` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
bool isLoopback(const std::string& host);

}  // namespace ctpilot::controller::metrics
