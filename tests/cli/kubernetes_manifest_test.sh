#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/kubernetes/ without a cluster or podman: the ConfigMap's policy passes check-policy
# with the settings README "On Kubernetes nodes" promises (netns = all, dry run, on_external =
# adopt, metrics on the port the probe and the scrape annotation name); the pod template, as
# tests/container/pod_to_podman.py translates it for the podman test, is what the README's
# permission table says (host network and PID, root with CAP_SYS_ADMIN only, not privileged,
# no-new-privileges, read-only root, the /host/proc, /run/netns and journal mounts, --root
# /host; the init container non-root with no capability); the translator refuses a field it
# does not know; the kustomization names the manifest's files and image. Exit 77 without
# python3-yaml.
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR}"
dir=$CTPILOT_SOURCE_DIR/examples/kubernetes
translate=$CTPILOT_SOURCE_DIR/tests/container/pod_to_podman.py
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: needs python3-yaml"; exit 77; }

# pod ARGS...: the translation of the shipped manifest, the host paths kept inside $tmp.
pod() {
  python3 "$translate" --manifest "$dir/daemonset.yaml" --configmap "$dir/configmap.yaml" \
    --image IMAGE --configmap-dir "$tmp/cm" --host-path "/var/lib/ctpilot=$tmp/state" \
    --host-path "/run/netns=$tmp/netns" --host-path "/proc=$tmp/proc" "$@"
}
mkdir -p "$tmp/proc"

# The policy.
pod --container check-policy >"$tmp/init.args" || fail "the init container does not translate"
policy=$tmp/cm/ctpilot-policy/policy.conf
"$CTPILOT" check-policy "$policy" >"$tmp/effective" 2>&1 || fail "check-policy refuses the ConfigMap's policy: $(cat "$tmp/effective")"
for line in 'netns = all' 'dry_run = true' 'on_external = adopt' 'listen = 0.0.0.0:9641'; do
  grep -qx "$line" "$tmp/effective" || fail "the ConfigMap's policy does not say '$line'"
done
probe=$(pod --container ctpilot --probe) || fail "no readiness probe"
[ "$probe" = "/metrics 9641" ] || fail "readiness probe '$probe', not /metrics on the policy's port 9641"
grep -q 'prometheus.io/port: "9641"' "$dir/daemonset.yaml" || fail "scrape annotation does not name port 9641"

# The daemon's container.
pod --container ctpilot >"$tmp/run.args" || fail "the daemon's container does not translate"
args=$(tr '\n' ' ' <"$tmp/run.args")
for want in '--network host' '--pid host' '--user 0' '--cap-drop ALL' '--cap-add SYS_ADMIN' \
  '--security-opt no-new-privileges' '--read-only' "--volume $tmp/proc:/host/proc " \
  "--volume $tmp/netns:/host/run/netns:ro,rslave" "--volume $tmp/state:/var/lib/ctpilot " \
  "--volume $tmp/cm/ctpilot-policy:/etc/ctpilot:ro" 'IMAGE --root /host run '; do
  case " $args" in *" $want"*) ;; *) fail "daemon container: no '$want' in: $args" ;; esac
done
[ "$(grep -c '^--cap-add$' "$tmp/run.args")" = 1 ] || fail "daemon container: more than one capability added: $args"
grep -qx -- '--privileged' "$tmp/run.args" && fail "daemon container is privileged"
pod --container ctpilot --command "rollback --all" | tail -4 | tr '\n' ' ' | grep -q -- '--root /host rollback --all' ||
  fail "--command does not replace the last arg"

# The init container: non-root, nothing added.
init=$(tr '\n' ' ' <"$tmp/init.args")
case " $init" in *" --user 65532:65532 "*" --cap-drop ALL "*) ;; *) fail "init container not uid 65532 without capabilities: $init" ;; esac
grep -qx -- '--cap-add' "$tmp/init.args" && fail "init container adds a capability: $init"

# A field the translator does not know is refused, not dropped.
sed 's/^      hostPID: true/      hostPID: true\n      hostIPC: true/' "$dir/daemonset.yaml" >"$tmp/ipc.yaml"
grep -q 'hostIPC' "$tmp/ipc.yaml" || fail "test setup: hostIPC not inserted"
python3 "$translate" --manifest "$tmp/ipc.yaml" --configmap "$dir/configmap.yaml" --container ctpilot \
  --image IMAGE --configmap-dir "$tmp/cm2" >"$tmp/ipc.out" 2>&1 && fail "hostIPC was not refused"
grep -q 'hostIPC not translated' "$tmp/ipc.out" || fail "refusal does not name hostIPC: $(cat "$tmp/ipc.out")"

# The kustomization deploys both files and replaces the manifest's image.
python3 - "$dir" <<'EOF' || fail "kustomization.yaml does not match the manifest"
import sys, yaml
d = sys.argv[1]
k = yaml.safe_load(open(f"{d}/kustomization.yaml"))
assert k["resources"] == ["configmap.yaml", "daemonset.yaml"], k["resources"]
ds = yaml.safe_load(open(f"{d}/daemonset.yaml"))
spec = ds["spec"]["template"]["spec"]
images = {c["image"].rsplit(":", 1)[0] for c in spec["containers"] + spec["initContainers"]}
assert images == {k["images"][0]["name"]}, images
EOF

exit "$failures"
