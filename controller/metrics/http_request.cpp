// SPDX-License-Identifier: Apache-2.0
#include "controller/metrics/http_request.h"

#include <algorithm>

namespace ctpilot::controller::metrics {
namespace {

bool isTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The verdict on one request line, without its line end.
HttpRequestHead judgeRequestLine(std::string_view line) {
  HttpRequestHead verdict;
  verdict.complete = true;
  const auto firstSpace = line.find(' ');
  const auto lastSpace = line.rfind(' ');
  if (firstSpace == std::string_view::npos || firstSpace == 0 || lastSpace == firstSpace) {
    verdict.status = HttpStatus::BadRequest;
    return verdict;
  }
  const auto method = line.substr(0, firstSpace);
  auto target = line.substr(firstSpace + 1, lastSpace - firstSpace - 1);
  const auto version = line.substr(lastSpace + 1);
  if (!std::all_of(method.begin(), method.end(), isTokenChar) || target.empty() || target.front() != '/' ||
      target.find(' ') != std::string_view::npos || (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    verdict.status = HttpStatus::BadRequest;
    return verdict;
  }
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    verdict.status = HttpStatus::MethodNotAllowed;
  } else if (target != "/metrics") {
    verdict.status = HttpStatus::NotFound;
  }
  verdict.headOnly = method == "HEAD";
  return verdict;
}

}  // namespace

HttpRequestHead parseRequestHead(std::string_view received, std::size_t limit) {
  const auto window = received.substr(0, std::min(received.size(), limit));
  // Empty lines before the request line are skipped (RFC 9112, section 2.2).
  const auto start = std::min(window.find_first_not_of("\r\n"), window.size());
  // The head ends at an empty line: a line end ("\n" or "\r\n") right after a line end.
  for (auto lf = window.find('\n', start); lf != std::string_view::npos; lf = window.find('\n', lf + 1)) {
    const auto next = lf + 1;
    const bool emptyLine = (next < window.size() && window[next] == '\n') ||
                           (next + 1 < window.size() && window[next] == '\r' && window[next + 1] == '\n');
    if (!emptyLine) continue;
    auto line = window.substr(start, window.find('\n', start) - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return judgeRequestLine(line);
  }
  HttpRequestHead verdict;
  if (received.size() >= limit) {
    verdict.complete = true;
    verdict.status = HttpStatus::HeadTooLarge;
  }
  return verdict;
}

std::string statusLine(HttpStatus status) {
  switch (status) {
    case HttpStatus::Ok: return "200 OK";
    case HttpStatus::BadRequest: return "400 Bad Request";
    case HttpStatus::NotFound: return "404 Not Found";
    case HttpStatus::MethodNotAllowed: return "405 Method Not Allowed";
    case HttpStatus::HeadTooLarge: return "431 Request Header Fields Too Large";
  }
  return "500 Internal Server Error";
}

}  // namespace ctpilot::controller::metrics
