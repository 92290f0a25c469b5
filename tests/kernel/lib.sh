# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers of the real-kernel tests; every tests/kernel/*_test.sh sources this file.
#
# A test calls require_root_netns first. From then on, whatever way the script ends (success,
# failure, set -e, Ctrl-C, SIGTERM, its own deadline), the EXIT trap:
#   - stops the background processes the test started (by pid),
#   - deletes the network namespaces it created (all named ctp-<pid>-...),
#   - restores the global nf_conntrack_max and nf_conntrack_buckets saved at start,
#   - removes its temporary directory and releases /tmp/ctpilot-kernel.lock.
# Only SIGKILL can skip the trap: the saved values are also written to
# /tmp/ctpilot-kernel-globals.saved, and the next test to take the lock restores them first.
#
# Environment (ctest sets it): CTPILOT, LOADGEN, JSON_GET = paths of the built binaries.
# CTP_KEEP_TMP=1 keeps the test's temporary directory (ctpilot logs, state, reports).
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, no ip netns, no nft, no nf_conntrack).

set -euo pipefail
# A command that ends the test through set -e says which one (ctest shows nothing else).
# (Only under set -e: cleanup code runs with set +e and may fail on purpose.)
trap 'ctp_status=$?; [[ $- != *e* ]] || echo "FAIL $CTP_TEST: line $LINENO: \"$BASH_COMMAND\" exited with status $ctp_status" >&2' ERR

CTP_LOCK_FILE=/tmp/ctpilot-kernel.lock
CTP_SAVED_FILE=/tmp/ctpilot-kernel-globals.saved
CTP_PROC=/proc/sys/net/netfilter
CTP_ID="ctp-$$"
CTP_TEST="$(basename "$0" .sh)"
CTP_DEADLINE="${CTP_DEADLINE:-170}"   # seconds; ctest's TIMEOUT (SIGKILL) is set above this
CTP_NETNS=()
CTP_PIDS=()
CTP_TMP=""
CTP_SAVED_MAX=""
CTP_SAVED_BUCKETS=""
CTP_STARTED_AT=$(date +%s.%N)

ctp_log() { printf '[%s %6.1fs] %s\n' "$CTP_TEST" "$(ctp_elapsed)" "$*" >&2; }
ctp_elapsed() { echo "$(date +%s.%N) - $CTP_STARTED_AT" | bc; }
ctp_skip() { echo "SKIP $CTP_TEST: $*" >&2; exit 77; }
ctp_fail() { echo "FAIL $CTP_TEST: $*" >&2; exit 1; }
# Prints a measured number on one greppable line: "MEASURE <test> <name> = <value>".
ctp_measure() { printf 'MEASURE %s %s = %s\n' "$CTP_TEST" "$1" "$2"; }

ctp_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  local pid ns
  for pid in "${CTP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${CTP_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  # Anything still inside our namespaces was started by this test (the names are ours).
  for ns in "${CTP_NETNS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  ctp_restore_globals
  if [[ -n "$CTP_TMP" && "${CTP_KEEP_TMP:-0}" == 1 ]]; then
    ctp_log "kept $CTP_TMP (CTP_KEEP_TMP=1)"
  elif [[ -n "$CTP_TMP" ]]; then
    rm -rf "$CTP_TMP"
  fi
  ctp_log "finished with status $status"
  exit "$status"
}

ctp_restore_globals() {
  [[ -n "$CTP_SAVED_MAX" ]] || return 0
  # Buckets first: max is then restored on the table it was measured with.
  if [[ "$(cat $CTP_PROC/nf_conntrack_buckets)" != "$CTP_SAVED_BUCKETS" ]]; then
    echo "$CTP_SAVED_BUCKETS" > $CTP_PROC/nf_conntrack_buckets
  fi
  if [[ "$(cat $CTP_PROC/nf_conntrack_max)" != "$CTP_SAVED_MAX" ]]; then
    echo "$CTP_SAVED_MAX" > $CTP_PROC/nf_conntrack_max
  fi
  if [[ "$(cat $CTP_PROC/nf_conntrack_max)" == "$CTP_SAVED_MAX" &&
        "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$CTP_SAVED_BUCKETS" ]]; then
    rm -f "$CTP_SAVED_FILE"
  else
    echo "ERROR $CTP_TEST: could not restore nf_conntrack_max=$CTP_SAVED_MAX buckets=$CTP_SAVED_BUCKETS;" \
         "see $CTP_SAVED_FILE" >&2
  fi
}

