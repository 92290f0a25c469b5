#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Ansible role examples/ansible/roles/ctpilot with Debian's ansible-core against the local
# machine, into a throwaway root that the test removes: a syntax check; a --check --diff run
# that shows the policy and writes nothing; a real run that installs a policy ctpilot accepts,
# runs the reload handler once and warns about a competing nf_conntrack_max line in sysctl.d; a
# second run that changes nothing; a bad policy value that fails the play and leaves the
# installed policy as it was. Exit 77 (skipped) without ansible-playbook.
set -u
command -v ansible-playbook >/dev/null || { echo "SKIP: ansible-playbook not installed (apt-get install ansible-core)"; exit 77; }
: "${CTPILOT:?set CTPILOT to the built ctpilot}" "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

root=$tmp/root
mkdir -p "$root/etc/sysctl.d" "$tmp/ansible"
printf 'net.netfilter.nf_conntrack_max = 262144\n' >"$root/etc/sysctl.d/90-conntrack.conf"
printf 'net.ipv4.ip_forward = 1\n' >"$root/etc/sysctl.d/10-forward.conf"
cat >"$tmp/test.yml" <<YAML
---
- name: ctpilot role into a throwaway root
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: ctpilot
      vars:
        ctpilot_root: "$root"
        ctpilot_binary: "$CTPILOT"
        ctpilot_reload_command: "touch $tmp/reloaded"
        ctpilot_manage_service: false
        ctpilot_netns: all
        ctpilot_extra: {max: ["lookahead = 2m"]}
YAML
export ANSIBLE_ROLES_PATH="$CTPILOT_SOURCE_DIR/examples/ansible/roles" ANSIBLE_HOME="$tmp/ansible" \
  ANSIBLE_LOCAL_TEMP="$tmp/ansible/tmp" ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
  ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
play() { ansible-playbook -i localhost, "$@" >"$tmp/out" 2>&1; }
policy=$root/etc/ctpilot/policy.conf

play --syntax-check "$tmp/test.yml" "$CTPILOT_SOURCE_DIR/examples/ansible/site.yml" || { cat "$tmp/out"; fail "syntax check"; }

play --check --diff "$tmp/test.yml" || { cat "$tmp/out"; fail "--check --diff run: exit $?"; }
grep -q '^+dry_run = true' "$tmp/out" || { cat "$tmp/out"; fail "--check --diff did not show the policy"; }
[ -e "$policy" ] && fail "--check wrote $policy"
[ -e "$tmp/reloaded" ] && fail "--check ran the reload handler"

play "$tmp/test.yml" || { cat "$tmp/out"; fail "real run: exit $?"; }
"$CTPILOT" check-policy "$policy" >"$tmp/effective" 2>&1 || fail "installed policy rejected: $(cat "$tmp/effective")"
grep -qx 'netns = all' "$tmp/effective" || fail "installed policy lost netns = all"
grep -qx 'lookahead = 2m' "$tmp/effective" || fail "installed policy lost the extra line lookahead = 2m"
[ -e "$tmp/reloaded" ] || fail "real run: the reload handler did not run"
grep -q 'WARNING: .*90-conntrack.conf' "$tmp/out" || { cat "$tmp/out"; fail "no warning about the competing nf_conntrack_max line"; }
grep -q 'WARNING: .*10-forward.conf' "$tmp/out" && fail "warned about a sysctl.d file without nf_conntrack_max"

rm -f "$tmp/reloaded"
play "$tmp/test.yml" || { cat "$tmp/out"; fail "second run: exit $?"; }
grep -q 'changed=0' "$tmp/out" || { cat "$tmp/out"; fail "second run changed something"; }
[ -e "$tmp/reloaded" ] && fail "second run reloaded although nothing changed"

cp "$policy" "$tmp/before"
play "$tmp/test.yml" -e ctpilot_ceiling=4X && fail "a bad policy (ceiling = 4X) did not fail the play"
grep -q 'failed to validate' "$tmp/out" || { cat "$tmp/out"; fail "the bad policy failed for another reason than validation"; }
cmp -s "$policy" "$tmp/before" || fail "the bad policy replaced the installed one"
[ -e "$tmp/reloaded" ] && fail "the bad policy ran the reload handler"

exit "$failures"
