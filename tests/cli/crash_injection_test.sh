#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash injection (README: Safety promises, History and rollback): on a fake --root tree, kill
# `run --once` and then `rollback --all` at every write, fsync, openat, ftruncate, rename,
# renameat and unlinkat they make, in turn (strace -e inject=SYSCALL:signal=KILL:when=N), and
# check that a `rollback --all` afterwards restores every knob to its value before ctpilot,
# exactly, and that the journal stays readable. Then the same for `run --once` over a journal
# of this boot past the checkpoint size (it writes journal.checkpoint: temp, fsync, renameat),
# at every such call on the state directory and its files: after each kill a second `run --once` (from whatever checkpoint is there) and `rollback --all`
# must still restore exactly. Skipped (77) without strace or where ptrace is not allowed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || { echo "skipped: no strace"; exit 77; }
strace -f -qq -o /dev/null true 2>/dev/null || { echo "skipped: ptrace not allowed here"; exit 77; }

root=$tmp/root
state=$tmp/state
nf=$root/proc/sys/net/netfilter
knobs="nf_conntrack_max nf_conntrack_buckets nf_conntrack_tcp_timeout_time_wait nf_conntrack_tcp_timeout_close_wait
  nf_conntrack_tcp_timeout_fin_wait nf_conntrack_udp_timeout_stream nf_conntrack_tcp_timeout_established"
printf '[controller]\ninterval = 100ms\nnetns = init\n[max]\nceiling = 1M\n' >"$tmp/policy.conf"

# A machine at 90% fill (run --once raises max and shortens timeouts) whose journal holds a
# record of an earlier boot (run --once moves it to journal.jsonl.1: the rename path).
setup() {
  rm -rf "$root" "$state"
  make_fake_root "$root" 900
  mkdir -p "$root/run/netns" "$state"
  echo '{"id":1,"time":"2026-11-26T10:00:00.000Z","boot_id":"earlier","kind":"planned","netns":"init","knob":"nf_conntrack_max","old":1,"new":2}' \
    >"$state/journal.jsonl"
}
# The same machine whose journal already holds 1.1 MiB of this boot's records (planned ones,
# which change no state): run --once writes journal.checkpoint at its first sample.
setup_long() {
  setup
  awk -v boot="$fake_boot_id" 'BEGIN { for (i = 1; i <= 5000; i++)
    printf "{\"id\":%d,\"time\":\"2026-11-26T10:00:00.000Z\",\"boot_id\":\"%s\",\"kind\":\"planned\",\"netns\":\"init\",\"knob\":\"nf_conntrack_max\",\"old\":1000,\"new\":2000,\"reason\":\"filler filler filler filler filler filler filler filler\"}\n", i, boot }' \
    >"$state/journal.jsonl"
}
snapshot() {
  local k
  for k in $knobs; do printf '%s=%s ' "$k" "$(cat "$nf/$k" 2>/dev/null)"; done
}
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@"; }
# killed_at SYSCALL N CMD...: runs CMD killed at its Nth SYSCALL; false when CMD made fewer.
# With only_paths set (strace -P options), only the calls on those paths count.
only_paths=()
killed_at() {
  local syscall=$1 n=$2
  shift 2
  # In a subshell with stderr closed, so that bash's "Killed" notice stays quiet.
  (strace -f -qq -o /dev/null "${only_paths[@]}" -e trace="$syscall" -e inject="$syscall":signal=KILL:when="$n" \
    "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@" >/dev/null 2>&1; exit $?) 2>/dev/null
  [ $? -ge 128 ]
}
# check WHAT: rollback --all must restore the baseline exactly and leave a readable journal.
check() {
  ctp rollback --all --hold 0 >"$tmp/out" 2>&1 || { fail "$1: rollback --all: exit $?: $(cat "$tmp/out")"; return; }
  [ "$(snapshot)" = "$baseline" ] || fail "$1: after rollback --all: $(snapshot), want $baseline"
  ctp history >/dev/null 2>"$tmp/err" || fail "$1: history: exit $?: $(cat "$tmp/err")"
}

setup
baseline=$(snapshot)
ctp run --once >/dev/null 2>&1 || fail "run --once without crash: exit $?"
[ "$(snapshot)" != "$baseline" ] || fail "run --once changed nothing: the test would prove nothing"
check "no crash"

syscalls="write fsync openat ftruncate rename renameat unlinkat"
runs=0
for syscall in $syscalls; do
  # run --once killed at its Nth call, until it makes fewer than N.
  for ((n = 1; ; n++)); do
    setup
    killed_at "$syscall" "$n" run --once || break
    runs=$((runs + 1))
    echo "$syscall" >>"$tmp/kills"
    check "run --once killed at $syscall #$n"
  done
  # rollback --all killed at its Nth call, after a complete run --once.
  for ((n = 1; ; n++)); do
    setup
    ctp run --once >/dev/null 2>&1
    killed_at "$syscall" "$n" rollback --all || break
    runs=$((runs + 1))
    check "rollback --all killed at $syscall #$n"
  done
done
# Here only the calls on the state directory and its files count (strace -P: the knob writes
# were all killed above), which the checkpoint's write adds to.
setup_long
only_paths=()
for path in "$state" "$state/journal.jsonl" "$state/journal.checkpoint" "$state/journal.checkpoint.tmp"; do
  only_paths+=(-P "$path")
done
ctp run --once >/dev/null 2>&1 || fail "run --once over a long journal: exit $?"
[ -f "$state/journal.checkpoint" ] || fail "run --once over a long journal wrote no journal.checkpoint"
check "long journal, no crash"
for syscall in $syscalls; do
  for ((n = 1; ; n++)); do
    setup_long
    killed_at "$syscall" "$n" run --once || break
    runs=$((runs + 1))
    echo "$syscall" >>"$tmp/kills"
    ctp run --once >"$tmp/out" 2>&1 || fail "long journal, run --once killed at $syscall #$n, then run --once: exit $?: $(cat "$tmp/out")"
    check "long journal, run --once killed at $syscall #$n, then run --once"
  done
done
echo "crash injection: $runs kills ($(sort "$tmp/kills" | uniq -c | tr -s ' \n' ' ')of run --once), $failures failures"
[ "$runs" -gt 20 ] || fail "only $runs kills: strace injection did not work"
exit "$failures"