# Skips (77) unless this is root with ip netns, nft, conntrack and nf_conntrack; then takes the
# machine-wide lock, saves the global knobs and installs the cleanup trap.
require_root_netns() {
  [[ $(id -u) -eq 0 ]] || ctp_skip "needs root"
  command -v ip >/dev/null || ctp_skip "needs ip (iproute2)"
  command -v nft >/dev/null || ctp_skip "needs nft (nftables)"
  command -v conntrack >/dev/null || ctp_skip "needs conntrack (conntrack-tools)"
  command -v flock >/dev/null || ctp_skip "needs flock (util-linux)"
  [[ -x "${CTPILOT:-}" && -x "${LOADGEN:-}" && -x "${JSON_GET:-}" ]] ||
    ctp_fail "CTPILOT, LOADGEN and JSON_GET must name the built binaries (ctest sets them)"
  # Loading the module is fine here: the tests need it and it is what CI machines run.
  [[ -e $CTP_PROC/nf_conntrack_max ]] || modprobe nf_conntrack 2>/dev/null || true
  [[ -w $CTP_PROC/nf_conntrack_max ]] || ctp_skip "needs nf_conntrack with a writable nf_conntrack_max"
  local probe="ctp-$$-probe"
  ip netns add "$probe" 2>/dev/null || ctp_skip "cannot create network namespaces (ip netns add)"
  ip netns del "$probe"

  trap ctp_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  CTP_TMP=$(mktemp -d "/tmp/$CTP_TEST.XXXXXX")

  exec 9>"$CTP_LOCK_FILE"
  ctp_log "waiting for $CTP_LOCK_FILE"
  flock -w 600 9 || ctp_fail "$CTP_LOCK_FILE stayed held for 10 minutes"
  ctp_log "took $CTP_LOCK_FILE"
  if [[ -s "$CTP_SAVED_FILE" ]]; then
    # A previous test was SIGKILLed before it could restore the globals: restore them now.
    # shellcheck disable=SC1090
    source "$CTP_SAVED_FILE"
    ctp_log "restoring globals left by a killed test: max=$CTP_SAVED_MAX buckets=$CTP_SAVED_BUCKETS"
    ctp_restore_globals
  fi
  ctp_remove_stale_netns
  CTP_SAVED_MAX=$(cat $CTP_PROC/nf_conntrack_max)
  CTP_SAVED_BUCKETS=$(cat $CTP_PROC/nf_conntrack_buckets)
  printf 'CTP_SAVED_MAX=%s\nCTP_SAVED_BUCKETS=%s\n' "$CTP_SAVED_MAX" "$CTP_SAVED_BUCKETS" > "$CTP_SAVED_FILE"
  ctp_log "saved nf_conntrack_max=$CTP_SAVED_MAX nf_conntrack_buckets=$CTP_SAVED_BUCKETS"

  # Our own deadline, below ctest's TIMEOUT, so that the trap still runs.
  local main=$$
  # (A loop of short sleeps with their own fds: killing the watchdog leaves nothing that holds
  # ctest's output pipe or the lock.)
  ( exec 9>&-
    for ((i = 0; i < CTP_DEADLINE; i++)); do sleep 1 </dev/null >/dev/null 2>&1; done
    echo "FAIL $CTP_TEST: deadline of ${CTP_DEADLINE}s passed" >&2
    kill -TERM "$main" ) &
  CTP_PIDS+=($!)
}

