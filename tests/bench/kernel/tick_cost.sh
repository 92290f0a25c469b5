#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark: the cost of one sampling cycle with 1, 16 and 64 watched namespaces,
# statistics over ctnetlink against /proc/net/stat/nf_conntrack.
#
#  - ctpilot-bench-tick (tick_cost.cpp): wall and CPU time of Controller::tick() and of one
#    statistics read, with the reader forced to netlink or procfs: 200 ticks back to back (warm
#    caches), then 100 ticks paced at 100 ms like the daemon (cold caches), 100 reads per netns.
#  - the daemon: `ctpilot run --dry-run` with interval 100ms for RKB_DAEMON_SECONDS (default
#    30) after a 3 s warm-up: CPU time (utime+stime from /proc/PID/stat) per tick and resident
#    memory (VmRSS, VmHWM). The daemon reads statistics over netlink with --root /; with --root
#    pointing at a tree of symlinks to /proc, /sys and /run it uses procfs (controller/daemon.cpp
#    statsReaderFor: any other root gets ProcfsStats), everything else unchanged.
# The namespaces are ctp-<pid>-wNN, each with lo up and the `ct state new counter` rule; their
# tables hold a handful of entries (a few pings), which is what a tick reads.
#
# Writes $RKB_OUT/kernel-cost.md. Needs root; writes no global knob, so it gives
# /tmp/ctpilot-kernel.lock back right after setup.
#
# RKB_TICK_PACED=1: only the method of bench/results/kernel-cost-paced.md, for comparing
# builds: `ctpilot run --dry-run` with interval = fast_interval = 100ms, netlink statistics,
# --log-level warn, CPU = `perf stat -e task-clock -p PID -- sleep RKB_PACED_SECONDS` (default
# 10) after a 3 s warm-up, divided by the ticks. RKB_PACED_BINARIES ("label=path ...", default
# "ctpilot=$CTPILOT") are run in turn, RKB_PACED_ROUNDS times (default 2) for each count of
# RKB_NETNS_COUNTS; prints one line per run with the load average, writes no fragment. E.g.
#   RKB_TICK_PACED=1 RKB_PACED_BINARIES="before=../old/build/ctpilot after=build/ctpilot" \
#     bash tests/bench/kernel/tick_cost.sh
CTP_DEADLINE=${CTP_DEADLINE:-600}
paced_only=${RKB_TICK_PACED:-0}
if [[ "$paced_only" == 1 ]]; then
  # The load generator and the JSON reader are not used in this mode.
  CTPILOT=${CTPILOT:-$(pwd)/build/ctpilot} LOADGEN=${LOADGEN:-/bin/true} JSON_GET=${JSON_GET:-/bin/true}
fi
source "$(dirname "$0")/common.sh"
require_root_netns
rkb_release_lock
[[ "$paced_only" == 1 || -x "${BENCH_TICK:-}" ]] || ctp_fail "BENCH_TICK must name the built ctpilot-bench-tick"

counts=${RKB_NETNS_COUNTS:-1 16 64}
seconds=${RKB_DAEMON_SECONDS:-30}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 5 && "$seconds" -le 120 ]] || ctp_fail "RKB_DAEMON_SECONDS: 5..120"
most=0
for n in $counts; do [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 128 ]] || ctp_fail "RKB_NETNS_COUNTS: 1..128"; ((n > most)) && most=$n; done

names=()
for ((i = 1; i <= most; i++)); do
  ns=$(printf '%s-w%02d' "$CTP_ID" "$i")
  ctp_make_ct_netns "$ns"
  ip netns exec "$ns" ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1 || true
  names+=("$ns")
done
ctp_log "created $most namespaces"

# A root whose /proc, /sys and /run are the real ones: the daemon then reads procfs statistics.
procfs_root="$CTP_TMP/procfs-root"
mkdir -p "$procfs_root"
ln -s /proc "$procfs_root/proc"
ln -s /sys "$procfs_root/sys"
ln -s /run "$procfs_root/run"

