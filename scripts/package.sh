#!/usr/bin/env bash
# Builds the Debian package of ctpilot and prints the path of the .deb (the last line on stdout;
# everything else goes to stderr). With debhelper, from the CMake build tree: nothing is compiled
# twice. The debian/ directory is assembled in a temporary directory from scripts/debian/, the
# unit examples/systemd/ctpilot.service and the policy examples/policies/dry-run.conf.
#
#   bash scripts/package.sh              install what is missing, build ./build, package
#   bash scripts/package.sh --no-build   package the build tree as it is (tests: already built)
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

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

if ! $no_build; then
  bash scripts/deps.sh >&2
  [[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
  cmake --build "$build" -j "$(nproc)" --target ctpilot ctpilot_man >&2
fi
for f in ctpilot man/ctpilot.8 man/ctpilot.conf.5; do
  [[ -s $build/$f ]] || { echo "package.sh: $build/$f missing; build first (bash scripts/package.sh without --no-build)" >&2; exit 1; }
done
for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool missing; run bash scripts/deps.sh as root" >&2; exit 1; }
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
