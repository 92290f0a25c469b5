// SPDX-License-Identifier: Apache-2.0
#include "policy/result.h"

#include <cerrno>
#include <cstring>

namespace ctpilot {

Errc errcFromErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENOTDIR: return Errc::Missing;
    case EACCES:
    case EPERM:
    case EROFS: return Errc::Refused;
    case EINVAL:
    case ERANGE: return Errc::Rejected;
    case EBUSY:
    case EAGAIN: return Errc::Busy;
    default: return Errc::Io;
  }
}

Error errnoError(int err, const std::string& context) {
  return Error{errcFromErrno(err), context + ": " + std::strerror(err)};
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace ctpilot
