#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package of ctpilot and prints the path of the .deb (the last line on stdout;
# everything else goes to stderr). With debhelper, from the CMake build tree: nothing is compiled
# twice. The debian/ directory is assembled in a temporary directory from scripts/debian/, the
# unit examples/systemd/ctpilot.service and the policy examples/policies/dry-run.conf.
#
#   bash scripts/package.sh              install the missing Build-Depends, build ./build, package
#   bash scripts/package.sh --no-build   package the build tree as it is (tests: already built)
#   bash scripts/package.sh --build-deps print the Build-Depends (debian/control), one a line
#
# Only the Build-Depends of scripts/debian/control are installed (as root, those missing), not
# the test tools of scripts/deps.sh. The build uses dpkg-buildflags' hardening flags (the
# top-level CMakeLists.txt reads them), as a Debian package build does.
#
# BUILD_DIR (default: build) selects the build tree, OUT_DIR (default: BUILD_DIR/deb) where the
# packages go: ctpilot_VERSION_ARCH.deb and ctpilot-dbgsym_VERSION_ARCH.deb (debug symbols).
# DEBFULLNAME and DEBEMAIL name the maintainer. The build date in `ctpilot --version` is the
# last commit's (SOURCE_DATE_EPOCH), so two builds of one commit give the same package.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$(pwd)
build=$(realpath -m "${BUILD_DIR:-build}")
out=$(realpath -m "${OUT_DIR:-$build/deb}")
no_build=false
[[ ${1:-} == --no-build ]] && no_build=true

# The Build-Depends field of scripts/debian/control, package names only.
build_deps() {
  awk '/^Build-Depends:/ { f = 1; sub(/^Build-Depends:/, ""); print; next } f && /^[ \t]/ { print; next } { f = 0 }' \
    scripts/debian/control | tr ',' '\n' | sed 's/(.*)//; s/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$'
}
if [[ ${1:-} == --build-deps ]]; then
  build_deps
  exit 0
fi
# Installs the Build-Depends that are missing (debhelper-compat comes with debhelper).
install_build_deps() {
  local p missing=()
  while read -r p; do
    [[ $p == debhelper-compat ]] && p=debhelper
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done < <(build_deps)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "package.sh: missing Build-Depends ${missing[*]}; run as root (sudo) to install them" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

if ! $no_build; then
  install_build_deps
  [[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build "$build" -j "$(nproc)" --target ctpilot ctpilot_man >&2
fi
for f in ctpilot man/ctpilot.8 man/ctpilot.conf.5; do
  [[ -s $build/$f ]] || { echo "package.sh: $build/$f missing; build first (bash scripts/package.sh without --no-build)" >&2; exit 1; }
done
for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing; install the Build-Depends (bash scripts/package.sh as root)" >&2; exit 1; }
done

# Debian version: VERSION+gitDATE.REVISION-1 from the binary itself (so the package says what
# it carries), or VERSION-1 outside git.
read -r upstream revision < <("$build/ctpilot" --version | sed -n 's/^ctpilot \([^ ]*\) (revision \([^,]*\), built .*/\1 \2/p')
[[ -n $upstream ]] || { echo "package.sh: cannot read the version from $build/ctpilot --version" >&2; exit 1; }
if [[ $revision == unknown ]]; then
  version="$upstream-1"
else
  version="$upstream+git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).${revision//-/.}-1"
fi
maintainer="${DEBFULLNAME:-ctpilot maintainers} <${DEBEMAIL:-maintainers@ctpilot.invalid}>"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/ctpilot-$upstream
mkdir -p "$pkg/debian"
cp scripts/debian/* "$pkg/debian/"
sed -i "s|@MAINTAINER@|$maintainer|" "$pkg/debian/control"
cp examples/systemd/ctpilot.service "$pkg/debian/ctpilot.service"
cp README.md CHANGELOG.md "$pkg/"
cat >"$pkg/debian/changelog" <<EOF
ctpilot ($version) unstable; urgency=medium

  * Built by scripts/package.sh from revision
    $revision.
  * The changes are listed in /usr/share/doc/ctpilot/changelog.gz.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF

(cd "$pkg" && CTPILOT_BUILD_DIR="$build" CTPILOT_SOURCE_DIR="$source_dir" \
  dpkg-buildpackage -b -us -uc -d --no-check-builddeps >"$work/build.log" 2>&1) || {
  cat "$work/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed (log above)" >&2
  exit 1
}
mkdir -p "$out"
rm -f "$out"/ctpilot_*.deb "$out"/ctpilot-dbgsym_*.deb
mv "$work"/*.deb "$out/"
deb=$(ls "$out"/ctpilot_"${version#*:}"_*.deb)
echo "package.sh: built" "$out"/*.deb >&2
echo "$deb"
