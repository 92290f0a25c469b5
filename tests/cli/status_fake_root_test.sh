#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot status over a fake /proc and /sys tree (--root): procfs statistics (a fake tree has no
# netlink), the knobs, memory facts, recent changes and active holds from the journal, plain
# problems when the module is missing, and exit 1 when nothing at all can be read.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"

boot=11111111-2222-3333-4444-555555555555
make_tree() {
  local root=$1
  mkdir -p "$root/proc/self/ns" "$root/proc/sys/kernel/random" "$root/proc/net/stat" "$root/run/netns"
  ln -s 'net:[4026531840]' "$root/proc/self/ns/net"
  echo "$boot" > "$root/proc/sys/kernel/random/boot_id"
  printf 'MemTotal:        8000000 kB\nMemFree:         1000000 kB\n' > "$root/proc/meminfo"
  printf 'slabinfo - version: 2.1\nnf_conntrack   100  100  320  16  1 : tunables 0 0 0 : slabdata 1 1 0\n' \
    > "$root/proc/slabinfo"
}
add_conntrack() {
  local root=$1 nc=$1/proc/sys/net/netfilter
  mkdir -p "$nc"
  echo 65536 > "$nc/nf_conntrack_max"
  echo 16384 > "$nc/nf_conntrack_buckets"
  echo 49152 > "$nc/nf_conntrack_count"
  echo 60 > "$nc/nf_conntrack_tcp_timeout_time_wait"
  echo 432000 > "$nc/nf_conntrack_tcp_timeout_established"
  echo 30 > "$nc/nf_conntrack_udp_timeout"
  # Two CPUs; drop on CPU 1 is at the 32-bit edge, so the total needs 64 bits.
  cat > "$root/proc/net/stat/nf_conntrack" <<'STAT'
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000c000  00000001 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000003 00000004 00000005 00000000  00000000 00000000 00000000 00000006
0000c000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 ffffffff 00000001 00000000  00000000 00000000 00000000 00000000
STAT
}

policy=$tmp/policy.conf
printf '[controller]\nnetns = init\n' > "$policy"

# 1. A loaded module, a journal with changes and holds.
root=$tmp/root
make_tree "$root"
add_conntrack "$root"
state=$tmp/state
mkdir -p "$state"
future=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S.000Z)
past=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%S.000Z)
{
  echo '{"id":1,"time":"2026-11-27T03:00:00.000Z","boot_id":"'$boot'","kind":"baseline","netns":"init","knob":"nf_conntrack_max","new":32768}'
  for i in 2 3 4 5 6 7; do
    echo '{"id":'$i',"time":"2026-11-27T03:00:0'$i'.000Z","boot_id":"'$boot'","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":'$((i * 1000))',"new":'$((i * 1000 + 1000))',"reason":"step '$i'"}'
  done
  echo '{"id":8,"time":"2026-11-27T03:01:00.000Z","boot_id":"'$boot'","kind":"hold","until":"'$future'","reason":"rollback"}'
  echo '{"id":9,"time":"2026-11-27T03:01:01.000Z","boot_id":"'$boot'","kind":"hold","until":"'$past'","reason":"expired"}'
  echo '{"id":10,"time":"2026-11-27T03:01:02.000Z","boot_id":"'$boot'","kind":"hold","netns":"init","knob":"nf_conntrack_udp_timeout","until":"'$future'","reason":"lifted"}'
  echo '{"id":11,"time":"2026-11-27T03:01:03.000Z","boot_id":"'$boot'","kind":"resume","netns":"init","knob":"nf_conntrack_udp_timeout"}'
  echo '{"id":12,"time":"2026-11-27T03:01:04.000Z","boot_id":"'$boot'","kind":"intent","netns":"init","knob":"nf_conntrack_max","old":8000,"new":9000}'
} > "$state/journal.jsonl"

"$CTPILOT" --root "$root" --policy "$policy" --state-dir "$state" status --json > "$tmp/status.json" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || fail "status --json with a loaded module: exit $rc ($(cat "$tmp/err"))"
python3 - "$tmp/status.json" <<'PY' || fail "status --json content (see above)"
import json, sys
doc = json.load(open(sys.argv[1]))
problems = []
def check(cond, what):
    if not cond:
        problems.append(what)
