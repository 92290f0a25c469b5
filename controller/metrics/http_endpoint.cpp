#include "controller/metrics/http_endpoint.h"

#include <array>
#include <utility>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace ctpilot::controller::metrics {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// One request, one response, then close.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Closers = std::map<void*, std::function<void()>>;
  Connection(tcp::socket socket, std::shared_ptr<const std::string> body, std::shared_ptr<std::size_t> open,
             std::shared_ptr<Closers> closers)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        request_(HttpEndpoint::kMaxRequestBytes),
        body_(std::move(body)),
        open_(std::move(open)),
        closers_(std::move(closers)) {
    ++*open_;
    (*closers_)[this] = [this] { close(); };
  }
  ~Connection() {
    --*open_;
    closers_->erase(this);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() {
    deadline_.expires_after(HttpEndpoint::kDeadline);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_read_until(socket_, request_, "\r\n\r\n",
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                             if (ec) {
                               self->close();  // too long, reset, or closed by the deadline
                               return;
                             }
                             self->respond();
                           });
  }

 private:
  void respond() {
    std::string line;
    std::istream in(&request_);
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto space = line.find(' ');
    const std::string method = line.substr(0, space);
    std::string target = space == std::string::npos ? std::string() : line.substr(space + 1);
    target = target.substr(0, target.find(' '));
    target = target.substr(0, target.find('?'));

    std::string status = "200 OK";
    const bool head = method == "HEAD";
    if (method != "GET" && !head) {
      status = "405 Method Not Allowed";
      body_ = std::make_shared<const std::string>("only GET /metrics is served\n");
    } else if (target != "/metrics") {
      status = "404 Not Found";
      body_ = std::make_shared<const std::string>("ctpilot serves its metrics at /metrics\n");
    }
    header_ = "HTTP/1.1 " + status +
              "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
              std::to_string(body_->size()) + "\r\nConnection: close\r\n\r\n";
    std::array<asio::const_buffer, 2> buffers{asio::buffer(header_), asio::buffer(head ? std::string_view() : *body_)};
    asio::async_write(socket_, buffers, [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
      self->close();
    });
  }

  void close() {
    boost::system::error_code ignored;
    deadline_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  asio::streambuf request_;
  std::shared_ptr<const std::string> body_;
  std::shared_ptr<std::size_t> open_;
  std::shared_ptr<Closers> closers_;
  std::string header_;
};

}  // namespace

HttpEndpoint::HttpEndpoint(asio::io_context& io)
    : acceptor_(io),
      retry_(io),
      body_(std::make_shared<const std::string>()),
      open_(std::make_shared<std::size_t>(0)),
      closers_(std::make_shared<std::map<void*, std::function<void()>>>()) {}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
  // Closing cancels each connection's pending read or write; its handler then lets it go.
  const auto closers = *closers_;
  for (const auto& [connection, close] : closers) close();
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
    if (*open_ >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // full: the client sees a closed connection and retries later
    } else {
      std::make_shared<Connection>(std::move(socket), body_, open_, closers_)->start();
    }
    accept();
  });
}

bool isLoopback(const std::string& host) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

}  // namespace ctpilot::controller::metrics