# Deletes namespaces named ctp-<pid>-... whose test process is gone (it was SIGKILLed), with
# what still runs inside them: only these tests create such names.
ctp_remove_stale_netns() {
  local ns owner pid
  for ns in $(ip netns list | awk '{print $1}'); do
    [[ "$ns" =~ ^ctp-([0-9]+)- ]] || continue
    owner=${BASH_REMATCH[1]}
    kill -0 "$owner" 2>/dev/null && continue
    ctp_log "removing $ns left by a killed test (pid $owner)"
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

# Writes the global nf_conntrack_max (initial netns); the trap restores it.
ctp_set_global_max() {
  echo "$1" > $CTP_PROC/nf_conntrack_max
  [[ "$(cat $CTP_PROC/nf_conntrack_max)" == "$1" ]] || ctp_fail "could not set nf_conntrack_max to $1"
}
ctp_global_max() { cat $CTP_PROC/nf_conntrack_max; }

# Writes the global nf_conntrack_buckets (a rehash of the whole table); the trap restores it.
ctp_set_global_buckets() {
  echo "$1" > $CTP_PROC/nf_conntrack_buckets
  [[ "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$1" ]] || ctp_fail "could not set nf_conntrack_buckets to $1"
}

# Runs "$@" in the background and remembers its pid for the trap; sets CTP_LAST_PID.
ctp_bg() {
  "$@" 9>&- &
  CTP_LAST_PID=$!
  CTP_PIDS+=("$CTP_LAST_PID")
}

# Creates netns NAME (must start with $CTP_ID-) with lo up; the trap deletes it.
ctp_add_netns() {
  local ns=$1
  [[ "$ns" == "$CTP_ID"-* ]] || ctp_fail "netns $ns must be named $CTP_ID-..."
  ip netns add "$ns"
  CTP_NETNS+=("$ns")
  ip -n "$ns" link set lo up
}

# Makes conntrack track in NAME: an nftables rule that needs it (conntrack tracks in a netns only once a rule asks for it).
ctp_add_ct_rule() {
  local ns=$1 hook=${2:-output}
  ip netns exec "$ns" nft add table inet ctp
  ip netns exec "$ns" nft add chain inet ctp "c_$hook" "{ type filter hook $hook priority 0; }"
  ip netns exec "$ns" nft add rule inet ctp "c_$hook" ct state new counter
}

# Creates netns NAME with lo up and the `ct state new counter` rule on output.
ctp_make_ct_netns() {
  ctp_add_netns "$1"
  ctp_add_ct_rule "$1" output
}

# The NAT gateway: clients -> router (masquerade, ip_forward) -> servers, over veth pairs with
# TEST-NET addresses. Sets CTP_CLIENTS, CTP_ROUTER, CTP_SERVERS (netns names) and
# CTP_SERVER_IP. Conntrack tracks only in the router (the NAT needs it); clients and servers
# have no rule, so their tables stay empty. An optional SUFFIX (one letter) makes a second,
# independent topology with the same addresses: ctp_make_nat_topology b.
ctp_make_nat_topology() {
  local x=${1:-}
  CTP_CLIENTS="$CTP_ID-clients$x"
  CTP_ROUTER="$CTP_ID-router$x"
  CTP_SERVERS="$CTP_ID-servers$x"
  CTP_SERVER_IP=203.0.113.2
  ctp_add_netns "$CTP_CLIENTS"
  ctp_add_netns "$CTP_ROUTER"
  ctp_add_netns "$CTP_SERVERS"
  ip link add "ctp$$$x"c type veth peer name "ctp$$$x"r
  ip link set "ctp$$$x"c netns "$CTP_CLIENTS" name c0
  ip link set "ctp$$$x"r netns "$CTP_ROUTER" name r0
  ip link add "ctp$$$x"s type veth peer name "ctp$$$x"t
  ip link set "ctp$$$x"s netns "$CTP_SERVERS" name s0
  ip link set "ctp$$$x"t netns "$CTP_ROUTER" name r1
  ip -n "$CTP_CLIENTS" addr add 198.51.100.2/24 dev c0
  ip -n "$CTP_CLIENTS" link set c0 up
  ip -n "$CTP_CLIENTS" route add default via 198.51.100.1
  ip -n "$CTP_ROUTER" addr add 198.51.100.1/24 dev r0
  ip -n "$CTP_ROUTER" addr add 203.0.113.1/24 dev r1
  ip -n "$CTP_ROUTER" link set r0 up
  ip -n "$CTP_ROUTER" link set r1 up
  ip -n "$CTP_SERVERS" addr add "$CTP_SERVER_IP"/24 dev s0
  ip -n "$CTP_SERVERS" link set s0 up
  ip netns exec "$CTP_ROUTER" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$CTP_ROUTER" nft add table ip ctpnat
  ip netns exec "$CTP_ROUTER" nft add chain ip ctpnat post '{ type nat hook postrouting priority 100; }'
  ip netns exec "$CTP_ROUTER" nft add rule ip ctpnat post oifname r1 masquerade
  ip netns exec "$CTP_ROUTER" nft add table inet ctp
  ip netns exec "$CTP_ROUTER" nft add chain inet ctp c_forward '{ type filter hook forward priority 0; }'
  ip netns exec "$CTP_ROUTER" nft add rule inet ctp c_forward ct state new counter
  # Many distinct client ports: more distinct connections before a tuple repeats.
  ip netns exec "$CTP_CLIENTS" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
}

# Checks that 5 TCP connections from the clients reach the servers through the router (the
# servers must be serving PORT), then flushes the router's table so the test starts empty.
ctp_check_nat_path() {
  local port=$1 report
  report=$("$LOADGEN" --netns "$CTP_CLIENTS" tcp-churn --target "$CTP_SERVER_IP:$port" --rate 100/s \
           --duration 1s --count 5 --timeout 1s)
  [[ "$(ctp_json /completed <<< "$report")" == 5 ]] ||
    ctp_fail "NAT topology: clients cannot reach $CTP_SERVER_IP:$port through the router: $report"
  ip netns exec "$CTP_ROUTER" conntrack -F 2>/dev/null
}

# Starts `ctpilot-loadgen serve` in NS on the given listen spec and waits until it is bound.
ctp_serve() {
  local ns=$1 listen=$2 extra=${3:-}
  local log="$CTP_TMP/serve-$ns-$RANDOM.log"
  # shellcheck disable=SC2086
  ctp_bg "$LOADGEN" --netns "$ns" serve --listen "$listen" \
    --duration "$((CTP_DEADLINE + 60))s" $extra 2>"$log" >/dev/null
  for _ in $(seq 50); do
    grep -q serving "$log" 2>/dev/null && return 0
    kill -0 "$CTP_LAST_PID" 2>/dev/null || ctp_fail "loadgen serve failed: $(cat "$log")"
    sleep 0.1
  done
  ctp_fail "loadgen serve did not bind $listen in 5 s"
}

# Sums one counter (drop, early_drop, insert_failed, ...) over every CPU inside NS: from
# /proc/net/stat/nf_conntrack when the kernel has it, else from `conntrack -S` (ctnetlink;
# kernels without CONFIG_NF_CONNTRACK_PROCFS).
ctp_ct_stat() {
  local ns=$1 column=$2
  if ip netns exec "$ns" test -r /proc/net/stat/nf_conntrack; then
    ctp_proc_stat "$ns" "$column"
    return
  fi
  ip netns exec "$ns" conntrack -S | awk -v col="$column" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == col) { sum += kv[2]; seen = 1 } } }
    END { if (!seen) exit 2; printf "%d\n", sum }'
}

