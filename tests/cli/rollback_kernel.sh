#!/usr/bin/env bash
# ctpilot rollback on the real kernel (root): a journal of this boot says ctpilot raised the
# global nf_conntrack_max and shortened TIME_WAIT inside a namespace this test creates; a
# tampered TIME_WAIT refuses (exit 3, nothing written); then rollback --all restores both
# exactly, the timeout through the namespace. Holds /tmp/ctpilot-kernel.lock (shared with the
# kernel tests) and restores nf_conntrack_max on every exit path. Exit 77 = skipped.
set -u
: "${CTPILOT:?set CTPILOT to the ctpilot binary}"
proc=/proc/sys/net/netfilter
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v ip >/dev/null && command -v flock >/dev/null || { echo "SKIP: needs ip and flock"; exit 77; }
[ -w $proc/nf_conntrack_max ] || { echo "SKIP: needs nf_conntrack with a writable nf_conntrack_max"; exit 77; }

ns="ctp-$$-rollback"
tmp=$(mktemp -d)
saved=""
cleanup() {
  [ -n "$saved" ] && echo "$saved" >$proc/nf_conntrack_max
  ip netns del "$ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
exec 9>/tmp/ctpilot-kernel.lock
flock -w 600 9 || { echo "FAIL: /tmp/ctpilot-kernel.lock stayed held for 10 minutes"; exit 1; }
ip netns add "$ns" 2>/dev/null || { echo "SKIP: cannot create network namespaces"; exit 77; }
saved=$(cat $proc/nf_conntrack_max)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tw() { ip netns exec "$ns" cat $proc/nf_conntrack_tcp_timeout_time_wait; }

boot=$(cat /proc/sys/kernel/random/boot_id)
raised=$((saved + 1024))
echo "$raised" >$proc/nf_conntrack_max
ip netns exec "$ns" sh -c "echo 60 >$proc/nf_conntrack_tcp_timeout_time_wait"
mkdir -p "$tmp/state"
cat >"$tmp/state/journal.jsonl" <<EOF
{"id":1,"time":"2026-11-27T03:00:01.000Z","boot_id":"$boot","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":$saved,"new":$raised,"reason":"test raise"}
{"id":2,"time":"2026-11-27T03:00:02.000Z","boot_id":"$boot","kind":"applied","netns":"$ns","knob":"nf_conntrack_tcp_timeout_time_wait","old":120,"new":60,"reason":"test shorten"}
EOF
ctp() { "$CTPILOT" --state-dir "$tmp/state" "$@" 9>&-; }

# Someone else set TIME_WAIT to 45 in the namespace: refused whole.
ip netns exec "$ns" sh -c "echo 45 >$proc/nf_conntrack_tcp_timeout_time_wait"
ctp rollback --all >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] || fail "tampered: exit $rc, want 3: $(cat "$tmp/err")"
grep -q "nf_conntrack_tcp_timeout_time_wait in $ns is 45, not 60" "$tmp/err" || fail "tampered: $(cat "$tmp/err")"
[ "$(cat $proc/nf_conntrack_max)" = "$raised" ] || fail "tampered: nf_conntrack_max was written"

ip netns exec "$ns" sh -c "echo 60 >$proc/nf_conntrack_tcp_timeout_time_wait"
ctp rollback --all --hold 0 >"$tmp/out" 2>"$tmp/err" || fail "rollback --all: exit $?: $(cat "$tmp/err")"
[ "$(cat $proc/nf_conntrack_max)" = "$saved" ] || fail "nf_conntrack_max is $(cat $proc/nf_conntrack_max), want $saved"
[ "$(tw)" = 120 ] || fail "TIME_WAIT in $ns is $(tw), want 120"
[ "$(grep -c '"kind":"rollback"' "$tmp/state/journal.jsonl")" -eq 2 ] || fail "want two rollback records"

[ "$failures" -eq 0 ] && echo "PASS" || exit 1