clk_tck=$(getconf CLK_TCK)
# Prints utime+stime of PID in seconds.
cpu_of() { awk -v hz="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }
# Prints a /proc/PID/status field in KiB.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Runs the daemon on N namespaces with the given root; prints "cpu_us_per_tick rss_kib hwm_kib ticks".
daemon_cost() {
  local n=$1 root=$2 list policy state cpu0 cpu1 t0 t1 rss hwm ticks
  list=$(IFS=,; echo "${names[*]:0:n}")
  policy="$CTP_TMP/cost-$n.conf"
  state="$CTP_TMP/cost-state-$n-$RANDOM"
  printf '[controller]\ninterval = 100ms\nnetns = %s\ndry_run = true\n' "$list" > "$policy"
  CTP_CTPILOT_LOG="$CTP_TMP/cost-$n-$RANDOM.log"
  ctp_bg "$CTPILOT" --root "$root" --policy "$policy" --state-dir "$state" --log-level info run --dry-run \
    >"$CTP_CTPILOT_LOG" 2>&1
  local pid=$CTP_LAST_PID
  sleep 3
  kill -0 "$pid" 2>/dev/null || { cat "$CTP_CTPILOT_LOG" >&2; ctp_fail "ctpilot run --dry-run exited"; }
  cpu0=$(cpu_of "$pid"); t0=$(rkb_now)
  sleep "$seconds"
  cpu1=$(cpu_of "$pid"); t1=$(rkb_now)
  rss=$(status_kib "$pid" VmRSS); hwm=$(status_kib "$pid" VmHWM)
  ctp_stop "$pid"
  grep -qiE 'error|critical|cannot' "$CTP_CTPILOT_LOG" && { ctp_log "daemon log:"; tail -n 5 "$CTP_CTPILOT_LOG" >&2; }
  # The timer keeps a steady 100 ms cadence (controller/daemon.cpp), so ticks = wall / interval.
  awk -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" -v rss="$rss" -v hwm="$hwm" \
    'BEGIN { ticks = (t1 - t0) / 0.1; printf "%.0f %s %s %.0f\n", (c1 - c0) * 1e6 / ticks, rss, hwm, ticks }'
}

# RKB_TICK_PACED=1: prints "label netns us_per_tick load1" per run of BINARY on N namespaces.
paced_cost() {
  local label=$1 binary=$2 n=$3 list policy log pid msec load
  list=$(IFS=,; echo "${names[*]:0:n}")
  policy="$CTP_TMP/paced-$n.conf"
  printf '[controller]\ninterval = 100ms\nfast_interval = 100ms\nnetns = %s\ndry_run = true\n' "$list" > "$policy"
  log="$CTP_TMP/paced-$label-$n-$RANDOM.log"
  ctp_bg "$binary" --root / --policy "$policy" --state-dir "$CTP_TMP/paced-state-$label-$n-$RANDOM" \
    --log-level warn run --dry-run >"$log" 2>&1
  pid=$CTP_LAST_PID
  sleep 3
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; ctp_fail "$binary run --dry-run exited"; }
  msec=$(perf stat -x, -e task-clock -p "$pid" -- sleep "$paced_seconds" 2>&1 >/dev/null | awk -F, '$3 ~ /task-clock/ { print $1 }')
  load=$(cut -d' ' -f1 /proc/loadavg)
  ctp_stop "$pid"
  awk -v l="$label" -v n="$n" -v ms="$msec" -v s="$paced_seconds" -v load="$load" \
    'BEGIN { printf "%s netns=%d us_per_tick=%.0f load1=%s\n", l, n, ms * 1000 / (s * 10), load }'
}

if [[ "$paced_only" == 1 ]]; then
  command -v perf >/dev/null || ctp_fail "RKB_TICK_PACED needs perf (linux-perf)"
  paced_seconds=${RKB_PACED_SECONDS:-10}
  [[ "$paced_seconds" =~ ^[0-9]+$ && "$paced_seconds" -ge 2 && "$paced_seconds" -le 120 ]] || ctp_fail "RKB_PACED_SECONDS: 2..120"
  rounds=${RKB_PACED_ROUNDS:-2}
  read -r -a binaries <<< "${RKB_PACED_BINARIES:-ctpilot=$CTPILOT}"
  for ((r = 1; r <= rounds; r++)); do
    for n in $counts; do
      for entry in "${binaries[@]}"; do
        [[ -x "${entry#*=}" ]] || ctp_fail "RKB_PACED_BINARIES: ${entry#*=} is not executable"
        paced_cost "${entry%%=*}" "${entry#*=}" "$n"
      done
    done
  done
  exit 0
fi

