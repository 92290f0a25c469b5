#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds ctpilot and its tests with ASan+UBSan (gcc, -O1, stop at the first report) in
# ./build-asan and runs the unit and command-line tests there (`ctest -L 'unit|cli'`): the
# real-kernel, package and Ansible tests change the machine and run from scripts/test.sh only.
# Extra arguments go to ctest (e.g. -R journal).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -g1: line tables only, enough for every frame of a report to name its function and FILE:LINE;
# the full -g cost about a fifth more compile time per translation unit for variable and type
# information no report prints. The instrumentation is the same.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCTPILOT_SANITIZE=ON -DCTPILOT_WERROR=ON \
  "${launcher[@]}" >/dev/null
# Only what the unit and cli tests use: the three unit-test binaries, ctpilot and its man pages.
cmake --build build-asan -j "$(nproc)" --target ctpilot ctpilot_man policy_tests sysfs_tests controller_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L '^(unit|cli)$' "$@"
