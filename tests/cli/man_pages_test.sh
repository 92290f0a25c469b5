#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages agree with their sources: ctpilot(8) names every command and every option that
# `ctpilot --help` and `ctpilot COMMAND --help` print; ctpilot.conf(5) and the README's "Policy
# reference" name exactly the keys of the effective policy, with the same defaults; the README's
# "Commands" block is --help's command list; both pages render without warnings; ctpilot.conf(5)
# shows section names as the file writes them and cites no section it does not have.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
command -v man >/dev/null || { echo "SKIP: man (man-db) not installed"; exit 77; }
man_dir=$(dirname "$CTPILOT")/man
readme="$CTPILOT_SOURCE_DIR/README.md"
for page in ctpilot.8 ctpilot.conf.5; do
  [ -s "$man_dir/$page" ] || { fail "$man_dir/$page not generated"; exit "$failures"; }
  MANWIDTH=200 LC_ALL=C.UTF-8 man --warnings -l "$man_dir/$page" >"$tmp/$page.txt" 2>"$tmp/$page.err" || fail "man -l $page: exit $?"
  [ -s "$tmp/$page.err" ] && fail "man -l $page warns: $(head -3 "$tmp/$page.err")"
done

# ctpilot.conf(5): section headings as the file writes them (copyable), and every citation of
# a README section or Safety promise names the README (the page has no such section).
grep -q '^\[controller\]$' "$tmp/ctpilot.conf.5.txt" || fail "ctpilot.conf.5: no [controller] heading as in the file"
grep -q '^\[[A-Z_]*\]$' "$tmp/ctpilot.conf.5.txt" && fail "ctpilot.conf.5: upper-cased section headings: $(grep '^\[[A-Z_]*\]$' "$tmp/ctpilot.conf.5.txt" | head -3)"
tr '\n' ' ' <"$tmp/ctpilot.conf.5.txt" | tr -s ' ' | grep -o '.\{0,10\}\("[A-Z][A-Za-z ]*"\|Safety promises\? [0-9]\)' |
  grep -v 'README.md \(Safety promises\? [0-9]\|"[A-Z][A-Za-z ]*"\)$' >"$tmp/citations"
[ -s "$tmp/citations" ] && fail "ctpilot.conf.5 cites sections it does not have: $(cat "$tmp/citations")"

# ctpilot(8): every command and every option of every help text.
"$CTPILOT" --help >"$tmp/help"
mapfile -t commands < <(sed -n '/^commands:/,/^$/s/^  \([a-z-]*\).*/\1/p' "$tmp/help")
[ "${#commands[@]}" -ge 8 ] || fail "--help lists ${#commands[@]} commands, want at least 8"
options_of() { grep -o -- '^  \(-. \[ \)\?--[a-z-]*' | grep -o -- '--[a-z-]*'; }
for opt in $(sed -n '/^global options:/,$p' "$tmp/help" | options_of); do
  grep -q -- "^ *\(-., \)\?$opt\b" "$tmp/ctpilot.8.txt" || fail "ctpilot.8: global option $opt missing"
done
for cmd in "${commands[@]}"; do
  grep -q "^ *ctpilot $cmd\b" "$tmp/ctpilot.8.txt" || fail "ctpilot.8: no section for command $cmd"
  # The command's section: from its heading to the next command heading.
  awk -v c="$cmd" '$0 ~ "^   ctpilot " c "( |$)" { f = 1; next } f && /^   ctpilot / { f = 0 } /^[A-Z]/ { f = 0 } f' \
    "$tmp/ctpilot.8.txt" >"$tmp/section"
  for opt in $("$CTPILOT" "$cmd" --help | options_of); do
    grep -q -- "^ *\(-., \)\?$opt\b" "$tmp/section" || fail "ctpilot.8: $cmd option $opt missing"
  done
done

# The README's Commands block is --help's command list (same lines, any order).
sed -n '/^## Commands/,/^## /p' "$readme" | sed -n '/^```/,/^```/p' | grep '^  ' | sort >"$tmp/readme-commands"
sed -n '/^commands:/,/^$/p' "$tmp/help" | grep '^  ' | sort >"$tmp/help-commands"
diff "$tmp/readme-commands" "$tmp/help-commands" >"$tmp/diff" || fail "README Commands block differs from --help: $(cat "$tmp/diff")"

# ctpilot.conf(5) and the README policy reference: the keys and defaults of the effective policy.
: >"$tmp/empty.conf"
"$CTPILOT" check-policy "$tmp/empty.conf" >"$tmp/defaults" || fail "check-policy of an empty file: exit $?"
reference=$(sed -n '/^## Policy reference/,/^## /p' "$readme")
section=
while IFS= read -r line; do
  case $line in
    \[*\]) section=${line#[}; section=${section%]} ;;
    *' = '*)
      key=${line%% = *} value=${line#* = }
      [ "$section" = timeout_floors ] && continue
      row=$(awk -v s="$section" -v k="$key" '/^\*\*\[/ { cur = $0; sub(/^\*\*\[/, "", cur); sub(/\].*/, "", cur) }
            cur == s && index($0, "| `" k "` |") == 1 { print; exit }' <<<"$reference")
      [ -n "$row" ] || { fail "README policy reference: [$section] $key missing"; continue; }
      default=$(cut -d'|' -f4 <<<"$row")
      [[ $default == *"\`$value\`"* ]] || fail "README policy reference: [$section] $key default '$default' does not show '$value'"
      grep -Eq "^ +$key( |\$)" "$tmp/ctpilot.conf.5.txt" || fail "ctpilot.conf.5: [$section] $key missing"
      ;;
  esac
done <"$tmp/defaults"
# ...and no key in the reference that the policy does not have.
awk '/^\*\*\[/ { s = $0; sub(/^\*\*\[/, "", s); sub(/\].*/, "", s) } s != "timeout_floors" && /^\| `[a-z_]+` \|/ { k = $2; gsub(/`/, "", k); print s, k }' \
  <<<"$reference" | sed -n '/^\(controller\|max\|hashsize\|timeouts\) /p' | while read -r s k; do
    awk -v s="[$s]" -v k="$k" '$0 == s { f = 1; next } /^\[/ { f = 0 } f && $1 == k { found = 1 } END { exit !found }' "$tmp/defaults" \
      || echo "README policy reference: [$s] $k is not a key of the policy"
  done >"$tmp/extra"
[ -s "$tmp/extra" ] && fail "$(cat "$tmp/extra")"
# The built-in timeout floors.
sed -n '/^\[timeout_floors\]/,$p' "$tmp/defaults" | grep ' = ' | while read -r key _ value; do
  grep -q "^| \`$key\` | \`$value\` |" <<<"$reference" || echo "README: floor $key = $value missing"
  grep -Eq "^ +$key( |\$)" "$tmp/ctpilot.conf.5.txt" || echo "ctpilot.conf.5: floor $key missing"
done >"$tmp/floors"
[ -s "$tmp/floors" ] && fail "$(cat "$tmp/floors")"

exit "$failures"
