// SPDX-License-Identifier: Apache-2.0
#include "controller/metrics/http_endpoint.h"

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "controller/metrics/http_request.h"

namespace ctpilot::controller::metrics {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

}  // namespace

class HttpConnection;

// The open connections, oldest first, with whether each is still reading its request head.
struct HttpEndpoint::Connections {
  std::uint64_t next = 0;
  std::map<std::uint64_t, HttpConnection*> open;
};

// One request, one response, then close.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  using Connections = HttpEndpoint::Connections;
  HttpConnection(tcp::socket socket, std::shared_ptr<const std::string> body, std::shared_ptr<Connections> connections)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        body_(std::move(body)),
        connections_(std::move(connections)),
        id_(connections_->next++) {
    connections_->open[id_] = this;
  }
  ~HttpConnection() { connections_->open.erase(id_); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  void start() {
    expireAfter(HttpEndpoint::kReadDeadline);
    read();
  }

  /// True while the request head has not arrived, and once answered: the connection may give
  /// its slot to a newer one.
  bool mayYield() const { return mayYield_; }

  /// Closes the socket now; the pending read or write then ends and lets this go.
  void close() {
    connections_->open.erase(id_);
    boost::system::error_code ignored;
    deadline_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void expireAfter(std::chrono::seconds after) {
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  void read() {
    auto free = asio::buffer(request_.data() + received_, request_.size() - received_);
    socket_.async_read_some(free, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        self->close();  // reset, closed by the client, by the deadline or for a newer client
        return;
      }
      self->received_ += n;
      const auto head =
          parseRequestHead(std::string_view(self->request_.data(), self->received_), HttpEndpoint::kMaxRequestBytes);
      if (!head.complete) {
        self->read();
        return;
      }
      self->respond(head);
    });
  }

  void respond(const HttpRequestHead& request) {
    mayYield_ = false;
    expireAfter(HttpEndpoint::kDeadline);
    std::string extra;
    switch (request.status) {
      case HttpStatus::Ok: break;
      case HttpStatus::MethodNotAllowed:
        extra = "Allow: GET, HEAD\r\n";
        body_ = std::make_shared<const std::string>("only GET /metrics is served\n");
        break;
      case HttpStatus::NotFound:
        body_ = std::make_shared<const std::string>("ctpilot serves its metrics at /metrics\n");
        break;
      case HttpStatus::BadRequest: body_ = std::make_shared<const std::string>("not an HTTP/1.1 request\n"); break;
      case HttpStatus::HeadTooLarge:
        body_ = std::make_shared<const std::string>("request head longer than " +
                                                    std::to_string(HttpEndpoint::kMaxRequestBytes) + " bytes\n");
        break;
    }
    header_ = "HTTP/1.1 " + statusLine(request.status) +
              "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
              std::to_string(body_->size()) + "\r\n" + extra + "Connection: close\r\n\r\n";
    const std::string_view body = request.headOnly ? std::string_view() : std::string_view(*body_);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(header_), asio::buffer(body)};
    asio::async_write(socket_, buffers, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        self->close();
        return;
      }
      self->mayYield_ = true;
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->linger();
    });
  }

  // Answered: says so (FIN) and reads what the client still sends until it closes, so that
  // closing never discards unread bytes, which would reset the connection and could lose the
  // answer on its way (a head longer than the limit). A client that keeps the connection
  // open gives its slot to a newer one, or is closed at the deadline.
  void linger() {
    socket_.async_read_some(asio::buffer(request_),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              if (ec) {
                                self->close();
                                return;
                              }
                              self->linger();
                            });
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  std::array<char, HttpEndpoint::kMaxRequestBytes> request_{};
  std::size_t received_ = 0;
  bool mayYield_ = true;
  std::shared_ptr<const std::string> body_;
  std::shared_ptr<Connections> connections_;
  std::uint64_t id_;
  std::string header_;
};

HttpEndpoint::HttpEndpoint(asio::io_context& io)
    : acceptor_(io),
      retry_(io),
      body_(std::make_shared<const std::string>()),
      connections_(std::make_shared<Connections>()) {}

// stop() can throw (the timer's cancel, the copy of the connection list): a destructor must
// not, and the process is shutting the endpoint down either way.
HttpEndpoint::~HttpEndpoint() {
  try {
    stop();
  } catch (...) {
    // Nothing to do but finish destroying.
  }
}

void HttpEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
  // Closing cancels each connection's pending read or write; its handler then lets it go.
  const auto open = connections_->open;
  for (const auto& [id, connection] : open) connection->close();
}

Result<void> HttpEndpoint::listen(const std::string& host, int port) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return Error{Errc::Rejected, "metrics listen address " + host + ": " + ec.message()};
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  const std::string where = "metrics listen " + host + ":" + std::to_string(port);
  if (acceptor_.open(endpoint.protocol(), ec); ec) return Error{Errc::Io, where + ": " + ec.message()};
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor_.bind(endpoint, ec); ec) {
    acceptor_.close();
    return Error{ec == asio::error::access_denied ? Errc::Refused : Errc::Io, where + ": " + ec.message()};
  }
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
    acceptor_.close();
    return Error{Errc::Io, where + ": " + ec.message()};
  }
  accept();
  return {};
}

void HttpEndpoint::publish(std::string body) { body_ = std::make_shared<const std::string>(std::move(body)); }

std::string HttpEndpoint::address() const {
  boost::system::error_code ec;
  const auto local = acceptor_.local_endpoint(ec);
  if (ec || !acceptor_.is_open()) return {};
  const auto ip = local.address();
  return (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(local.port());
}

void HttpEndpoint::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](const boost::system::error_code& waited) {
        if (!waited) accept();
      });
      return;
    }
    if (connections_->open.size() >= kMaxConnections) {
      // Full: the oldest connection still sending its head gives way (a scraper sends its
      // head at once, a slow client holds a slot for nothing); when every slot is answering,
      // the new client sees a closed connection and retries later.
      for (const auto& [id, connection] : connections_->open) {
        if (connection->mayYield()) {
          connection->close();
          break;
        }
      }
    }
    if (connections_->open.size() >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<HttpConnection>(std::move(socket), body_, connections_)->start();
    }
    accept();
  });
}

bool isLoopback(const std::string& host) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return false;
  // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is as local as the IPv4 one.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

}  // namespace ctpilot::controller::metrics