rows=()
for n in $counts; do
  list=$(IFS=,; echo "${names[*]:0:n}")
  for stats in netlink procfs; do
    report=$("$BENCH_TICK" --stats "$stats" --netns "$list" --ticks 200 --reads 100 --interval 100)
    ctp_log "tick $n $stats: $report"
    [[ "$(ctp_json /source_seen <<< "$report")" == "$stats" ]] ||
      ctp_fail "ctpilot-bench-tick --stats $stats read from $(ctp_json /source_seen <<< "$report")"
    paced=$("$BENCH_TICK" --stats "$stats" --netns "$list" --ticks 100 --reads 1 --interval 100 --paced)
    ctp_log "paced tick $n $stats: $paced"
    if [[ "$stats" == netlink ]]; then root=/; else root=$procfs_root; fi
    read -r d_cpu d_rss d_hwm d_ticks < <(daemon_cost "$n" "$root")
    ctp_log "daemon $n $stats: cpu ${d_cpu}us/tick rss ${d_rss}KiB hwm ${d_hwm}KiB over $d_ticks ticks"
    ctp_measure "tick_wall_us_${n}_${stats}" "$(ctp_json /tick/wall_us_mean <<< "$report")"
    ctp_measure "daemon_cpu_us_per_tick_${n}_${stats}" "$d_cpu"
    ctp_measure "tick_paced_cpu_us_${n}_${stats}" "$(ctp_json /tick/cpu_us_mean <<< "$paced")"
    rows+=("$(printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.2f%% | %s | %s |' "$n" "$stats" \
      "$(ctp_json /tick/wall_us_mean <<< "$report")" "$(ctp_json /tick/wall_us_p50 <<< "$report")" \
      "$(ctp_json /tick/wall_us_p99 <<< "$report")" "$(ctp_json /tick/cpu_us_mean <<< "$report")" \
      "$(ctp_json /tick/wall_us_p50 <<< "$paced")" "$(ctp_json /tick/cpu_us_mean <<< "$paced")" \
      "$(ctp_json /read/wall_us_mean <<< "$report")" "$(ctp_json /read/cpu_us_mean <<< "$report")" \
      "$d_cpu" "$(awk -v c="$d_cpu" 'BEGIN { print c / 1000 }')" \
      "$(awk -v k="$d_rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
      "$(awk -v k="$d_hwm" 'BEGIN { printf "%.1f", k / 1024 }')")")
  done
done

# Where a paced tick's CPU goes: the daemon on one namespace (netlink) under `strace -c -f` for
# RKB_STRACE_SECONDS (default 10); the syscalls and their kernel time per tick.
profile=()
if command -v strace >/dev/null 2>&1; then
  strace_seconds=${RKB_STRACE_SECONDS:-10}
  policy="$CTP_TMP/profile.conf"
  printf '[controller]\ninterval = 100ms\nnetns = %s\ndry_run = true\n' "${names[0]}" > "$policy"
  CTP_CTPILOT_LOG="$CTP_TMP/profile.log"
  ctp_bg "$CTPILOT" --root / --policy "$policy" --state-dir "$CTP_TMP/profile-state" --log-level info run --dry-run \
    >"$CTP_CTPILOT_LOG" 2>&1
  ppid=$CTP_LAST_PID
  sleep 3
  timeout -s INT "$strace_seconds" strace -c -f -q -p "$ppid" -o "$CTP_TMP/strace.txt" >/dev/null 2>&1 || true
  ctp_stop "$ppid"
  ticks=$((strace_seconds * 10))
  # "% time seconds usecs/call calls errors syscall": calls and kernel time per tick, top 10.
  while read -r line; do profile+=("$line"); done < <(awk -v t="$ticks" \
    '$1 ~ /^[0-9.]+$/ && NF >= 5 { sys = $NF; calls = $4; secs = $2;
       printf "| %s | %.1f | %.1f |\n", sys, calls / t, secs * 1e6 / t }' "$CTP_TMP/strace.txt" | head -n 10)
  ctp_log "strace profile: ${#profile[@]} syscalls"
fi

{
  echo "### Cost of a sampling cycle (real kernel)"
  echo
  echo "tick: \`Controller::tick()\` (sample every watched netns, estimate, decide, dry run) called by"
  echo "ctpilot-bench-tick with the statistics reader forced to netlink or procfs, 200 times back to back (warm"
  echo "caches), then 100 times paced every 100 ms as the daemon runs it (cold caches); read: one statistics"
  echo "read of one namespace. daemon: \`ctpilot run --dry-run\`, interval 100ms, over ${seconds} s after a 3 s"
  echo "warm-up (procfs forced with --root on a tree of symlinks to /proc, /sys, /run); CPU = utime+stime from"
  echo "/proc/PID/stat (10 ms resolution) / ticks; memory at the end. Times in microseconds; CPU includes the"
  echo "short-lived threads that enter a namespace. The namespaces' tables are nearly empty."
  echo
  echo "| watched netns | statistics | tick wall mean | tick wall p50 | tick wall p99 | tick CPU | paced tick wall p50 | paced tick CPU | read wall per netns | read CPU per netns | daemon CPU per tick | daemon CPU share of one core | daemon VmRSS (MiB) | daemon VmHWM (MiB) |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "A tick costs about 6 pread() of per-netns knobs and 2 ctnetlink requests per watched namespace,"
  echo "so its cost grows linearly with them. Paced at 100 ms among other processes a tick costs several"
  echo "times its back-to-back CPU time (cold caches); that is what the daemon pays. A procfs read of a"
  echo "non-initial netns starts a thread that enters the namespace (/proc/thread-self/net), hence its cost"
  echo "and a wall time far above its CPU time; at 64 namespaces a procfs tick outlasts the 100 ms interval."
  echo "A netlink read reuses a socket opened once in each namespace."
  echo
  if ((${#profile[@]} > 0)); then
    echo "Syscalls of the daemon watching one namespace (netlink statistics, 100 ms), \\`strace -c -f\\` over"
    echo "${strace_seconds} s (strace slows each call: the kernel times are upper bounds); per tick, busiest first:"
    echo
    echo "| syscall | calls per tick | kernel time per tick (us) |"
    echo "|---|---:|---:|"
    printf '%s\n' "${profile[@]}"
    echo
  fi
} | rkb_write_fragment cost
