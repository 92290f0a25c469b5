#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot run --once over a fake /proc tree: a table at 90% gets nf_conntrack_max raised, the
# journal holds intent then applied (README Safety promise 2); --dry-run then writes nothing and journals a
# planned record (Safety promise 5); a second instance on the same state directory exits 3 (Safety promise 8);
# a bad policy exits 2.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
nf=$root/proc/sys/net/netfilter
# The common fake tree, plus a netns directory, hashsize, per-CPU statistics, MemFree, and the
# kernel's defaults for CLOSE_WAIT and ESTABLISHED.
make_fake_root "$root"
mkdir -p "$root/run/netns"
echo 1024 >"$root/sys/module/nf_conntrack/parameters/hashsize"
echo 60 >"$nf/nf_conntrack_tcp_timeout_close_wait"
echo 432000 >"$nf/nf_conntrack_tcp_timeout_established"
{
  echo "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart"
  for _ in 0 1; do
    echo "00000384  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000"
  done
} >"$root/proc/net/stat/nf_conntrack"
printf 'MemTotal:       16384000 kB\nMemFree:         8000000 kB\n' >"$root/proc/meminfo"

cat >"$tmp/policy.conf" <<'POLICY'
[controller]
interval = 100ms
netns = init

[max]
ceiling = 1M
high_water = 80%
target_fill = 50%
POLICY

state=$tmp/state
"$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" run --once >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "run --once: exit $rc, want 0"; cat "$tmp/err"; }
max=$(cat "$nf/nf_conntrack_max")
[ "$max" -gt 1000 ] || fail "nf_conntrack_max is $max, want it raised above 1000"
grep -q "raised nf_conntrack_max in init 1000 -> $max" "$tmp/err" || fail "no 'raised nf_conntrack_max in init 1000 -> $max' log line"
journal=$state/journal.jsonl
[ -s "$journal" ] || fail "no journal at $journal"
# The intent for the max comes before its applied record, which names the value kept.
kinds=$(grep '"knob":"nf_conntrack_max"' "$journal" | grep -o '"kind":"[a-z]*"' | tr '\n' ' ')
[ "$kinds" = '"kind":"baseline" "kind":"intent" "kind":"applied" ' ] ||
  fail "nf_conntrack_max records are: $kinds; want baseline, intent, applied"
grep '"kind":"applied"' "$journal" | grep '"knob":"nf_conntrack_max"' | grep -q "\"new\":$max" ||
  fail "the applied record does not name the value kept ($max)"
grep -q "\"boot_id\":\"$fake_boot_id\"" "$journal" || grep -q "$fake_boot_id" "$journal" ||
  fail "records do not carry the boot id"

# Dry run: the table is at 95% of the new max, yet nothing is written and a planned record appears.
# (A fresh state directory: in the first one the raise just made is still in its cooldown.)
echo $((max * 95 / 100)) >"$nf/nf_conntrack_count"
"$CTPILOT" --root "$root" --state-dir "$tmp/dry" --policy "$tmp/policy.conf" run --dry-run --once >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "run --dry-run --once: exit $rc, want 0"; cat "$tmp/err"; }
[ "$(cat "$nf/nf_conntrack_max")" = "$max" ] || fail "dry run changed nf_conntrack_max to $(cat "$nf/nf_conntrack_max")"
new=$(cat "$tmp/dry/journal.jsonl")
echo "$new" | grep -q '"kind":"planned"' || fail "dry run journaled no planned record"
echo "$new" | grep -Eq '"kind":"(intent|applied|baseline)"' && fail "dry run journaled: $(echo "$new" | grep -E '"kind":"(intent|applied|baseline)"')"
grep -q "would raise nf_conntrack_max" "$tmp/err" || fail "dry run did not log what it would do"

# A second instance on the same state directory is refused with exit 3 and names the lock.
flock "$state/lock" "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" run --once \
  >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] || fail "run while the lock is held: exit $rc, want 3"
grep -q "another ctpilot (pid [0-9]*) holds $state/lock; stop it first" "$tmp/err" ||
  fail "lock message: $(cat "$tmp/err")"

# A bad policy is a usage error.
printf '[max]\nceiling = lots\n' >"$tmp/bad.conf"
"$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/bad.conf" run --once >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "bad policy: exit $rc, want 2"
grep -q "bad.conf:2: " "$tmp/err" || fail "bad policy: no FILE:LINE message: $(cat "$tmp/err")"

# A state directory that cannot be created is a runtime failure with one clear line.
touch "$tmp/file"
"$CTPILOT" --root "$root" --state-dir "$tmp/file/state" --policy "$tmp/policy.conf" run --once >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "uncreatable state dir: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "uncreatable state dir: want one line, got: $(cat "$tmp/err")"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
