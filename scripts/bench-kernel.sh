#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmarks (about 30 minutes; run as root on a machine with nf_conntrack):
#   tests/bench/kernel/surge.sh      drops during TCP surges through a NAT router at several
#                                    rates, without and with `ctpilot run` (interval 100ms and 1s)
#                                    and under a static setting at the memory budget, the reaction
#                                    time and the time from the first to the last drop;
#                                    with hping3 installed also 20k SYNs/s at interval 100ms and 1s
#                                    (bare SYNs cost far less CPU than connections: the machine can
#                                    generate 20k/s that way; apt-get install hping3)
#   tests/bench/kernel/stall.sh      the worst packet delay through conntrack while a table grows
#                                    to ~1M entries under ctpilot (ISP example policy and built-in
#                                    defaults), hash presized vs following max, and under a static
#                                    setting at the memory budget
#   tests/bench/kernel/tick_cost.sh  CPU and wall time per sampling cycle with 1, 16 and 64
#                                    watched namespaces, netlink vs procfs; the daemon's memory
#   tests/bench/kernel/resize.sh     time of a hashsize resize, empty and at 100k and 1M entries
#   tests/bench/kernel/http.sh       wrk (a new connection per request) to nginx through the NAT
#                                    router from max 4096, alone and during a UDP and a SYN flood
#                                    at twice what the ceiling holds: ctpilot (defaults, no
#                                    shedding, ISP example) vs an unlimited table (about 20
#                                    minutes; needs wrk, nginx and hping3: apt-get install wrk
#                                    nginx-light hping3, else skipped)
# and writes bench/results/kernel.md (machine, date and the three tables; each benchmark also
# leaves its own bench/results/kernel-<name>.md). Traffic stays inside network namespaces the
# benchmarks create; nf_conntrack_max and nf_conntrack_buckets are changed only while holding
# /tmp/ctpilot-kernel.lock and restored on every exit path (tests/kernel/lib.sh).
# BUILD_DIR (default: build) selects the build directory; RKB_RATES, RKB_SURGE_SECONDS,
# RKB_NETNS_COUNTS, RKB_DAEMON_SECONDS, RKB_RESIZE_SIZES and RKB_HTTP_* (tests/bench/kernel/http.sh
# --help) shorten or widen the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
out=bench/results

[[ $(id -u) -eq 0 ]] || { echo "bench-kernel.sh: needs root (network namespaces, nf_conntrack knobs); run it with sudo" >&2; exit 2; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target ctpilot ctpilot-loadgen ctpilot-json-get ctpilot-bench-tick >/dev/null
# The binary is build/ctpilot (older trees: build/controller/ctpilot).
CTPILOT="$(pwd)/$build/ctpilot"
[[ -x "$CTPILOT" ]] || CTPILOT="$(pwd)/$build/controller/ctpilot"
LOADGEN="$(pwd)/$build/tests/tools/ctpilot-loadgen"
JSON_GET="$(pwd)/$build/tests/tools/ctpilot-json-get"
BENCH_TICK="$(pwd)/$build/tests/bench/kernel/ctpilot-bench-tick"
RKB_OUT="$(pwd)/$out"
export CTPILOT LOADGEN JSON_GET BENCH_TICK RKB_OUT
mkdir -p "$out"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$out"/kernel-surge*.md "$out"/kernel-cost.md "$out"/kernel-resize.md "$out"/kernel-stall.md "$out"/kernel-http.md
status=0
for interval in 100ms 1s; do
  echo "== surge at interval $interval" >&2
  RKB_INTERVAL=$interval RKB_FRAGMENT_SUFFIX=-$interval bash tests/bench/kernel/surge.sh >/dev/null ||
    { status=$?; echo "bench-kernel.sh: surge ($interval) failed (status $status)" >&2; }
  command -v hping3 >/dev/null || continue
  echo "== SYN surge (hping3) at interval $interval" >&2
  RKB_GENERATOR=hping3 RKB_HPING_SILENT=1 RKB_RATES=20000 RKB_SURGE_SECONDS=5 RKB_LOADGEN_PROCS=4 \
    RKB_HPING_GAP_US=100 RKB_INTERVAL=$interval RKB_FRAGMENT_SUFFIX=-syn-$interval \
    bash tests/bench/kernel/surge.sh >/dev/null ||
    { status=$?; echo "bench-kernel.sh: SYN surge ($interval) failed (status $status)" >&2; }
done
for bench in stall tick_cost resize http; do
  echo "== $bench" >&2
  rc=0
  bash "tests/bench/kernel/$bench.sh" >/dev/null || rc=$?
  # 77: skipped (http.sh without wrk, nginx or hping3 says what to install).
  [[ $rc == 0 || $rc == 77 ]] || { status=$rc; echo "bench-kernel.sh: $bench failed (status $rc)" >&2; }
done

{
  echo "## ctpilot on the real kernel"
  echo
  echo "Measured $started by \`sudo scripts/bench-kernel.sh\` on Linux $(uname -r), $(nproc) CPUs,"
  echo "MemTotal $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load average before the run:"
  echo "$load. Numbers from a shared machine vary from run to run; rerun the command to compare."
  echo
  for name in surge-100ms surge-1s surge-syn-100ms surge-syn-1s stall cost resize http; do
    [[ -f "$out/kernel-$name.md" ]] && cat "$out/kernel-$name.md"
  done
} > "$out/kernel.md"
cat "$out/kernel.md"
exit "$status"
