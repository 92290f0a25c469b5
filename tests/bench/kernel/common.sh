# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the real-kernel benchmarks (tests/bench/kernel/*.sh). It sources the real-kernel
# tests' tests/kernel/lib.sh for everything (root checks, the machine-wide lock, saving and
# restoring nf_conntrack_max and nf_conntrack_buckets on every exit path, namespaces named
# ctp-<pid>-..., the NAT topology, background processes) and adds only what a benchmark needs:
# writing its markdown fragment and giving the lock back when it touches no global knob.
#
# Environment: CTPILOT, LOADGEN, JSON_GET (as for the kernel tests), BENCH_TICK (the
# ctpilot-bench-tick binary, for tick_cost.sh), RKB_OUT (directory of the kernel-*.md
# fragments; default bench/results of the source tree).

RKB_SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# shellcheck source=../../kernel/lib.sh
source "$RKB_SOURCE_DIR/tests/kernel/lib.sh"
RKB_OUT="${RKB_OUT:-$RKB_SOURCE_DIR/bench/results}"

# Gives /tmp/ctpilot-kernel.lock back for a benchmark that never writes a global knob (the
# kernel tests wait for it at most 10 minutes). Nothing global is restored after this: the
# values saved at start would be stale once someone else holds the lock.
rkb_release_lock() {
  [[ "$(ctp_global_max)" == "$CTP_SAVED_MAX" && "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$CTP_SAVED_BUCKETS" ]] ||
    ctp_fail "global knobs changed before rkb_release_lock"
  CTP_SAVED_MAX=""
  CTP_SAVED_BUCKETS=""
  rm -f "$CTP_SAVED_FILE"
  flock -u 9
  exec 9>&-
  ctp_log "released $CTP_LOCK_FILE (this benchmark touches no global knob)"
}

# Prints seconds since the epoch (microsecond resolution) without forking.
rkb_now() { echo "$EPOCHREALTIME"; }

# Prints A - B (seconds) with 3 decimals.
rkb_sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", a - b }'; }

# Prints the epoch seconds of an RFC 3339 time ("2026-11-27T03:50:00.123Z").
rkb_epoch() { date -d "$1" +%s.%N; }

# Writes stdin to $RKB_OUT/kernel-NAME.md and prints it.
rkb_write_fragment() {
  local name=$1
  mkdir -p "$RKB_OUT"
  cat > "$RKB_OUT/kernel-$name.md"
  cat "$RKB_OUT/kernel-$name.md"
}

# Empties the router's table and puts nf_conntrack_max back to LOWERED and the buckets back to
# BUCKETS, then lets the table settle for a second: each benchmark run starts the same.
rkb_reset_table() {
  local lowered=$1 buckets=$2
  ip netns exec "$CTP_ROUTER" conntrack -F 2>/dev/null || true
  [[ "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$buckets" ]] || echo "$buckets" > $CTP_PROC/nf_conntrack_buckets
  ctp_set_global_max "$lowered"
  sleep 1
}

# Prints "MAX BUCKETS ENTRY_BYTES" of the static setting at the memory budget (README "Why not
# just set it high?"): MAX = the entries the built-in policy's memory_budget holds at the entry
# size ctpilot measures here (`ctpilot status --json`, an empty policy file), BUCKETS = MAX / 4
# (the built-in entries_per_bucket) rounded up to whole pages of bucket heads (512).
rkb_static_at_budget() {
  local dir="$CTP_TMP/static-at-budget" json max entry
  mkdir -p "$dir/state"
  : > "$dir/policy.conf"
  json=$("$CTPILOT" --policy "$dir/policy.conf" --state-dir "$dir/state" status --json) ||
    ctp_fail "ctpilot status --json failed"
  max=$(ctp_json /global/memory_budget_entries <<< "$json")
  entry=$(ctp_json /global/entry_bytes <<< "$json")
  [[ "$max" =~ ^[0-9]+$ && "$max" -gt 0 ]] || ctp_fail "no memory budget in ctpilot status --json: $json"
  echo "$max $(( ( (max + 3) / 4 + 511) / 512 * 512 )) $entry"
}

# Makes NS drop, without an answer, what matches the nftables MATCH ("tcp dport 9000-9007"): a
# flood at those ports leaves unanswered entries in the router (SYN_SENT 120 s, UDP 30 s). Each
# call adds one rule to the input chain of table inet ctpsilent (created on first use).
rkb_drop_silently() {
  local ns=$1 match=$2
  ip netns exec "$ns" nft list chain inet ctpsilent c_in >/dev/null 2>&1 || {
    ip netns exec "$ns" nft add table inet ctpsilent
    ip netns exec "$ns" nft add chain inet ctpsilent c_in '{ type filter hook input priority 0; }'
  }
  # shellcheck disable=SC2086
  ip netns exec "$ns" nft add rule inet ctpsilent c_in $match drop
}

# Gives /tmp/ctpilot-kernel.lock back for a moment between the rounds of a long benchmark (the
# kernel tests wait for it at most 10 minutes): restores the global knobs, releases the lock,
# lets a waiting test take it, then waits for it again and saves the knobs anew. Only between
# runs: nothing of the benchmark's may touch a global knob meanwhile.
rkb_yield_lock() {
  ctp_restore_globals
  CTP_SAVED_MAX=""
  CTP_SAVED_BUCKETS=""
  flock -u 9
  ctp_log "released $CTP_LOCK_FILE between rounds"
  sleep 3
  flock -w 1800 9 || ctp_fail "$CTP_LOCK_FILE stayed held for 30 minutes"
  if [[ -s "$CTP_SAVED_FILE" ]]; then
    # A test that held the lock meanwhile was SIGKILLed before it could restore the globals.
    # shellcheck disable=SC1090
    source "$CTP_SAVED_FILE"
    ctp_log "restoring globals left by a killed test: max=$CTP_SAVED_MAX buckets=$CTP_SAVED_BUCKETS"
    ctp_restore_globals
  fi
  CTP_SAVED_MAX=$(cat "$CTP_PROC/nf_conntrack_max")
  CTP_SAVED_BUCKETS=$(cat "$CTP_PROC/nf_conntrack_buckets")
  printf 'CTP_SAVED_MAX=%s\nCTP_SAVED_BUCKETS=%s\n' "$CTP_SAVED_MAX" "$CTP_SAVED_BUCKETS" > "$CTP_SAVED_FILE"
  ctp_log "took $CTP_LOCK_FILE again; saved nf_conntrack_max=$CTP_SAVED_MAX nf_conntrack_buckets=$CTP_SAVED_BUCKETS"
}

# Prints the new connections the router's conntrack saw: packets of state new that it forwarded
# (the topology's `ct state new counter` rule) plus those it refused (drop; an early drop evicts
# an older entry and forwards the new one, so the counter has it).
rkb_router_new_entries() {
  local forwarded
  forwarded=$(ip netns exec "$CTP_ROUTER" nft list chain inet ctp c_forward | sed -n 's/.*ct state new counter packets \([0-9]*\).*/\1/p')
  echo $(( ${forwarded:-0} + $(ctp_proc_stat "$CTP_ROUTER" drop) ))
}
