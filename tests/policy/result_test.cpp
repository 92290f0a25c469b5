// SPDX-License-Identifier: Apache-2.0
#include "policy/result.h"

#include <cerrno>

#include <doctest/doctest.h>

namespace ctpilot {

// The one errno classifier (README "When the world disagrees", Safety promise 10): what a
// failed knob write's Errc decides in Controller::writeFailed. Missing and Refused make the knob
// observe-only; Rejected and Io retry it after a cooldown.
TEST_CASE("errcFromErrno sorts every errno a knob or file operation returns into the Errc that decides what happens") {
  struct Row {
    int err;
    Errc code;
    const char* why;
  };
  const Row rows[] = {
      {ENOENT, Errc::Missing,
       "nf_conntrack not loaded, a knob this kernel lacks, a /proc/sys file of a reloaded module"},
      // kernfs answers ENODEV on a /sys attribute whose module went away (a kept descriptor of
      // /sys/module/nf_conntrack/parameters/hashsize after rmmod): gone, as ENOENT is for /proc/sys.
      {ENODEV, Errc::Missing, "a /sys attribute whose module was unloaded"},
      {ENOTDIR, Errc::Missing, "a path component that is not a directory"},
      {EACCES, Errc::Refused, "no permission"},
      {EPERM, Errc::Refused, "not the initial netns, no CAP_NET_ADMIN"},
      {EROFS, Errc::Refused, "read-only /proc/sys in a container"},
      // EINVAL on a sysctl write is the kernel refusing this value (out of its range): the knob
      // exists and may take another value later, so it is retried, never given up.
      {EINVAL, Errc::Rejected, "the kernel refused the value"},
      {ERANGE, Errc::Rejected, "a value out of range"},
      {EBUSY, Errc::Busy, "held by someone else"},
      {EAGAIN, Errc::Busy, "try again"},
      {EIO, Errc::Io, "any other failure"},
      {ENOSPC, Errc::Io, "any other failure"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.err);
    CAPTURE(row.why);
    CHECK(errcFromErrno(row.err) == row.code);
    CHECK(errnoError(row.err, "write /x").code == row.code);
  }
}

TEST_CASE("errnoError names the operation and the kernel's words for the errno") {
  const auto error = errnoError(EROFS, "write /proc/sys/net/netfilter/nf_conntrack_max");
  CHECK(error.what == "write /proc/sys/net/netfilter/nf_conntrack_max: Read-only file system");
}

}  // namespace ctpilot
