#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README Safety promise 10 from the command line: where /proc/sys is read-only (a container, or systemd's
# ProtectKernelTunables=), `run` says so once over many ticks, keeps observing, and stops cleanly
# on SIGTERM. The fake
# tree is bind-mounted read-only in a private mount namespace (needs root and unshare; else skip).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root for a read-only bind mount"; exit 77; }
command -v unshare >/dev/null || { echo "skipped: no unshare"; exit 77; }
unshare -m true 2>/dev/null || { echo "skipped: cannot create a mount namespace here"; exit 77; }

root=$tmp/root
nf=$root/proc/sys/net/netfilter
make_fake_root "$root" 950
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"

# About 20 ticks at 100ms, then SIGTERM (timeout exits 124 when it had to send it).
timeout -s TERM 2 unshare -m sh -c 'mount --bind "$1/proc/sys" "$1/proc/sys" && mount -o remount,bind,ro "$1/proc/sys" && exec "$2" --root "$1" --state-dir "$3" --policy "$4" --log-level debug run' \
  sh "$root" "$CTPILOT" "$tmp/state" "$tmp/policy.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 124 ] || { fail "run on a read-only /proc/sys: exit $rc, want it still running when stopped (124)"; cat "$tmp/err"; }
grep -q "SIGTERM received; stopping" "$tmp/err" || fail "did not stop cleanly: $(tail -3 "$tmp/err")"
ticks=$(grep -c "tick: netns init" "$tmp/err")
[ "$ticks" -ge 5 ] || fail "only $ticks ticks logged; the loop should have kept observing"
[ "$(cat "$nf/nf_conntrack_max")" = 1000 ] || fail "nf_conntrack_max changed on a read-only tree"
n=$(grep -v "debug" "$tmp/err" | grep -c "nf_conntrack_max in init is read-only here")
[ "$n" -eq 1 ] || fail "read-only said $n times, want once: $(cat "$tmp/err")"
grep -q "observing only" "$tmp/err" || fail "no 'observing only' in: $(cat "$tmp/err")"
grep -q '"kind":"failed"' "$tmp/state/journal.jsonl" || fail "the refused write is not journaled as failed"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
