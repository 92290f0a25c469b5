#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package on the real machine: builds it from this build tree (scripts/package.sh
# --no-build), lintian finds no error, `dpkg -i` installs it, the unit passes
# `systemd-analyze verify`, the installed ctpilot prints its version, both man pages render,
# `ctpilot plan` runs from /usr/sbin, `ctpilot st<TAB>` completes; the shipped dry-run policy gets
# the unit enabled, a policy that acts does not; `dpkg --purge` leaves nothing behind.
# It installs into the real /usr, so it purges on every exit path (EXIT/INT/TERM trap), and it
# skips (77) where ctpilot is already installed or /etc/ctpilot or /var/lib/ctpilot exist: it
# never touches an installation it did not make. Needs root, dpkg-buildpackage, debhelper,
# systemd-analyze, man. Exit 77 = skipped.
set -u
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for tool in dpkg dpkg-buildpackage dh systemd-analyze man lintian; do
  command -v "$tool" >/dev/null || skip "$tool not installed (bash scripts/deps.sh)"
done
: "${CTPILOT:?set CTPILOT to the built ctpilot}" "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR}"
build_dir=$(dirname "$CTPILOT")

exec 9>/tmp/ctpilot-package.lock
flock -w 300 9 || skip "another package test holds /tmp/ctpilot-package.lock"
if dpkg-query -W -f='${db:Status-Status}' ctpilot 2>/dev/null | grep -qv '^not-installed$'; then
  skip "a ctpilot package is installed on this machine already; this test does not touch it"
fi
for path in /etc/ctpilot /var/lib/ctpilot; do
  [ -e "$path" ] && skip "$path exists; purging the test package would remove it"
done

