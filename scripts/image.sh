#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds ctpilot's OCI image from the project's own Debian package and prints the image
# reference, localhost/ctpilot:TAG (the last line on stdout; everything else goes to stderr).
#
#   bash scripts/image.sh              build the .deb (bash scripts/package.sh), then the image
#   bash scripts/image.sh FILE.deb     the image of that package (tests: from their build tree)
#
# No base image is pulled (no registry needed): two layers are made here.
#  1. localhost/ctpilot-base:KEY, the runtime libraries. The packages the .deb Depends on are
#     unpacked from Debian 12 by `mmdebstrap --variant=extract` (no maintainer scripts, no
#     dpkg, no apt, no shell), and only what /usr/sbin/ctpilot loads is kept: the ELF closure
#     its dynamic loader lists, plus each package's copyright file. KEY hashes the Depends line
#     and the binary's NEEDED list, so this layer is cached and rebuilt only when either changes
#     (CTPILOT_IMAGE_REFRESH=1 rebuilds it, e.g. to pick up Debian security updates).
#  2. the package itself, unpacked with dpkg-deb -x, less what a container has no use for (the
#     systemd unit, man pages, bash completion). An image of an identical .deb (its SHA-256 is
#     the label io.ctpilot.deb.sha256) is reused.
# It is also tagged localhost/ctpilot:latest, the name examples/kubernetes/ uses.
# The image runs /usr/sbin/ctpilot (ENTRYPOINT) as root: README "On Kubernetes nodes" says which
# capabilities it needs and why it is not a non-root user. TAG is the package version with '+'
# and '~' as '_'.
#
# Podman: CONTAINERS_CONF defaults to scripts/containers.conf (runc, no default ulimits), which
# works on machines where crun refuses the cgroup layout. Needs root (mmdebstrap in root mode,
# chroot), mmdebstrap, podman, runc: bash scripts/deps.sh installs them.
set -euo pipefail
given=${1:+$(realpath -m "$1")}   # before the cd: a path relative to the caller
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(pwd)/scripts/containers.conf}
log() { echo "image.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap --mode=root, chroot, podman's root storage)"
for tool in mmdebstrap podman runc dpkg-deb readelf sha256sum; do
  command -v "$tool" >/dev/null || die "$tool missing; run bash scripts/deps.sh as root"
done

if [[ -n $given ]]; then
  deb=$given
else
  deb=$(bash scripts/package.sh | tail -1)
fi
[[ -f $deb ]] || die "no such package: $deb"
deb_sha=$(sha256sum "$deb" | cut -d' ' -f1)
version=$(dpkg-deb -f "$deb" Version)
ref="localhost/ctpilot:${version//[+~:]/_}"

if podman image exists "$ref" &&
   [[ $(podman image inspect --format '{{ index .Labels "io.ctpilot.deb.sha256" }}' "$ref") == "$deb_sha" ]]; then
  log "$ref is already the image of $deb"
  podman tag "$ref" localhost/ctpilot:latest
  echo "$ref"
  exit 0
fi

work=$(mktemp -d /tmp/ctpilot-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/pkg"
needed=$(readelf -d "$work/pkg/usr/sbin/ctpilot" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
# "libc6 (>= 2.34), libfmt9 (>= 9.1.0+ds1), a | b" -> "libc6 libfmt9 a": names, first alternative.
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' | sort -u | tr '\n' ' ')
[[ -n $depends ]] || die "$deb declares no Depends; cannot tell its runtime libraries"
key=$(printf 'bookworm\n%s\n%s\n' "$depends" "$needed" | sha256sum | cut -c1-16)
base="localhost/ctpilot-base:$key"

# Copies PATH (absolute, inside the tree FROM) to the tree TO, with every symlink on the way and
# the file it finally names (absolute link targets are read inside FROM).
copy_resolved() {
  local from=$1 to=$2 path=$3 hops=0 target
  while ((hops++ < 16)); do
    mkdir -p "$to$(dirname "$path")"
    cp -a "$from$path" "$to$path"
    [[ -L $from$path ]] || return 0
    target=$(readlink "$from$path")
    [[ $target == /* ]] || target=$(dirname "$path")/$target
    path=$(realpath -m -s "$target")
  done
  die "too many symlinks from $3"
}

if [[ ${CTPILOT_IMAGE_REFRESH:-0} == 1 ]] || ! podman image exists "$base"; then
  log "building $base: the runtime libraries of $depends"
  started=$(date +%s)
  # Extract only: no package is configured, so nothing runs inside the tree. mmdebstrap resolves
  # the dependencies of each package with apt, like an install would.
  mmdebstrap --quiet --variant=extract --mode=root --include="${depends// /,}" bookworm "$work/extract" >&2 ||
    die "mmdebstrap failed (log above)"
  mkdir -p "$work/extract/usr/sbin" "$work/base"
  cp "$work/pkg/usr/sbin/ctpilot" "$work/extract/usr/sbin/ctpilot"
  # The loader of the tree lists what the binary loads from the tree (ELF closure, no running).
  interp=$(readelf -l "$work/pkg/usr/sbin/ctpilot" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  closure=$(chroot "$work/extract" "$interp" --list /usr/sbin/ctpilot) ||
    die "the extracted libraries do not satisfy /usr/sbin/ctpilot: $closure"
  if grep -q 'not found' <<<"$closure"; then die "missing libraries: $(grep 'not found' <<<"$closure")"; fi
  copy_resolved "$work/extract" "$work/base" "$interp"
  while read -r lib; do
    copy_resolved "$work/extract" "$work/base" "$lib"
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$closure")
  # The licences of what the image carries.
  for copyright in "$work"/extract/usr/share/doc/*/copyright; do
    copy_resolved "$work/extract" "$work/base" "${copyright#"$work/extract"}"
  done
  mkdir -m 1777 "$work/base/tmp"
  tar -C "$work/base" --numeric-owner --sort=name -cf "$work/base.tar" .
  podman import --quiet --message "ctpilot runtime libraries: $depends" "$work/base.tar" "$base" >/dev/null
  log "built $base in $(( $(date +%s) - started )) s ($(du -sh "$work/base" | cut -f1) unpacked)"
fi

# The package, as a container uses it.
rm -rf "$work/pkg/lib/systemd" "$work/pkg/usr/share/man" "$work/pkg/usr/share/bash-completion"
mkdir -p "$work/context"
mv "$work/pkg" "$work/context/pkg"
cat >"$work/context/Containerfile" <<EOF
FROM $base
COPY pkg/ /
ENTRYPOINT ["/usr/sbin/ctpilot"]
CMD ["run"]
LABEL org.opencontainers.image.title="ctpilot" \\
      org.opencontainers.image.description="keeps the Linux conntrack table from overflowing" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.licenses="Apache-2.0" \\
      io.ctpilot.deb.sha256="$deb_sha"
EOF
podman build --quiet --tag "$ref" --tag localhost/ctpilot:latest "$work/context" >/dev/null
# The image these tags named before (an older build of the same version) is left untagged: drop it.
podman image prune --force --filter label=io.ctpilot.deb.sha256 >/dev/null || true
log "built $ref from $deb ($(podman image inspect --format '{{.Size}}' "$ref") bytes)"
echo "$ref"
