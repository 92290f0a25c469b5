#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/grafana/ctpilot-fleet.json is importable as is and its PromQL is valid: every
# expression of its panels and annotations, and of the README's ```promql blocks, passes
# `promtool check rules` (each one a recording rule, Grafana's $variables replaced by values);
# every ctpilot_* metric they name is one ctpilot exports (README "Monitoring" table); every
# panel has a unique id, a place on the grid and the ${datasource} variable, so nothing in it is
# tied to one Grafana. Skipped without promtool.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
for tool in promtool python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool (scripts/deps.sh)"; exit 77; }
done

python3 - "$CTPILOT_SOURCE_DIR/examples/grafana/ctpilot-fleet.json" "$CTPILOT_SOURCE_DIR/README.md" "$tmp/rules.yml" <<'EOF' || fail "dashboard structure: see above"
import json, re, sys
dashboard_path, readme_path, rules_path = sys.argv[1:]
d = json.load(open(dashboard_path))
problems = []
assert d.get("id") is None, "id must be null for an import"
assert d.get("uid") and d.get("title"), "uid and title"
variables = {v["name"]: v for v in d["templating"]["list"]}
assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
exprs = []
ids = set()
for p in d["panels"]:
    where = f'panel {p.get("id")} "{p.get("title")}"'
    if p["id"] in ids: problems.append(f"{where}: id repeated")
    ids.add(p["id"])
    if set(p["gridPos"]) != {"x", "y", "w", "h"}: problems.append(f"{where}: gridPos")
    if p["datasource"] != {"type": "prometheus", "uid": "${datasource}"}: problems.append(f"{where}: datasource not ${{datasource}}")
    if not p["targets"]: problems.append(f"{where}: no query")
    for t in p["targets"]:
        exprs.append((where, t["expr"]))
for a in d["annotations"]["list"]:
    exprs.append((f'annotation "{a["name"]}"', a["expr"]))
instance_query = variables["instance"]["query"]["query"]
m = re.fullmatch(r"label_values\((\w+), instance\)", instance_query)
assert m, instance_query
exprs.append(("variable instance", m.group(1)))
# The README's PromQL blocks: each line that is not a comment is an expression.
readme = open(readme_path).read()
for block in re.findall(r"```promql\n(.*?)```", readme, re.S):
    for line in block.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            exprs.append(("README", line.strip()))
# ctpilot's metrics, from the README's table (its first column).
exported = set()
for row in re.findall(r"^\| (`ctpilot_[^|]*)\|", readme, re.M):
    for name in re.findall(r"`(ctpilot_[a-z_]+|\.\.\._[a-z_]+)`", row):
        exported.add(name)
# `ctpilot_conntrack_drop_total`, `..._early_drop_total`: expand the shorthand.
exported |= {"ctpilot_conntrack" + n[3:] for n in exported if n.startswith("...")}
for where, expr in exprs:
    for name in re.findall(r"\bctpilot_[a-z_]+", expr):
        if name not in exported: problems.append(f"{where}: {name} is not a metric ctpilot exports")
substitutions = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$instance": ".*"}
with open(rules_path, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, expr) in enumerate(exprs):
        for k, v in substitutions.items(): expr = expr.replace(k, v)
        if "$" in expr: problems.append(f"{where}: unknown variable in {expr}")
        f.write(f"      - record: check:expr_{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(exprs)} expressions from {len(d['panels'])} panels, {len(d['annotations']['list'])} annotations and the README")
for p in problems: print("FAIL:", p)
sys.exit(1 if problems else 0)
EOF
promtool check rules "$tmp/rules.yml" >"$tmp/promtool.out" 2>&1 || fail "promtool check rules: $(cat "$tmp/promtool.out")"

# The checks can fail: a broken expression is caught.
printf 'groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: "sum by (instance (ctpilot_conntrack_max)"\n' >"$tmp/bad.yml"
promtool check rules "$tmp/bad.yml" >/dev/null 2>&1 && fail "promtool accepted a broken expression"

exit "$failures"
