#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bash completion (scripts/ctpilot-completion.bash): `ctpilot st<TAB>` completes to status;
# commands, global and per-command options, scenario names, policy files and the files of
# record --out and simulate --trace complete.
# COMPLETION may name another completion file (the package test passes the installed one).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
completion=${COMPLETION:-$CTPILOT_SOURCE_DIR/scripts/ctpilot-completion.bash}

# complete LINE...: what TAB offers after the words (the last one being completed), sorted,
# from the function `complete -p ctpilot` names, in a fresh bash with ctpilot on PATH.
mkdir "$tmp/bin" && ln -s "$CTPILOT" "$tmp/bin/ctpilot"
complete_words() {
  mkdir -p "$tmp/cwd"
  (cd "$tmp/cwd" && PATH="$tmp/bin:$PATH" bash -c '
    [ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
    . "$1"; shift
    spec=$(complete -p ctpilot) || exit 1
    fn=$(sed -n "s/.*-F \([^ ]*\) .*/\1/p" <<<"$spec")
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    "$fn" ctpilot "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$completion" "$@")
}
expect() {  # expect "WANTED WORDS" LINE...
  local want=$1 got
  shift
  got=$(complete_words "$@" | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$want" ] || fail "ctpilot ${*:2}<TAB>: got '$got', want '$want'"
}

spec=$(bash -c '. "$1"; complete -p ctpilot' _ "$completion") || fail "complete -p ctpilot: nothing registered"
[[ $spec == *"-F _ctpilot"* ]] || fail "complete -p ctpilot: '$spec'"

expect "status" ctpilot st
expect "check-policy help history plan record resume rollback run simulate status" ctpilot ""
expect "help history" ctpilot h
expect "status" ctpilot help sta
expect "--policy" ctpilot --pol
expect "--dry-run --help --once" ctpilot run --
expect "--scenario --seed --since --step" ctpilot --policy x.conf simulate --s
expect "flash-crowd" ctpilot simulate --scenario fl
expect "churn-storm containers flash-crowd isp-nat-day netns-router steady-growth syn-flood udp-flood" ctpilot simulate --scenario ""
expect "debug" ctpilot --log-level de
mkdir -p "$tmp/pol/sub" && touch "$tmp/pol/gw.conf" "$tmp/pol/notes.txt"
expect "$tmp/pol/gw.conf $tmp/pol/sub" ctpilot --policy "$tmp/pol/"
expect "$tmp/pol/gw.conf $tmp/pol/sub" ctpilot check-policy "$tmp/pol/"
# Trace files have no fixed suffix: any path.
expect "$tmp/pol/gw.conf $tmp/pol/notes.txt $tmp/pol/sub" ctpilot record --out "$tmp/pol/"
expect "$tmp/pol/notes.txt" ctpilot --policy x.conf simulate --trace "$tmp/pol/n"
expect "$tmp/pol/notes.txt" ctpilot simulate --trace "$tmp/pol/gw.conf" "$tmp/pol/n"

exit "$failures"
