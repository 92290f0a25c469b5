#include "policy/result.h"

#include <cerrno>
#include <cstring>

namespace ctpilot {

Errc errcFromErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENOTDIR:
      return Errc::Missing;
    case EACCES:
    case EPERM:
    case EROFS:
      return Errc::Refused;
    case EINVAL:
    case ERANGE:
      return Errc::Rejected;
    case EBUSY:
    case EAGAIN:
      return Errc::Busy;
    default:
      return Errc::Io;
  }
}

Error errnoError(int err, const std::string& context) {
  return Error{errcFromErrno(err), context + ": " + std::strerror(err)};
}

}  // namespace ctpilot