# Sums one counter column of /proc/net/stat/nf_conntrack inside NS over every CPU row (hex).
ctp_proc_stat() {
  local ns=$1 column=$2
  ip netns exec "$ns" cat /proc/net/stat/nf_conntrack | awk -v col="$column" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; if (!c) exit 2; next }
    { n = 0; h = tolower($c)
      for (k = 1; k <= length(h); k++) n = n * 16 + index("0123456789abcdef", substr(h, k, 1)) - 1
      sum += n }
    END { if (!c) exit 2; printf "%d\n", sum }'
}

# Prints the entry count of NS as conntrack -C sees it.
ctp_conntrack_count() { ip netns exec "$1" conntrack -C; }

# Prints a per-netns sysctl of NS (e.g. nf_conntrack_tcp_timeout_time_wait).
ctp_netns_knob() { ip netns exec "$1" cat "$CTP_PROC/$2"; }

# Prints one value of the JSON document on stdin: ctp_json /path [default] (see json_get.cpp).
ctp_json() { "$JSON_GET" "$@"; }

# Checks an integer comparison and fails with a message: ctp_check A -gt B "what".
ctp_check() {
  local a=$1 op=$2 b=$3 what=$4
  if ! [[ "$a" =~ ^-?[0-9]+$ && "$b" =~ ^-?[0-9]+$ ]]; then
    ctp_fail "$what: not numbers ('$a' $op '$b')"
  fi
  # shellcheck disable=SC2086
  [ "$a" $op "$b" ] || ctp_fail "$what: expected $a $op $b"
}

# Runs `ctpilot rollback --all` and checks that it put nf_conntrack_max back to MAX and the
# buckets back to BUCKETS exactly. Usage: ctp_rollback_all_restores POLICY STATE_DIR MAX BUCKETS
ctp_rollback_all_restores() {
  local policy=$1 state=$2 max=$3 buckets=$4
  "$CTPILOT" --policy "$policy" --state-dir "$state" rollback --all > "$CTP_TMP/rollback.out" 2>&1 ||
    { cat "$CTP_TMP/rollback.out" >&2; ctp_fail "ctpilot rollback --all failed"; }
  ctp_log "rollback: $(cat "$CTP_TMP/rollback.out")"
  ctp_check "$(ctp_global_max)" -eq "$max" "nf_conntrack_max after rollback --all (the baseline)"
  ctp_check "$(cat $CTP_PROC/nf_conntrack_buckets)" -eq "$buckets" "nf_conntrack_buckets after rollback --all"
}

