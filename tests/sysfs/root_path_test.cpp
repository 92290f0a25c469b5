// SPDX-License-Identifier: Apache-2.0
#include "sysfs/root_path.h"

#include <doctest/doctest.h>

namespace ctpilot::sysfs {

TEST_CASE("underRoot puts every kernel path below the --root prefix, and / changes nothing") {
  struct Row {
    const char* root;
    const char* path;
    const char* joined;
  };
  const Row rows[] = {
      {"/", "/proc/sys/net/netfilter/nf_conntrack_max", "/proc/sys/net/netfilter/nf_conntrack_max"},
      {"", "/proc/meminfo", "/proc/meminfo"},
      {"/tmp/tree", "/proc/meminfo", "/tmp/tree/proc/meminfo"},
      {"/tmp/tree//", "/run/netns/a", "/tmp/tree/run/netns/a"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.root);
    CHECK(underRoot(row.root, row.path) == row.joined);
  }
}

}  // namespace ctpilot::sysfs
