// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/prometheus_client.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

// Boost 1.74 recognises C++20 coroutines for GCC only; clang (the fuzz and sanitizer builds)
// has them too with -std=c++20, through the same <coroutine>.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif
#include <spdlog/fmt/fmt.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "controller/journal/journal.h"
#include "policy/read_file.h"
#include "sysfs/open_file.h"

namespace ctpilot::controller {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

struct Url {
  bool https = false;
  std::string host;  // without brackets
  std::string port;
  std::string prefix;  // path before /api/v1, without a trailing slash
  std::string text;    // as given, for messages (printable)
};

Result<Url> parseUrl(const std::string& text) {
  Url url;
  url.text = printable(text);
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.https = true;
    rest = text.substr(8);
  } else {
    return Error{Errc::Malformed, "--prometheus " + url.text + ": want http://HOST[:PORT][/PATH] or https://..."};
  }
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  url.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!url.prefix.empty() && url.prefix.back() == '/') url.prefix.pop_back();
  if (authority.find('@') != std::string::npos) {
    return Error{Errc::Malformed,
                 "--prometheus: credentials in the URL would show in `ps`; put them in a file for --basic-auth-file"};
  }
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos)
      return Error{Errc::Malformed, "--prometheus " + url.text + ": unclosed [ in the host"};
    url.host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() == ':') url.port = authority.substr(1);
  } else {
    const auto colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) url.port = authority.substr(colon + 1);
  }
  if (url.port.empty()) url.port = url.https ? "443" : "80";
  const bool digits = url.port.find_first_not_of("0123456789") == std::string::npos && url.port.size() <= 5;
  if (url.host.empty() || !digits || url.prefix.find_first_of("?# ") != std::string::npos) {
    return Error{Errc::Malformed, "--prometheus " + url.text + ": want http://HOST[:PORT][/PATH] or https://..."};
  }
  return url;
}

std::string percentEncode(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], kAlphabet[n & 63]};
  }
  if (i + 1 == in.size()) {
    const auto n = static_cast<unsigned char>(in[i]) << 16;
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

// A credentials file: a regular file of at most 64 KiB, its trailing newline dropped.
Result<std::string> readSecret(const std::string& path, const char* option) {
  auto fd = sysfs::openNonBlocking(path, O_RDONLY);
  if (!fd) return Error{Errc::Malformed, std::string(option) + " " + printable(path) + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
    return Error{Errc::Malformed,
                 std::string(option) + " " + printable(path) + ": not a regular file of at most 64 KiB"};
  }
  auto read = readAll(fd.get(), 65536, path);
  if (!read) return Error{Errc::Malformed, std::string(option) + ": " + printable(read.error().what)};
  std::string text = std::move(*read);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty() || text.find_first_of("\r\n") != std::string::npos) {
    return Error{Errc::Malformed, std::string(option) + " " + printable(path) + ": want one line"};
  }
  return text;
}

std::string unixSeconds(policy::TimePoint t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

struct Reply {
  unsigned status = 0;
  std::string reason;
  std::string body;
  std::string location;
};

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const http::request<http::empty_body>& request, Reply& reply,
                               std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kPrometheusMaxAnswerBytes);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  auto& response = parser.get();
  reply.status = response.result_int();
  reply.reason = std::string(response.reason());
  reply.location = std::string(response[http::field::location]);
  reply.body = std::move(response.body());
}

asio::awaitable<void> get(asio::io_context& io, const Url& url, const PrometheusQuery& query,
                          const http::request<http::empty_body>& request, Reply& reply) {
  asio::ip::tcp::resolver resolver(io);
  const auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
  if (!url.https) {
    beast::tcp_stream stream(io);
    stream.expires_after(query.timeout);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_await exchange(stream, request, reply, query.timeout);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return;
  }
  ssl::context context(ssl::context::tls_client);
  if (query.caFile.empty()) {
    context.set_default_verify_paths();
  } else {
    context.load_verify_file(query.caFile);
  }
  context.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  if (SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) == 0) {
    throw beast::system_error(beast::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
  }
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  beast::get_lowest_layer(stream).expires_after(query.timeout);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
  co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  co_await exchange(stream, request, reply, query.timeout);
}

// Prometheus' own words for a refused query: the `error` field of its JSON answer.
std::string errorField(const std::string& body) {
  const auto json = nlohmann::json::parse(body.substr(0, 1 << 20), nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("error") && json["error"].is_string()) {
    auto text = json["error"].get<std::string>();
    return printable(text.size() > 300 ? text.substr(0, 300) + "..." : text);
  }
  auto text = body.substr(0, 200);
  return text.empty() ? std::string("no error text") : "\"" + printable(text) + "\"";
}

