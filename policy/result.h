// SPDX-License-Identifier: Apache-2.0
#pragma once
// Errors from the environment are values: a Result<T> holds either a T or an Error,
// shaped like std::expected (which GCC 12 does not have).

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ctpilot {

/// Classifies what went wrong so callers can decide what to do.
enum class Errc {
  Missing,    ///< ENOENT/ENODEV/ENOTDIR: module not loaded, knob, attribute or netns absent
  Refused,    ///< EACCES/EPERM/EROFS: no permission, read-only /proc/sys, non-initial netns
  Rejected,   ///< EINVAL/ERANGE: the kernel refused the value
  Malformed,  ///< a file or message that cannot be parsed
  Io,         ///< any other I/O failure
  Busy,       ///< held by someone else (lock) or refused for safety
};

/// Describes a failure in one line: `what` names the object and the cause.
struct Error {
  Errc code;
  std::string what;
};

/// Classifies an errno value into an Errc: the one classifier (tests/policy/result_test.cpp).
Errc errcFromErrno(int err);

/// Builds an Error from an errno value: "<context>: <strerror(err)>".
Error errnoError(int err, const std::string& context);

/// Returns `text` with control bytes written as escapes ("\n", "\t", "\x1b", "\x7f"), so a
/// message quoting a hostile file can never drive the operator's terminal.
std::string printable(std::string_view text);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  template <class U>
  T value_or(U&& fallback) const {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::Io, {}};
  bool ok_ = true;
};

}  // namespace ctpilot
