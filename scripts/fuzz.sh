#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan+UBSan) in ./build-fuzz and runs each
# for SECONDS (default 300) from its seed corpus in tests/fuzz/corpus/<target>/. CI runs
# `scripts/fuzz.sh 25`. New inputs go to build-fuzz/corpus/<target>/ (the committed corpus is
# only read); a crash stops the run, leaves its input in build-fuzz/artifacts/ and exits 1.
# Replay one: build-fuzz/tests/fuzz/fuzz_<target> build-fuzz/artifacts/<target>/crash-...
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: every target, one per tests/fuzz/*_fuzz.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  for source in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" _fuzz.cpp)"); done
fi

bash scripts/deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTPILOT_FUZZ=ON -DCTPILOT_WERROR=ON -DBUILD_TESTING=OFF \
  "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target" "build-fuzz/artifacts/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! build-fuzz/tests/fuzz/"fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target/" \
    "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" >"build-fuzz/$target.log" 2>&1; then
    echo "fuzz: $target FAILED; its report ends:" >&2
    tail -n 40 "build-fuzz/$target.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "build-fuzz/$target.log" | tr '\n' ' '
    echo
  fi
done
exit "$status"
