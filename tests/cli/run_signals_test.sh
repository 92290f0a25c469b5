#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot run as a daemon over a fake /proc tree: SIGHUP with a bad policy keeps the old one and
# says so; SIGHUP with a good one reloads; SIGTERM stops cleanly (exit 0) and, by default, leaves
# the tuned value in place (README Safety promise 9); with rollback_on_exit = true it restores the baseline.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

root=$tmp/root
nf=$root/proc/sys/net/netfilter
make_fake_root "$root"
reset_tree() { set_fake_knobs "$root"; }

# Waits up to 10 s for a pattern in a file.
wait_for() {
  for _ in $(seq 100); do
    grep -q "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# Waits up to 10 s for $pid to exit; sets rc.
wait_exit() {
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      rc=$?
      pid=
      return 0
    fi
    sleep 0.1
  done
  return 1
}

start() {  # start POLICY STATE
  "$CTPILOT" --root "$root" --state-dir "$2" --policy "$1" run 2>"$tmp/err" &
  pid=$!
  wait_for "started" "$tmp/err" || fail "daemon did not start: $(cat "$tmp/err")"
}

reset_tree
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"
start "$tmp/policy.conf" "$tmp/state"
wait_for "raised nf_conntrack_max" "$tmp/err" || fail "no raise logged: $(cat "$tmp/err")"
raised=$(cat "$nf/nf_conntrack_max")

printf '[max]\nceiling = lots\n' >"$tmp/policy.conf"
kill -HUP "$pid"
wait_for "not reloading the policy" "$tmp/err" || fail "a bad policy on SIGHUP was not reported: $(cat "$tmp/err")"
kill -0 "$pid" 2>/dev/null || fail "the daemon died on a bad policy"

printf '[controller]\ninterval = 200ms\n' >"$tmp/policy.conf"
kill -HUP "$pid"
wait_for "reloaded the policy (interval 200ms)" "$tmp/err" || fail "a good policy on SIGHUP was not reloaded: $(cat "$tmp/err")"

kill -TERM "$pid"
wait_exit || fail "the daemon did not stop within 10 s of SIGTERM"
[ "${rc:-}" = 0 ] || fail "SIGTERM: exit ${rc:-?}, want 0"
grep -q "SIGTERM received; stopping" "$tmp/err" || fail "no stop message: $(cat "$tmp/err")"
[ "$(cat "$nf/nf_conntrack_max")" = "$raised" ] || fail "stopping changed nf_conntrack_max (README Safety promise 9)"

# rollback_on_exit = true: stopping restores the baseline of this boot.
reset_tree
printf '[controller]\ninterval = 100ms\nrollback_on_exit = true\n' >"$tmp/policy.conf"
start "$tmp/policy.conf" "$tmp/state2"
wait_for "raised nf_conntrack_max" "$tmp/err" || fail "no raise logged: $(cat "$tmp/err")"
kill -INT "$pid"
wait_exit || fail "the daemon did not stop within 10 s of SIGINT"
[ "${rc:-}" = 0 ] || fail "SIGINT: exit ${rc:-?}, want 0"
[ "$(cat "$nf/nf_conntrack_max")" = 1000 ] ||
  fail "rollback_on_exit left nf_conntrack_max at $(cat "$nf/nf_conntrack_max"): $(cat "$tmp/err")"
grep -q '"kind":"rollback"' "$tmp/state2/journal.jsonl" || fail "rollback_on_exit journaled no rollback record"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
