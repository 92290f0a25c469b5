#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Under --root, a FIFO in place of a knob, boot_id or meminfo is refused with a message, never
# waited on: status, plan and run --once all finish (README Safety promise 10).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

printf '[controller]\nnetns = init\n' >"$tmp/policy.conf"
for file in proc/sys/net/netfilter/nf_conntrack_max proc/sys/kernel/random/boot_id proc/meminfo; do
  root=$tmp/root-${file//\//_}
  make_fake_root "$root"
  rm "$root/$file"
  mkfifo "$root/$file"
  for command in status plan "run --once"; do
    # shellcheck disable=SC2086 # $command is two words for run --once
    timeout 20 "$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" $command \
      >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 124 ]; then
      fail "$command with a FIFO at /$file hung"
      continue
    fi
    [ "$command" = status ] && [ "$file" = proc/sys/kernel/random/boot_id ] && continue  # status goes on without it
    grep -q "$root/$file is not a regular file" "$tmp/out" "$tmp/err" ||
      { fail "$command with a FIFO at /$file (exit $rc) does not say it is not a regular file"; cat "$tmp/out" "$tmp/err"; }
  done
done
exit "$failures"
