#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Policy-quality benchmark on the simulated kernel: builds ctpilot-bench-policies, runs every
# scenario in examples/scenarios/ under ctpilot with the built-in defaults and each policy in
# examples/policies/ and under the alternatives (kernel default, kube-proxy's one-shot setting,
# a +25% threshold rule, a static setting at the memory budget), and writes:
#   bench/results/policy-quality.md      the table (markdown)
#   bench/results/csv/*.csv              time, count, max, buckets, drops, timeouts per step
#   bench/results/flash-crowd.png        fill and max over time in the flash crowd, per contender
# Deterministic: the scenarios carry their seeds, so a rerun gives the same table.
# BUILD_DIR (default: build) selects the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
out=bench/results

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target ctpilot-bench-policies >/dev/null
mkdir -p "$out/csv"
"$build/tests/bench/ctpilot-bench-policies" --out "$out"

command -v gnuplot >/dev/null || { echo "bench.sh: gnuplot not installed (apt-get install gnuplot-nox); skipping plots" >&2; exit 0; }

# One panel per contender, all on the same scales: entries and nf_conntrack_max (left axis),
# cumulative drops (right axis).
plot_scenario() {
  local scenario=$1 files=()
  for f in "$out/csv/$scenario--"*.csv; do files+=("$f"); done
  local n=${#files[@]} cols=2 rows ymax y2max
  rows=$(( (n + cols - 1) / cols ))
  # The static setting's max (millions) would flatten every panel: its count sets the scale, its max is drawn off it.
  ymax=$(awk -F, 'FNR > 1 && $2 == "init" { if ($3 > m) m = $3; if ($4 > m && FILENAME !~ /static-at-budget/) m = $4 } END { print m / 1000 * 1.08 }' "${files[@]}")
  y2max=$(awk -F, 'FNR > 1 && $2 == "init" { if ($6 > m) m = $6 } END { print (m > 0 ? m / 1000 * 1.08 : 1) }' "${files[@]}")
  {
    echo "set terminal pngcairo noenhanced size 1400,$((rows * 340 + 40)) font 'DejaVu Sans,10'"
    echo "set output '$out/$scenario.png'"
    echo "set datafile separator ','"
    echo "set key top right opaque box"
    echo "set xlabel 'minutes'"
    echo "set ylabel 'entries (thousands)'"
    echo "set y2label 'drops (thousands, cumulative)'"
    echo "set yrange [0:$ymax]"
    echo "set y2range [0:$y2max]"
    echo "set ytics nomirror"
    echo "set y2tics"
    echo "set grid"
    echo "set multiplot layout $rows,$cols title '$scenario: nf_conntrack_count, nf_conntrack_max and drops under each contender (bench/results/csv)'"
    for f in "${files[@]}"; do
      local name
      name=$(basename "$f" .csv)
      name=${name#"$scenario--"}
      local title=$name
      [[ "$name" == static-at-budget ]] && title="$name (max $(awk -F, 'FNR == 2 { printf "%.2fM", $4 / 1e6 }' "$f"): off the scale)"
      echo "set title '$title'"
      echo "plot '$f' every ::1 using (\$1/60):(strcol(2) eq 'init' ? \$3/1000 : NaN) with lines lw 2 lc rgb '#1f77b4' title 'count', \\"
      echo "     '' every ::1 using (\$1/60):(strcol(2) eq 'init' ? \$4/1000 : NaN) with lines lw 2 dt 2 lc rgb '#2ca02c' title 'max', \\"
      echo "     '' every ::1 using (\$1/60):(strcol(2) eq 'init' ? \$6/1000 : NaN) axes x1y2 with lines lw 2 lc rgb '#d62728' title 'drops'"
    done
    echo "unset multiplot"
  } | gnuplot
  echo "wrote $out/$scenario.png"
}

plot_scenario flash-crowd
plot_scenario churn-storm
