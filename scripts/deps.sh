#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages ctpilot needs to build and test, only those missing.
# Safe to run twice. Needs root (apt-get).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost-dev libboost-program-options-dev
  # simulate --prometheus: https through Boost.Asio ssl (HTTP itself is Boost.Beast, in libboost-dev)
  libssl-dev
  libnl-3-dev libnl-nf-3-dev
  libfmt-dev libspdlog-dev doctest-dev nlohmann-json3-dev
  # metrics (families and text format) and systemd notify/journal
  prometheus-cpp-dev libsystemd-dev
  # monitoring tests: promtool (check metrics/rules), node_exporter's textfile collector,
  # systemd-analyze verify on the unit
  prometheus prometheus-node-exporter systemd
  # real-kernel tests and benchmarks
  iproute2 nftables conntrack procps util-linux kmod bc mawk python3
  # crash injection (tests/cli/crash_injection_test.sh)
  strace
  # benchmarks and simulate --trace (plots)
  gnuplot-nox
  # fuzz targets (scripts/fuzz.sh): clang and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
  # scripts/lint.sh: the format check and clang-tidy
  clang-format clang-tidy
  # the Prometheus import test (a real node_exporter scraped by a real Prometheus, above) queries with curl
  curl
  # the Debian package (scripts/package.sh) and its test: build, lint, man pages, completion,
  # systemd-analyze verify (systemd, above)
  debhelper dpkg-dev lintian man-db bash-completion
  # the Ansible role's test (examples/ansible)
  ansible-core
  # the OCI image (scripts/image.sh) and its test with the Kubernetes manifest (tests/container)
  podman runc mmdebstrap python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing ${missing[*]}; run as root (sudo) to install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