check(doc["version"] == 1, "version 1")
g = doc["global"]
check(g["nf_conntrack_max"] == 65536, "global max")
check(g["nf_conntrack_buckets"] == 16384, "global buckets")
check(g["mem_total_bytes"] == 8000000 * 1024, "MemTotal in bytes")
check(g["slab_object_bytes"] == 320, "slab object size")
check(g["entry_bytes"] == 320 + 64 + 2, "entry size")
check(doc["boot_id"] == "11111111-2222-3333-4444-555555555555", "boot id")
ns = doc["namespaces"]
check(len(ns) == 1 and ns[0]["name"] == "init", "one netns: init")
n = ns[0]
check(n["inode"] == 4026531840, "init inode from the fake /proc/self/ns/net")
check(n["count"] == 49152, "count")
check(n["max"] == 65536, "max")
check(abs(n["fill"] - 0.75) < 1e-9, "fill 0.75")
check(abs(n["entries_per_bucket"] - 3.0) < 1e-9, "entries per bucket")
s = n["stats"]
check(s["source"] == "procfs", "procfs source under a fake root")
check(s["cpus"] == 2 and s["entries"] == 0xc000, "cpus and entries")
check(s["drop"] == 0xffffffff + 4, "drop summed in 64 bits")
check(s["early_drop"] == 6 and s["insert_failed"] == 3, "early_drop, insert_failed")
check(s["chaintoolong"] == 2 and s["clash_resolve"] == 1 and s["search_restart"] == 6, "chainlength, clashres, search_restart")
t = n["timeouts"]
check(t["nf_conntrack_tcp_timeout_time_wait"] == {"value": 60, "kernel_default": 120, "baseline": None}, "time_wait value and default")
check(g["nf_conntrack_max_baseline"] == 32768, "baseline of nf_conntrack_max from the journal")
check(g["nf_conntrack_buckets_baseline"] is None, "no baseline for buckets")
check(t["nf_conntrack_udp_timeout"]["value"] == 30, "udp timeout")
check(t["nf_conntrack_generic_timeout"]["value"] is None, "absent timeout is null")
check(any("nf_conntrack_generic_timeout" in p for p in n["problems"]), "absent timeout named in problems")
check([r["id"] for r in doc["recent_changes"]] == [3, 4, 5, 6, 7], "last five applied records, oldest first")
check([h["id"] for h in doc["holds"]] == [8], "only the unexpired, unlifted hold")
if problems:
    print("status --json:", "; ".join(problems))
    print(json.dumps(doc, indent=1)[:3000])
    sys.exit(1)
PY

# The human table says the same, aligned, with the stats source.
"$CTPILOT" --root "$root" --policy "$policy" --state-dir "$state" status > "$tmp/status.txt" 2> "$tmp/err" ||
  fail "status (table): exit $?"
grep -Eq '^  init +49152 +65536 +75\.0% +16384 +3\.00 +4294967299 +6 +3 +2 +6 +procfs$' "$tmp/status.txt" ||
  fail "status table row for init: $(grep -A2 NETNS "$tmp/status.txt")"
grep -q 'tcp_timeout_time_wait  *60\* *120' "$tmp/status.txt" || fail "status table: time_wait 60* beside default 120"
grep -q '#8 .* hold .*until' "$tmp/status.txt" || fail "status table: active hold"
grep -q 'nf_conntrack_max .*65536  (baseline 32768' "$tmp/status.txt" || fail "status table: baseline beside nf_conntrack_max"

# 2. nf_conntrack not loaded: say so plainly, still show memory facts, exit 0.
bare=$tmp/bare
make_tree "$bare"
rm -f "$bare/proc/net/stat/nf_conntrack"
"$CTPILOT" --root "$bare" --policy "$policy" --state-dir "$tmp/none" status > "$tmp/bare.txt" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || fail "module not loaded: exit $rc, want 0 (memory facts are readable)"
grep -q 'modprobe nf_conntrack' "$tmp/bare.txt" || fail "module not loaded: no modprobe hint: $(cat "$tmp/bare.txt")"
grep -q 'MemTotal' "$tmp/bare.txt" || fail "module not loaded: MemTotal not shown"
[ -e "$tmp/none" ] && fail "status created the state directory"

# 3. A named netns that does not exist is named, with what to do, and init is still shown.
printf '[controller]\nnetns = init, blue\n' > "$tmp/named.conf"
"$CTPILOT" --root "$root" --policy "$tmp/named.conf" --state-dir "$state" status --json > "$tmp/named.json" 2> "$tmp/err" ||
  fail "missing named netns: exit $?"
python3 - "$tmp/named.json" <<'PY' || fail "missing named netns reported"
import json, sys
doc = json.load(open(sys.argv[1]))
assert [n["name"] for n in doc["namespaces"]] == ["init"], doc["namespaces"]
assert any("ip netns add blue" in p for p in doc["problems"]), doc["problems"]
PY

# 4. Nothing readable at all: exit 1 with one line on stderr.
mkdir -p "$tmp/empty"
"$CTPILOT" --root "$tmp/empty" --policy "$policy" --state-dir "$tmp/none" status --json > "$tmp/empty.json" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "empty root: exit $rc, want 1"
grep -q 'nothing could be read' "$tmp/err" || fail "empty root: stderr: $(cat "$tmp/err")"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/empty.json" || fail "empty root: --json output is not JSON"

[ "$failures" -eq 0 ] || exit 1
echo "PASS"
