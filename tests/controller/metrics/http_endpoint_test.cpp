// SPDX-License-Identifier: Apache-2.0
// The metrics endpoint on a loopback port, its loop on a thread of the test: what a client
// sends and what it reads back.
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "controller/metrics/http_endpoint.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using ctpilot::controller::metrics::HttpEndpoint;
using ctpilot::controller::metrics::isLoopback;

namespace {

// An endpoint serving "up 1\n" on a free loopback port, until the end of the test.
class Served {
 public:
  Served() : endpoint_(io_) {
    REQUIRE(endpoint_.listen("127.0.0.1", 0));
    endpoint_.publish("up 1\n");
    const auto address = endpoint_.address();
    port_ = static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Served() {
    asio::post(io_, [this] {
      endpoint_.stop();
      io_.stop();
    });
    thread_.join();
  }
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;

  // A blocking client socket connected to the endpoint.
  tcp::socket connect() {
    tcp::socket socket(client_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    return socket;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  HttpEndpoint endpoint_;
  asio::io_context client_;
  unsigned short port_ = 0;
  std::thread thread_;
};

// Everything the endpoint sends on `socket` until it closes.
std::string readAll(tcp::socket& socket) {
  std::string out;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(out), ec);
  return out;
}

std::string ask(Served& served, const std::string& request) {
  auto socket = served.connect();
  asio::write(socket, asio::buffer(request));
  return readAll(socket);
}

bool startsWith(const std::string& text, const std::string& prefix) {
  CAPTURE(text);
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("a scrape with LF-only line ends is answered") {
  Served served;
  const auto answer = ask(served, "GET /metrics HTTP/1.1\nHost: x\n\n");
  CHECK(startsWith(answer, "HTTP/1.1 200 OK\r\n"));
  CHECK(answer.find("\r\n\r\nup 1\n") != std::string::npos);
}

TEST_CASE("another method is answered 405 with the methods allowed") {
  Served served;
  const auto answer = ask(served, "POST /metrics HTTP/1.1\r\n\r\n");
  CHECK(startsWith(answer, "HTTP/1.1 405 Method Not Allowed\r\n"));
  CHECK(answer.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
}

TEST_CASE("a request head longer than the limit is answered 431, also when the client sends more") {
  Served served;
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Junk: " + std::string(HttpEndpoint::kMaxRequestBytes, 'a');
  CHECK(startsWith(ask(served, head), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  CHECK(startsWith(ask(served, head + head + "\r\n\r\n"), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

TEST_CASE("clients that never finish their request do not keep a scrape out") {
  Served served;
  // Slowloris: every slot taken by a client that sent part of a head and waits.
  std::vector<tcp::socket> slow;
  for (std::size_t i = 0; i < 2 * HttpEndpoint::kMaxConnections; ++i) {
    slow.push_back(served.connect());
    asio::write(slow.back(), asio::buffer(std::string("GET /metrics HTTP/1.1\r\nX-a: b\r\n")));
  }
  for (int scrape = 0; scrape < 3; ++scrape) {
    CAPTURE(scrape);
    CHECK(startsWith(ask(served, "GET /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 OK\r\n"));
  }
  // The oldest slow client gave its slot away: it was closed without an answer.
  CHECK(readAll(slow.front()).empty());
}

TEST_CASE("loopback addresses, IPv4 written as IPv6 too") {
  CHECK(isLoopback("127.0.0.1"));
  CHECK(isLoopback("127.1.2.3"));
  CHECK(isLoopback("::1"));
  CHECK(isLoopback("::ffff:127.0.0.1"));
  CHECK_FALSE(isLoopback("::ffff:192.0.2.1"));
  CHECK_FALSE(isLoopback("0.0.0.0"));
  CHECK_FALSE(isLoopback("::"));
  CHECK_FALSE(isLoopback("localhost"));
}