tmp=$(mktemp -d)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
installed=false
# dpkg waits for no lock; another apt/dpkg run on the machine makes it fail at once: retry.
dpkg_retry() {
  local _
  for _ in $(seq 60); do
    dpkg "$@" >"$tmp/dpkg.log" 2>&1 && return 0
    grep -q 'lock' "$tmp/dpkg.log" || { cat "$tmp/dpkg.log"; return 1; }
    sleep 2
  done
  cat "$tmp/dpkg.log"
  return 1
}
cleanup() {
  if $installed || dpkg-query -W -f='${db:Status-Status}' ctpilot 2>/dev/null | grep -qv '^not-installed$'; then
    dpkg_retry --purge ctpilot || echo "FAIL: cleanup: dpkg --purge ctpilot failed; remove it by hand"
  fi
  # Neither existed when the test started (checked above): whatever is there now is the test's.
  rm -rf "$tmp" /etc/ctpilot /var/lib/ctpilot
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Build (from the tree ctest built) and lint.
deb=$(BUILD_DIR="$build_dir" OUT_DIR="$tmp/deb" bash "$CTPILOT_SOURCE_DIR/scripts/package.sh" --no-build 2>"$tmp/package.log" | tail -1)
[ -f "$deb" ] || { cat "$tmp/package.log"; fail "scripts/package.sh printed '$deb', not a .deb"; exit "$failures"; }
ls "$tmp"/deb/ctpilot-dbgsym_*.deb >/dev/null 2>&1 || fail "no ctpilot-dbgsym package next to $deb"
lintian -I "$tmp"/deb/*.deb >"$tmp/lintian" 2>&1
grep '^E: ' "$tmp/lintian" && fail "lintian reports errors"
grep '^W: ' "$tmp/lintian" && fail "lintian reports warnings (fix or explain them in the overrides)"
# The copyright file is machine-readable and names the project's license (README "License").
grep -i 'copyright' "$tmp/lintian" && fail "lintian reports on the copyright file"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/ctpilot/copyright | grep -q '^License: Apache-2.0$' ||
  fail "/usr/share/doc/ctpilot/copyright does not name Apache-2.0"
dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }' | grep -v '/$' >"$tmp/files"

# 2. Install.
dpkg_retry -i "$deb" || { fail "dpkg -i $deb failed"; exit "$failures"; }
installed=true
[ -x /usr/sbin/ctpilot ] || fail "/usr/sbin/ctpilot missing"
if readelf -S /usr/sbin/ctpilot | grep -q '\.debug_info'; then fail "/usr/sbin/ctpilot is not stripped"; fi
# Debian's hardening (dpkg-buildflags): PIE, relro, bind now, stack protector, FORTIFY.
readelf -h /usr/sbin/ctpilot | grep -q 'Type:.*DYN' || fail "/usr/sbin/ctpilot is not PIE"
readelf -l --wide /usr/sbin/ctpilot | grep -q 'GNU_RELRO' || fail "/usr/sbin/ctpilot has no RELRO"
readelf -d /usr/sbin/ctpilot | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || fail "/usr/sbin/ctpilot is not linked with -z now"
readelf --dyn-syms --wide /usr/sbin/ctpilot | grep -q '__stack_chk_fail' || fail "/usr/sbin/ctpilot has no stack protector"
readelf --dyn-syms --wide /usr/sbin/ctpilot | grep -Eq ' __[a-z_]+_chk(@|$)' || fail "/usr/sbin/ctpilot has no FORTIFY functions"
grep -q 'hardening-no-' "$tmp/lintian" && fail "lintian: $(grep 'hardening-no-' "$tmp/lintian")"
for f in /lib/systemd/system/ctpilot.service /etc/ctpilot/policy.conf /usr/share/doc/ctpilot/README.md \
  /usr/share/doc/ctpilot/changelog.gz /usr/share/doc/ctpilot/copyright /usr/share/bash-completion/completions/ctpilot \
  /usr/share/ctpilot/policies/isp-nat-gateway.conf /usr/share/ctpilot/scenarios/flash-crowd.scenario; do
  [ -f "$f" ] || fail "$f not installed"
done
dpkg-query -W -f='${Conffiles}\n' ctpilot | grep -q '^ /etc/ctpilot/policy.conf ' || fail "/etc/ctpilot/policy.conf is not a conffile"
# Every Documentation= of the unit is installed.
for doc in $(sed -n 's/^Documentation=//p' /lib/systemd/system/ctpilot.service); do
  case $doc in
    file:*) [ -f "${doc#file:}" ] || fail "unit Documentation=$doc: not installed" ;;
    man:*) page=${doc#man:}; man -w "${page%%(*}" >/dev/null 2>&1 || fail "unit Documentation=$doc: no such man page" ;;
  esac
done
systemd-analyze verify /lib/systemd/system/ctpilot.service >"$tmp/verify" 2>&1 || { cat "$tmp/verify"; fail "systemd-analyze verify failed"; }
[ "$(/usr/sbin/ctpilot --version)" = "$("$CTPILOT" --version)" ] || fail "installed --version '$(/usr/sbin/ctpilot --version)' differs from the build's"
for page in /usr/share/man/man8/ctpilot.8.gz /usr/share/man/man5/ctpilot.conf.5.gz; do
  MANWIDTH=80 man --warnings -l "$page" >"$tmp/page" 2>"$tmp/page.err" || fail "man -l $page: exit $?"
  [ -s "$tmp/page.err" ] && fail "man -l $page warns: $(head -3 "$tmp/page.err")"
  grep -q 'ctpilot' "$tmp/page" || fail "man -l $page: empty page"
done
timeout 30 /usr/sbin/ctpilot plan >"$tmp/plan" 2>&1 || { cat "$tmp/plan"; fail "/usr/sbin/ctpilot plan: exit $?"; }
grep -q '^policy: /etc/ctpilot/policy.conf' "$tmp/plan" || fail "plan did not read /etc/ctpilot/policy.conf: $(head -2 "$tmp/plan")"
[ -e /var/lib/ctpilot ] && fail "plan created /var/lib/ctpilot (it writes nothing)"
/usr/sbin/ctpilot simulate --scenario steady-growth >/dev/null 2>&1 || fail "simulate --scenario steady-growth (installed scenarios) failed"
CTPILOT=/usr/sbin/ctpilot COMPLETION=/usr/share/bash-completion/completions/ctpilot \
  bash "$CTPILOT_SOURCE_DIR/tests/cli/completion_test.sh" >"$tmp/completion" 2>&1 || { cat "$tmp/completion"; fail "installed bash completion"; }
# The shipped policy is dry-run: the unit is enabled (started too where systemd runs).
[ -L /etc/systemd/system/multi-user.target.wants/ctpilot.service ] || fail "dry-run policy: ctpilot.service not enabled"

# 3. Purge: nothing remains, also not the state directory the unit's StateDirectory= makes.
mkdir -m 0750 /var/lib/ctpilot && echo '{}' >/var/lib/ctpilot/journal.jsonl
dpkg_retry --purge ctpilot || fail "dpkg --purge ctpilot failed"
installed=false
check_gone() {
  dpkg-query -W -f='${db:Status-Status}' ctpilot 2>/dev/null | grep -qv '^not-installed$' && fail "$1: dpkg still knows ctpilot"
  while read -r f; do [ -e "/$f" ] && fail "$1: /$f remains"; done <"$tmp/files"
  for f in /etc/ctpilot /var/lib/ctpilot /etc/systemd/system/multi-user.target.wants/ctpilot.service \
    /var/lib/systemd/deb-systemd-helper-enabled/ctpilot.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/ctpilot.service \
    /var/lib/systemd/deb-systemd-helper-masked/ctpilot.service; do
    [ -e "$f" ] || [ -L "$f" ] && fail "$1: $f remains"
  done
  if [ -d /run/systemd/system ] && systemctl is-active --quiet ctpilot.service; then fail "$1: ctpilot.service still running"; fi
}
check_gone "after purge"

# 4. A policy that acts (dry_run = false) kept from before: the package does not enable the unit.
mkdir /etc/ctpilot && printf '[controller]\ndry_run = false\n' >/etc/ctpilot/policy.conf
dpkg_retry -i --force-confold "$deb" || fail "dpkg -i over an acting policy failed"
installed=true
grep -q 'dry_run = false' /etc/ctpilot/policy.conf || fail "the administrator's policy was replaced"
[ -e /etc/systemd/system/multi-user.target.wants/ctpilot.service ] && fail "acting policy: ctpilot.service was enabled"
grep -q 'does not enable ctpilot.service' "$tmp/dpkg.log" || fail "acting policy: postinst did not say why the unit stays disabled"
dpkg_retry --purge ctpilot || fail "dpkg --purge ctpilot (acting policy) failed"
installed=false
check_gone "after the second purge"

exit "$failures"
