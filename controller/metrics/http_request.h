// SPDX-License-Identifier: Apache-2.0
#pragma once
// The request side of the metrics endpoint as a pure function: bytes received so far in, what
// to answer out. No I/O, so the endpoint, the unit tests and the libFuzzer target
// (tests/fuzz/http_fuzz.cpp) share one parser.

#include <cstddef>
#include <string>
#include <string_view>

namespace ctpilot::controller::metrics {

/// What the endpoint answers a request with.
enum class HttpStatus {
  Ok = 200,                // GET or HEAD /metrics
  BadRequest = 400,        // not an HTTP/1.x request line
  NotFound = 404,          // another path
  MethodNotAllowed = 405,  // another method; the answer carries `Allow: GET, HEAD`
  HeadTooLarge = 431,      // no end of the head within the limit
};

/// The verdict on the bytes of one request received so far.
struct HttpRequestHead {
  /// False: the head has not ended yet and the limit is not reached; read more.
  bool complete = false;
  HttpStatus status = HttpStatus::Ok;
  /// HEAD: answer with the headers only.
  bool headOnly = false;
};

/// Parses the start of `received` as an HTTP/1.x request head, which ends at the first empty
/// line (CRLF or bare LF line ends both count). A head that has not ended within `limit` bytes
/// is complete with HeadTooLarge; bytes after the head (a body) are ignored. Once complete,
/// more bytes appended to `received` do not change the verdict.
HttpRequestHead parseRequestHead(std::string_view received, std::size_t limit);

/// Returns the reason phrase of `status` with its code: "405 Method Not Allowed".
std::string statusLine(HttpStatus status);

}  // namespace ctpilot::controller::metrics
