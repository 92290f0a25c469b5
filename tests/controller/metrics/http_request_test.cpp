// SPDX-License-Identifier: Apache-2.0
#include <string>

#include <doctest/doctest.h>

#include "controller/metrics/http_request.h"

using ctpilot::controller::metrics::HttpStatus;
using ctpilot::controller::metrics::parseRequestHead;
using ctpilot::controller::metrics::statusLine;

namespace {

struct Row {
  const char* name;
  std::string request;
  bool complete;
  HttpStatus status;
};

}  // namespace

TEST_CASE("a request head is judged once its empty line arrives, whatever its line ends") {
  const Row rows[] = {
      {"a scrape", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true, HttpStatus::Ok},
      {"LF-only line ends", "GET /metrics HTTP/1.1\nHost: x\n\n", true, HttpStatus::Ok},
      {"mixed line ends", "GET /metrics HTTP/1.0\r\nHost: x\n\r\n", true, HttpStatus::Ok},
      {"no headers, LF only", "GET /metrics HTTP/1.1\n\n", true, HttpStatus::Ok},
      {"a query", "GET /metrics?x=1 HTTP/1.1\r\n\r\n", true, HttpStatus::Ok},
      {"empty lines first", "\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n", true, HttpStatus::Ok},
      {"a body after the head", "GET /metrics HTTP/1.1\r\n\r\nhello", true, HttpStatus::Ok},
      {"not ended", "GET /metrics HTTP/1.1\r\nHost: x\r\n", false, HttpStatus::Ok},
      {"only empty lines", "\r\n\n\r\n", false, HttpStatus::Ok},
      {"nothing", "", false, HttpStatus::Ok},
      {"another path", "GET / HTTP/1.1\r\n\r\n", true, HttpStatus::NotFound},
      {"another method", "POST /metrics HTTP/1.1\r\n\r\n", true, HttpStatus::MethodNotAllowed},
      {"HTTP/0.9", "GET /metrics\r\n\r\n", true, HttpStatus::BadRequest},
      {"HTTP/2", "GET /metrics HTTP/2.0\r\n\r\n", true, HttpStatus::BadRequest},
      {"no target", "GET  HTTP/1.1\r\n\r\n", true, HttpStatus::BadRequest},
      {"a space in the target", "GET /met rics HTTP/1.1\r\n\r\n", true, HttpStatus::BadRequest},
      {"garbage", "\x16\x03\x01\x02\n\n", true, HttpStatus::BadRequest},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const auto head = parseRequestHead(row.request, 8192);
    CHECK(head.complete == row.complete);
    if (row.complete) CHECK(statusLine(head.status) == statusLine(row.status));
  }
}

TEST_CASE("HEAD /metrics is answered without a body") {
  CHECK(parseRequestHead("HEAD /metrics HTTP/1.1\r\n\r\n", 8192).headOnly);
  CHECK_FALSE(parseRequestHead("GET /metrics HTTP/1.1\r\n\r\n", 8192).headOnly);
}

TEST_CASE("a head that has not ended within the limit is answered 431, not read further") {
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Junk: " + std::string(100, 'a');
  CHECK_FALSE(parseRequestHead(head, 200).complete);
  const auto tooLong = parseRequestHead(head + std::string(100, 'a'), 200);
  CHECK(tooLong.complete);
  CHECK(statusLine(tooLong.status) == "431 Request Header Fields Too Large");
  // The end of the head past the limit does not count.
  const auto endedLate = parseRequestHead(head + std::string(100, 'a') + "\r\n\r\n", 200);
  CHECK(statusLine(endedLate.status) == "431 Request Header Fields Too Large");
}
