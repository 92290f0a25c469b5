#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark: how long a hash-table resize (a write of nf_conntrack_buckets, which
# rehashes every entry of every namespace) takes with the table empty, at 100k and at 1M
# entries.
#
# The entries are one-way UDP flows from ctpilot-loadgen udp-flows to 127.0.0.1 inside a netns
# of our own (a `ct state new` rule on output; an input rule drops the datagrams so that no
# ICMP is generated); the netns' UDP timeout is raised so that nothing expires while we
# measure, and the global nf_conntrack_max is raised above 1M for the fill (restored on every
# exit path by lib.sh's trap, as are the buckets). Each size is timed twice: saved buckets ->
# 2x (grow) and back (shrink), written from the initial netns, timed around the write itself.
#
# RKB_RESIZE_SIZES (default "100000 1000000"). Writes $RKB_OUT/kernel-resize.md.
# Needs root; holds /tmp/ctpilot-kernel.lock throughout.
CTP_DEADLINE=${CTP_DEADLINE:-400}
source "$(dirname "$0")/common.sh"
require_root_netns

sizes=${RKB_RESIZE_SIZES:-100000 1000000}
buckets=$CTP_SAVED_BUCKETS
grown=$((buckets * 2))
# 23 target ports (prime, so with the default 51,000 source ports every flow up to 1.17M is a
# distinct 5-tuple); each fill uses its own 23 ports, so a later fill never repeats a tuple.
ports_per_fill=23

fill="$CTP_ID-fill"
ctp_make_ct_netns "$fill"
ip netns exec "$fill" nft add chain inet ctp c_input '{ type filter hook input priority 0; }'
ip netns exec "$fill" nft add rule inet ctp c_input udp dport 9000-9999 drop
ip netns exec "$fill" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600

count_of() { ctp_netns_knob "$fill" nf_conntrack_count; }
total_count() { cat $CTP_PROC/nf_conntrack_count; }

# Writes nf_conntrack_buckets = N and prints the seconds the write took.
timed_resize() {
  local n=$1 t0 t1
  t0=$EPOCHREALTIME
  echo "$n" > $CTP_PROC/nf_conntrack_buckets
  t1=$EPOCHREALTIME
  [[ "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$n" ]] || ctp_fail "nf_conntrack_buckets did not become $n"
  rkb_sub "$t1" "$t0"
}

rows=()
measure() {
  local label=$1 entries grow shrink
  entries=$(count_of)
  grow=$(timed_resize "$grown")
  shrink=$(timed_resize "$buckets")
  ctp_measure "resize_grow_s_$label" "$grow"
  ctp_measure "resize_shrink_s_$label" "$shrink"
  rows+=("| $label | $entries | $(total_count) | $buckets -> $grown: $(awk -v s="$grow" 'BEGIN { printf "%.1f", s * 1000 }') | $grown -> $buckets: $(awk -v s="$shrink" 'BEGIN { printf "%.1f", s * 1000 }') |")
}

measure empty

largest=0
for size in $sizes; do [[ "$size" =~ ^[0-9]+$ && "$size" -le 1100000 ]] || ctp_fail "RKB_RESIZE_SIZES: up to 1100000"; ((size > largest)) && largest=$size; done
ctp_set_global_max $((largest + largest / 10 + 10000))

filled=0
first_port=9000
for size in $sizes; do
  need=$((size - filled))
  if ((need > 0)); then
    last_port=$((first_port + ports_per_fill - 1))
    report=$("$LOADGEN" --netns "$fill" udp-flows --target "127.0.0.1:$first_port-$last_port" \
             --rate 2000000/s --count "$need" --duration 180s)
    ctp_log "fill to $size: $report"
    first_port=$((last_port + 1))
    filled=$size
  fi
  got=$(count_of)
  ctp_check "$got" -ge $((size * 95 / 100)) "entries in $fill after filling to $size"
  measure "$size"
done

{
  echo "### Time for a hash-table resize (real kernel)"
  echo
  echo "A write of nf_conntrack_buckets from the initial netns (it rehashes every entry of every namespace),"
  echo "timed around the write; the entries are unreplied UDP flows in one netns of ours (each netns counts"
  echo "its own entries, but the hash table is shared, so other namespaces' entries are rehashed too)."
  echo
  echo "| table | entries in the filled netns | entries in the initial netns | grow (ms) | shrink (ms) |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
} | rkb_write_fragment resize
