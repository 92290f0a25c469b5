#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What ships is what is documented (README "Install"): examples/policies/dry-run.conf, the
# package's /etc/ctpilot/policy.conf, is the built-in defaults with dry_run = true and nothing
# else; the Ansible role's defaults are the built-in values of the keys it writes.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
: >"$tmp/empty.conf"
"$CTPILOT" check-policy "$tmp/empty.conf" >"$tmp/defaults" 2>"$tmp/err" || fail "check-policy of an empty file: $(cat "$tmp/err")"
shipped=$CTPILOT_SOURCE_DIR/examples/policies/dry-run.conf
"$CTPILOT" check-policy "$shipped" >"$tmp/shipped" 2>"$tmp/err" || fail "check-policy $shipped: $(cat "$tmp/err")"
grep -qx 'dry_run = true' "$tmp/shipped" || fail "dry-run.conf does not set dry_run = true"
# Section by section: the same keys and values but dry_run (the file names aside).
diff <(grep -v '^dry_run = \|^#' "$tmp/defaults") <(grep -v '^dry_run = \|^#' "$tmp/shipped") >"$tmp/diff" ||
  fail "dry-run.conf differs from the built-in defaults (< defaults, > dry-run.conf): $(cat "$tmp/diff")"

# The Ansible role: each ctpilot_VAR it writes into a key has the built-in value by default.
role=$CTPILOT_SOURCE_DIR/examples/ansible/roles/ctpilot
default_of() {  # default_of SECTION KEY: the built-in value, from check-policy
  awk -v s="[$1]" -v k="$2" '$0 == s { f = 1; next } /^\[/ { f = 0 } f && $1 == k { sub(/^[^=]*= /, ""); print; exit }' "$tmp/defaults"
}
section=
while IFS= read -r line; do
  case $line in
    \[*\]) section=${line#[}; section=${section%]} ;;
    *' = {{ ctpilot_'*' }}')
      key=${line%% = *} var=${line#*\{\{ } var=${var%% *}
      [ "$key" = dry_run ] && continue  # the role starts in dry run too, on purpose
      value=$(sed -n "s/^$var: *\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}\$/\\1/p" "$role/defaults/main.yml")
      [ -n "$value" ] || { fail "role: no default for $var"; continue; }
      # Compare as ctpilot reads them: the role's value through check-policy.
      printf '[%s]\n%s = %s\n' "$section" "$key" "$value" >"$tmp/role.conf"
      read_back=$("$CTPILOT" check-policy "$tmp/role.conf" 2>&1 | awk -v s="[$section]" -v k="$key" \
        '$0 == s { f = 1; next } /^\[/ { f = 0 } f && $1 == k { sub(/^[^=]*= /, ""); print; exit }')
      [ "$read_back" = "$(default_of "$section" "$key")" ] ||
        fail "role default $var = $value is [$section] $key = $read_back, the built-in default is $(default_of "$section" "$key")"
      ;;
  esac
done <"$role/templates/policy.conf.j2"
exit "$failures"