Result<std::string> oneRequest(const Url& url, const PrometheusQuery& query, const std::string& target,
                               const std::string& authorization) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host,
              url.host.find(':') != std::string::npos ? "[" + url.host + "]:" + url.port : url.host + ":" + url.port);
  request.set(http::field::user_agent, "ctpilot-simulate");
  request.set(http::field::accept, "application/json");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  asio::io_context io;
  Reply reply;
  std::optional<std::string> failure;
  asio::co_spawn(io, get(io, url, query, request, reply), [&](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const beast::system_error& error) {
      if (error.code() == beast::error::timeout) {
        failure = fmt::format("no answer within {} s (--timeout)",
                              std::chrono::duration_cast<std::chrono::seconds>(query.timeout).count());
      } else if (error.code() == http::error::body_limit) {
        failure = fmt::format("the answer is larger than {} MiB; narrow --match or shorten the range",
                              kPrometheusMaxAnswerBytes >> 20);
      } else {
        failure = printable(error.code().message());
      }
    } catch (const std::exception& error) {
      failure = printable(error.what());
    }
  });
  io.run();
  const auto where = "Prometheus at " + url.text;
  if (failure) return Error{Errc::Io, "cannot query " + where + ": " + *failure};
  if (reply.status == 401 || reply.status == 403) {
    return Error{Errc::Io,
                 where + " answered " + std::to_string(reply.status) + " " + printable(reply.reason) +
                     (authorization.empty()
                          ? ": authentication required; give --basic-auth-file FILE or --bearer-token-file FILE"
                          : ": the credentials given were refused") +
                     " (" + errorField(reply.body) + ")"};
  }
  if (reply.status >= 300 && reply.status < 400) {
    return Error{Errc::Io, where + " answered " + std::to_string(reply.status) + " " + printable(reply.reason) +
                               " (to " + printable(reply.location.substr(0, 200)) + "); give that URL to --prometheus"};
  }
  if (reply.status < 200 || reply.status >= 300) {
    return Error{Errc::Io, where + " answered " + std::to_string(reply.status) + " " + printable(reply.reason) + ": " +
                               errorField(reply.body)};
  }
  return std::move(reply.body);
}

}  // namespace

Result<std::string> fleetSelector(const std::string& match) {
  std::string inner = match;
  while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.front())) != 0) inner.erase(0, 1);
  while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.back())) != 0) inner.pop_back();
  if (!inner.empty() && inner.front() == '{') {
    if (inner.back() != '}') return Error{Errc::Malformed, "--match " + printable(match) + ": unclosed {"};
    inner = inner.substr(1, inner.size() - 2);
  }
  if (inner.find_first_of("{}\n") != std::string::npos || inner.find("__name__") != std::string::npos ||
      (!inner.empty() && inner.find_first_of("=~!") == std::string::npos)) {
    return Error{
        Errc::Malformed,
        "--match " + printable(match) +
            ": want label matchers only, e.g. '{job=\"node\",instance=~\"gw.*\"}' (ctpilot picks the metrics)"};
  }
  std::string selector =
      "{__name__=~\"node_nf_conntrack_entries|node_nf_conntrack_entries_limit|node_nf_conntrack_stat_.*|node_memory_"
      "MemTotal_bytes"
      "|ctpilot_conntrack_(entries|max|buckets|(insert|drop|early_drop|insert_failed|chaintoolong)_total)\"";
  if (!inner.empty()) selector += "," + inner;
  return selector + "}";
}

Result<std::vector<std::pair<policy::TimePoint, policy::TimePoint>>> splitRange(const PrometheusQuery& query) {
  if (query.step < std::chrono::seconds(1)) return Error{Errc::Malformed, "--step must be at least 1s"};
  if (query.to <= query.from) return Error{Errc::Malformed, "the range is empty: --to must be after --from"};
  const auto span = query.step * (kPrometheusPointsPerRequest - 1);
  const auto requests = (query.to - query.from) / (span + query.step) + 1;
  if (requests > static_cast<std::int64_t>(kPrometheusMaxRequests)) {
    return Error{
        Errc::Malformed,
        fmt::format("{} requests for that range at --step {} s (at most {}); raise --step", requests,
                    std::chrono::duration_cast<std::chrono::seconds>(query.step).count(), kPrometheusMaxRequests)};
  }
  std::vector<std::pair<policy::TimePoint, policy::TimePoint>> out;
  for (auto start = query.from; start <= query.to; start += span + query.step) {
    out.emplace_back(start, std::min<policy::TimePoint>(query.to, start + span));
  }
  return out;
}

Result<std::vector<PrometheusAnswer>> fetchPrometheus(const PrometheusQuery& query,
                                                      const std::function<void(std::size_t, std::size_t)>& progress) {
  auto url = parseUrl(query.url);
  if (!url) return url.error();
  auto selector = fleetSelector(query.match);
  if (!selector) return selector.error();
  auto pieces = splitRange(query);
  if (!pieces) return pieces.error();
  if (!query.basicAuthFile.empty() && !query.bearerTokenFile.empty()) {
    return Error{Errc::Malformed, "give --basic-auth-file or --bearer-token-file, not both"};
  }
  std::string authorization;
  if (!query.basicAuthFile.empty()) {
    auto secret = readSecret(query.basicAuthFile, "--basic-auth-file");
    if (!secret) return secret.error();
    if (secret->find(':') == std::string::npos)
      return Error{Errc::Malformed, "--basic-auth-file " + printable(query.basicAuthFile) + ": want user:password"};
    authorization = "Basic " + base64(*secret);
  } else if (!query.bearerTokenFile.empty()) {
    auto secret = readSecret(query.bearerTokenFile, "--bearer-token-file");
    if (!secret) return secret.error();
    authorization = "Bearer " + *secret;
  }
  std::vector<PrometheusAnswer> answers;
  for (const auto& [start, end] : *pieces) {
    const auto target = url->prefix + "/api/v1/query_range?query=" + percentEncode(*selector) +
                        "&start=" + unixSeconds(start) + "&end=" + unixSeconds(end) +
                        "&step=" + fmt::format("{}", query.step.count() / 1000.0);
    auto body = oneRequest(*url, query, target, authorization);
    if (!body) return body.error();
    answers.push_back({fmt::format("{} [{} .. {}]", url->text, formatTime(start), formatTime(end)), std::move(*body)});
    if (progress) progress(answers.size(), pieces->size());
  }
  return answers;
}

}  // namespace ctpilot::controller