# Starts `ctpilot run` in the background (log in $CTP_TMP/ctpilot-<n>.log, kept on failure in
# the test's output) and checks that it is still alive a moment later. Sets CTP_CTPILOT_PID
# and CTP_CTPILOT_LOG. Usage: ctp_start_ctpilot POLICY STATE_DIR [run args...]
CTP_CTPILOT_RUNS=0
ctp_start_ctpilot() {
  local policy=$1 state=$2
  shift 2
  CTP_CTPILOT_RUNS=$((CTP_CTPILOT_RUNS + 1))
  CTP_CTPILOT_LOG="$CTP_TMP/ctpilot-$CTP_CTPILOT_RUNS.log"
  ctp_bg "$CTPILOT" --policy "$policy" --state-dir "$state" --log-level debug run "$@" >"$CTP_CTPILOT_LOG" 2>&1
  CTP_CTPILOT_PID=$CTP_LAST_PID
  sleep 0.5
  kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || ctp_fail "ctpilot run exited at once: $(cat "$CTP_CTPILOT_LOG")"
  ctp_log "ctpilot run started (pid $CTP_CTPILOT_PID, log $CTP_CTPILOT_LOG)"
}

# Stops a background process with SIGTERM and waits for it (at most 10 s); sets
# CTP_STOP_STATUS to its exit status.
ctp_stop() {
  local pid=$1
  CTP_STOP_STATUS=0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && ctp_fail "pid $pid did not stop within 10 s of SIGTERM"
  wait "$pid" 2>/dev/null || CTP_STOP_STATUS=$?
}

# Prints the last lines of ctpilot's log (for a failure's context).
ctp_show_log() { [[ -n "${CTP_CTPILOT_LOG:-}" && -f "$CTP_CTPILOT_LOG" ]] && tail -n "${1:-40}" "$CTP_CTPILOT_LOG" >&2 || true; }

# Samples the global nf_conntrack_max every 50 ms in the background and appends
# "<epoch seconds> <value>" to FILE whenever it changes.
ctp_watch_max() {
  local file=$1
  ( exec 9>&-
    last=""
    while true; do
      v=$(cat $CTP_PROC/nf_conntrack_max)
      [[ "$v" != "$last" ]] && echo "$(date +%s.%N) $v" >> "$file"
      last=$v
      sleep 0.05
    done ) &
  CTP_PIDS+=($!)
}

# Prints the seconds from epoch START to the first line of a ctp_watch_max FILE whose value
# differs from BEFORE, or "none".
ctp_first_change_after() {
  local file=$1 start=$2 before=$3
  awk -v s="$start" -v b="$before" '$2 != b { printf "%.2f\n", $1 - s; found = 1; exit }
    END { if (!found) print "none" }' "$file"
}

# The surge of the end-to-end tests: the NAT topology with servers on 8 ports, the global
# nf_conntrack_max lowered to CTP_SURGE_LOWERED (4096), and $CTP_TMP/policy.conf watching the
# router every INTERVAL (default 200ms), tuned to raise well ahead of a 1500/s fill:
# ctp_surge_setup [INTERVAL].
CTP_SURGE_LOWERED=4096
CTP_SURGE_RATE=1500
ctp_surge_setup() {
  local interval=${1:-200ms}
  ctp_make_nat_topology
  ctp_serve "$CTP_SERVERS" "$CTP_SERVER_IP:8000-8007"
  ctp_check_nat_path 8000
  ctp_set_global_max "$CTP_SURGE_LOWERED"
  cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
interval = $interval
netns = $CTP_ROUTER
[max]
high_water = 60%
lookahead = 10s
target_fill = 40%
cooldown = 1s
CONF
  "$CTPILOT" check-policy "$CTP_TMP/policy.conf" >/dev/null || ctp_fail "the test's policy is invalid"
}

# Runs the surge from the clients to the servers through the router and logs its report:
# ctp_surge_churn OUTPUT [DURATION]. 1500 new connections/s, each leaving a TIME_WAIT entry.
ctp_surge_churn() {
  "$LOADGEN" --netns "$CTP_CLIENTS" tcp-churn --target "$CTP_SERVER_IP:8000-8007" \
    --rate "$CTP_SURGE_RATE/s" --duration "${2:-8s}" --timeout 2s > "$1"
  ctp_log "churn: $(cat "$1")"
}

# Prints every timeout of NS as "name=value" lines (a snapshot to compare).
ctp_timeouts_snapshot() {
  local ns=$1 f
  for f in $CTP_PROC/nf_conntrack_*timeout*; do
    echo "$(basename "$f")=$(ip netns exec "$ns" cat "$f")"
  done
}
