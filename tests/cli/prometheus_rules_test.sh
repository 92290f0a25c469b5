#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/prometheus/ctpilot-rules.yml: `promtool check rules` accepts it and `promtool test
# rules` fires each alert on the series of tests/prometheus/ctpilot-rules.test.yml (README
# "Monitoring").
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
command -v promtool >/dev/null || { echo "SKIP: promtool not installed (Debian package prometheus)"; exit 77; }
rules=$CTPILOT_SOURCE_DIR/examples/prometheus/ctpilot-rules.yml
promtool check rules "$rules" || fail "promtool check rules rejects $rules"
# promtool resolves rule_files relative to the test file: copy both side by side.
cp "$rules" "$tmp/ctpilot-rules.yml"
cp "$CTPILOT_SOURCE_DIR/tests/prometheus/ctpilot-rules.test.yml" "$tmp/"
(cd "$tmp" && promtool test rules ctpilot-rules.test.yml) || fail "promtool test rules failed"
exit "$failures"
