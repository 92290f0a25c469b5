#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `run` moves earlier boots' records to journal.jsonl.1 at start (README: History and rollback):
# journal.jsonl keeps the current boot, history shows both files in order, --limit reads the
# newest across them, new records continue the ids, and rollback still finds this boot's changes.
# Status's recent changes and rollback's count of earlier boots' changes read journal.jsonl.1 too.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
state=$tmp/state
make_fake_root "$root" 100
mkdir -p "$state" "$root/run/netns"
b=$fake_boot_id
cat >"$state/journal.jsonl" <<EOF2
{"id":1,"time":"2026-11-20T03:00:00.000Z","boot_id":"older","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":500,"new":900}
{"id":2,"time":"2026-11-26T03:00:00.000Z","boot_id":"old","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":600,"new":800}
{"id":3,"time":"2026-11-27T03:00:00.000Z","boot_id":"$b","kind":"baseline","netns":"init","knob":"nf_conntrack_max","old":900,"new":900}
{"id":4,"time":"2026-11-27T03:00:01.000Z","boot_id":"$b","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":900,"new":1000}
EOF2
printf '[controller]\ninterval = 100ms\nnetns = init\n[max]\nceiling = 1M\n[hashsize]\nmode = fixed\n' >"$tmp/policy.conf"  # one change to undo: max
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@"; }
ids() { ctp history --json "$@" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p' | tr '\n' ' '; }

ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once: exit $?: $(cat "$tmp/err")"
grep -q 'moved 2 record(s) of earlier boots to journal.jsonl.1' "$tmp/err" || fail "run --once did not say it moved 2 records: $(cat "$tmp/err")"
[ "$(grep -c . "$state/journal.jsonl.1")" -eq 2 ] || fail "journal.jsonl.1: $(cat "$state/journal.jsonl.1")"
head -1 "$state/journal.jsonl" | grep -q '"id":3,' || fail "journal.jsonl does not start with this boot's #3"
# (run --once also journals baselines of the knobs it sees for the first time: #5 on.)
all=$(ids)
n=$(echo "$all" | wc -w)
[ "$all" = "$(seq -s ' ' 1 "$n") " ] || fail "history: ids $all, want 1..$n"
[ "$(ids --limit $((n - 1)))" = "$(seq -s ' ' 2 "$n") " ] || fail "history --limit $((n - 1)): ids $(ids --limit $((n - 1)))"

# A new record continues the ids; rollback finds this boot's change (#4) and not the others.
ctp rollback --all --hold 0 >"$tmp/out" 2>&1 || fail "rollback --all: exit $?: $(cat "$tmp/out")"
grep -q 'restored nf_conntrack_max in init 1000 -> 900 (undoing #4 ' "$tmp/out" || fail "rollback: $(cat "$tmp/out")"
[ "$(ids --limit 2)" = "$((n + 1)) $((n + 2)) " ] || fail "rollback's records: ids $(ids --limit 2), want $((n + 1)) $((n + 2))"

# A second start moves nothing.
ctp run --once >/dev/null 2>"$tmp/err" || fail "second run --once: exit $?"
grep -q 'moved' "$tmp/err" && fail "second run --once moved records again"
[ "$(grep -c . "$state/journal.jsonl.1")" -eq 2 ] || fail "journal.jsonl.1 changed on the second start"

# The earlier boots' changes are still this state directory's recent changes, and rollback
# still counts them (they were in journal.jsonl before the move).
ctp status --json >"$tmp/status.json" 2>"$tmp/err" || fail "status --json: exit $?: $(cat "$tmp/err")"
recent=$(python3 -c 'import json,sys; print(" ".join(str(r["id"]) for r in json.load(open(sys.argv[1]))["recent_changes"]))' "$tmp/status.json")
case " $recent " in
  " 1 2 4 "*) ;;
  *) fail "status recent_changes: ids $recent, want 1 2 4 ... (earlier boots' changes from journal.jsonl.1 first)" ;;
esac
ctp status 2>/dev/null | grep -q '#1 2026-11-20T03:00:00.000Z applied init nf_conntrack_max 500 -> 900' ||
  fail "status does not list #1 of an earlier boot under recent changes: $(ctp status 2>&1)"
ctp rollback --all --dry-run >"$tmp/out" 2>&1 || fail "rollback --all --dry-run: exit $?"
grep -q 'nothing to roll back: no change of this boot is left to undo (2 from earlier boots are gone' "$tmp/out" ||
  fail "rollback does not count the 2 changes of earlier boots in journal.jsonl.1: $(cat "$tmp/out")"

exit "$failures"
