# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the tests/cli/*_test.sh scripts: source it first (`. "$(dirname "$0")/lib.sh"`).
# As in tests/kernel: a test is named *_test.sh, a helper is not (tests/CMakeLists.txt).
#
# Gives: set -u, $CTPILOT checked, a temporary directory $tmp removed on exit, and a failure
# counter: fail MESSAGE prints "FAIL: MESSAGE" and counts; each script ends on $failures.
set -u
: "${CTPILOT:?set CTPILOT to the ctpilot binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The boot id make_fake_root writes.
fake_boot_id=11111111-2222-3333-4444-555555555555

# set_fake_knobs ROOT [COUNT]: nf_conntrack_max 1000, buckets 1024, COUNT entries (default 900)
# and the five timeouts ctpilot tunes at 120 s, as plain files under ROOT/proc/sys.
set_fake_knobs() {
  local nf=$1/proc/sys/net/netfilter t
  echo 1000 >"$nf/nf_conntrack_max"
  echo 1024 >"$nf/nf_conntrack_buckets"
  echo "${2:-900}" >"$nf/nf_conntrack_count"
  for t in tcp_timeout_time_wait tcp_timeout_close_wait tcp_timeout_fin_wait udp_timeout_stream tcp_timeout_established; do
    echo 120 >"$nf/nf_conntrack_$t"
  done
}

# make_fake_root ROOT [COUNT]: a fake /proc and /sys tree for --root ROOT: the directories ctpilot
# reads, the knobs of set_fake_knobs, 16 GB of memory and the boot id $fake_boot_id.
make_fake_root() {
  local root=$1
  mkdir -p "$root/proc/sys/net/netfilter" "$root/proc/net/stat" "$root/proc/sys/kernel/random" \
    "$root/sys/module/nf_conntrack/parameters"
  set_fake_knobs "$root" "${2:-900}"
  printf 'MemTotal:       16384000 kB\n' >"$root/proc/meminfo"
  echo "$fake_boot_id" >"$root/proc/sys/kernel/random/boot_id"
}
