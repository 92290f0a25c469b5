#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes DaemonSet (examples/kubernetes/) run with podman against the live kernel.
# Builds the .deb from this build tree and the image from it (scripts/image.sh; cached), then
# runs the pod template's containers as pod_to_podman.py translates them from the manifest
# (host network and PID namespaces, capabilities, mounts, args, the ConfigMap's policy; only the
# journal's hostPath goes to a temporary directory):
#   1. the init container accepts the shipped policy and refuses a broken one (exit 2);
#   2. `ctpilot plan` in the container sees a netns made on the host (ctp-PID-a, 4000 flows);
#   3. the daemon with the shipped (dry-run) policy: the readiness probe's path and port serve
#      metrics that `promtool check metrics` accepts; a netns created on the host after the
#      start (ctp-PID-b) appears in them (netns = all); nf_conntrack_max lowered to 4096 under
#      4000 entries gets a `planned` raise, shown by `ctpilot history` run in the container,
#      and stays 4096;
#   4. the same with dry_run = false: the daemon raises nf_conntrack_max from inside the
#      container (through /host/proc, with the manifest's one capability, not privileged);
#   5. a second container with the same state directory runs `rollback --all`: it finds the
#      journal and restores 4096 exactly.
# Global knobs are saved and restored by tests/kernel/lib.sh (same lock as the kernel tests).
# Exit 77 (skipped) without root, podman, runc, mmdebstrap, promtool, curl or python3-yaml.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../kernel/lib.sh"

[[ $(id -u) -eq 0 ]] || ctp_skip "needs root (podman with host namespaces, mmdebstrap)"
for tool in podman runc mmdebstrap promtool curl python3; do
  command -v "$tool" >/dev/null || ctp_skip "needs $tool (bash scripts/deps.sh)"
done
python3 -c 'import yaml' 2>/dev/null || ctp_skip "needs python3-yaml (bash scripts/deps.sh)"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR}"
src=$CTPILOT_SOURCE_DIR
build_dir=$(dirname "$CTPILOT")
export CONTAINERS_CONF=${CONTAINERS_CONF:-$src/scripts/containers.conf}
manifest=$src/examples/kubernetes/daemonset.yaml
configmap=$src/examples/kubernetes/configmap.yaml

# The image first, before the kernel lock (it touches no knob). The .deb goes next to the
# build tree it comes from and is rebuilt only when what goes into it changed (the binary, the
# man pages and the files of controller/CMakeLists.txt's install() and scripts/package.sh:
# package.sh takes minutes on a loaded machine); the image is reused while the .deb is the same.
started=$(date +%s)
debs=$build_dir/container-deb
inputs=$( (cat "$CTPILOT" "$build_dir"/man/*
  cd "$src" && find scripts/package.sh scripts/debian scripts/ctpilot-completion.bash examples/policies \
    examples/scenarios examples/systemd examples/README.md README.md CHANGELOG.md -type f -print0 |
    sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
# (nullglob: a clean build tree has no .deb yet, and a failing `ls` would end the test here)
debs_found=$(shopt -s nullglob; printf '%s\n' "$debs"/ctpilot_*.deb)
deb=${debs_found%%$'\n'*}
if [[ -z $deb || $(cat "$debs/inputs.sha256" 2>/dev/null) != "$inputs" ]]; then
  deb=$(BUILD_DIR="$build_dir" OUT_DIR="$debs" bash "$src/scripts/package.sh" --no-build | tail -1) ||
    ctp_fail "scripts/package.sh failed"
  echo "$inputs" >"$debs/inputs.sha256"
fi
image=$(bash "$src/scripts/image.sh" "$deb" | tail -1) || ctp_fail "scripts/image.sh failed"
[[ $image == localhost/ctpilot:* ]] || ctp_fail "scripts/image.sh printed '$image', not an image reference"
ctp_measure image_build_seconds "$(($(date +%s) - started))"
ctp_measure image_bytes "$(podman image inspect --format '{{.Size}}' "$image")"
# Nothing but the binary's own files and libraries: no shell to run.
podman run --rm --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1 && ctp_fail "the image has a shell (/bin/sh)"
# The licence travels with the binary: the package's machine-readable copyright names Apache-2.0.
copy=$(podman create "$image")
podman cp "$copy:/usr/share/doc/ctpilot/copyright" "$build_dir/image-copyright" >/dev/null ||
  { podman rm --force "$copy" >/dev/null; ctp_fail "the image has no /usr/share/doc/ctpilot/copyright"; }
podman rm --force "$copy" >/dev/null
grep -q '^License: Apache-2.0' "$build_dir/image-copyright" || ctp_fail "the image's copyright file does not name Apache-2.0"

require_root_netns
# Containers are named after the test; the trap removes them, then runs lib.sh's cleanup with
# the test's exit status (set +e first: under set -e, `(exit 1)` would end the trap there).
ctr="ctp-$$"
trap 'status=$?; set +e; podman rm --force --time 0 "$ctr-daemon" >/dev/null 2>&1; (exit $status); ctp_cleanup' EXIT
state=$CTP_TMP/state
# pod_args VAR CONTAINER [WORDS]: sets the array VAR to the podman run arguments of the
# manifest's CONTAINER (its last arg replaced by WORDS); a manifest it cannot translate fails.
pod_args() {
  local out
  out=$(python3 "$here/pod_to_podman.py" --manifest "$manifest" --configmap "$configmap" --container "$2" \
    --image "$image" --configmap-dir "$CTP_TMP/configmaps" --host-path "/var/lib/ctpilot=$state" \
    ${3:+--command "$3"}) || ctp_fail "pod_to_podman.py cannot run container $2 of $manifest"
  mapfile -t "$1" <<<"$out"
}
policy=$CTP_TMP/configmaps/ctpilot-policy/policy.conf
pod_args init_args check-policy
probe=$(python3 "$here/pod_to_podman.py" --manifest "$manifest" --configmap "$configmap" \
  --container ctpilot --probe) || ctp_fail "no readiness probe in $manifest"
read -r probe_path probe_port <<<"$probe"

# 1. The init container: the shipped policy passes, a broken one stops the pod.
podman run --rm "${init_args[@]}" >"$CTP_TMP/check.out" 2>&1 ||
  { cat "$CTP_TMP/check.out" >&2; ctp_fail "init container: check-policy refused the ConfigMap's policy"; }
grep -q '^on_external = adopt' "$CTP_TMP/check.out" || ctp_fail "the shipped policy does not adopt external values"
grep -q '^dry_run = true' "$CTP_TMP/check.out" || ctp_fail "the shipped policy is not a dry run"
cp "$policy" "$CTP_TMP/policy.good"
printf '[max]\nceiling = 4X\n' >>"$policy"
status=0
podman run --rm "${init_args[@]}" >"$CTP_TMP/check.bad" 2>&1 || status=$?
[[ $status == 2 ]] || ctp_fail "init container: a broken policy gave exit $status, not 2: $(cat "$CTP_TMP/check.bad")"
grep -q 'policy.conf:[0-9]*: \[max\] ceiling' "$CTP_TMP/check.bad" || ctp_fail "init container: no FILE:LINE message"

# 2. plan in the container sees a namespace of the host, with its entries.
ns_a="$CTP_ID-a"
ctp_make_ct_netns "$ns_a"
# Unreplied UDP entries live nf_conntrack_udp_timeout: long enough for the whole test here.
ip netns exec "$ns_a" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600
ctp_serve "$ns_a" 127.0.0.1:9000 --udp
"$LOADGEN" --netns "$ns_a" udp-flows --target 127.0.0.1:9000 --rate 8000/s --duration 5s --count 4000 >"$CTP_TMP/flows.json"
entries=$(ctp_conntrack_count "$ns_a")
ctp_check "$entries" -ge 3800 "conntrack -C in $ns_a after 4000 UDP flows"
pod_args plan_args ctpilot plan
podman run --rm "${plan_args[@]}" >"$CTP_TMP/plan.out" 2>&1 ||
  { cat "$CTP_TMP/plan.out" >&2; ctp_fail "ctpilot plan in the container failed"; }
grep -q '^policy: /etc/ctpilot/policy.conf' "$CTP_TMP/plan.out" || ctp_fail "plan did not read the ConfigMap: $(head -3 "$CTP_TMP/plan.out")"
grep -q "^$ns_a  *[0-9]" "$CTP_TMP/plan.out" || { cat "$CTP_TMP/plan.out" >&2; ctp_fail "plan in the container does not list $ns_a"; }
[[ -e $state/journal.jsonl ]] && ctp_fail "plan wrote a journal"

# 3. The daemon, dry run: metrics, a namespace created after the start, a planned raise.
pod_args run_args ctpilot
start_daemon() {
  podman rm --force --time 0 "$ctr-daemon" >/dev/null 2>&1 || true
  podman run --detach --name "$ctr-daemon" "${run_args[@]}" >/dev/null || ctp_fail "podman run of the daemon failed"
  daemon_pid=$(podman inspect --format '{{.State.Pid}}' "$ctr-daemon")
  ctp_log "daemon container started, pid $daemon_pid"
}
# Waits up to SECONDS for CONDITION (a shell command), failing with WHAT and the daemon's log.
wait_for() {
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" && return 0
    podman container exists "$ctr-daemon" &&
      [[ $(podman inspect --format '{{.State.Running}}' "$ctr-daemon") == true ]] ||
      { podman logs "$ctr-daemon" >&2; ctp_fail "the daemon container exited while waiting for $what"; }
    sleep 0.2
  done
  podman logs "$ctr-daemon" 2>&1 | tail -30 >&2
  ctp_fail "no $what within $seconds s"
}
scrape() { curl -sf "http://127.0.0.1:$probe_port$probe_path" >"$CTP_TMP/metrics.txt"; }
stop_daemon() {
  podman stop --time 10 "$ctr-daemon" >/dev/null
  local code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr-daemon")
  podman logs "$ctr-daemon" >"$CTP_TMP/daemon-$1.log" 2>&1
  podman rm "$ctr-daemon" >/dev/null
  [[ $code == 0 ]] || { cat "$CTP_TMP/daemon-$1.log" >&2; ctp_fail "the daemon ($1) exited $code on SIGTERM"; }
}
cp "$CTP_TMP/policy.good" "$policy"
start_daemon
wait_for 20 "metrics at :$probe_port$probe_path (the readiness probe)" scrape
promtool check metrics <"$CTP_TMP/metrics.txt" >"$CTP_TMP/promtool.out" 2>&1 ||
  { cat "$CTP_TMP/promtool.out" >&2; ctp_fail "promtool check metrics refused the daemon's metrics"; }
ns_b="$CTP_ID-b"
ctp_make_ct_netns "$ns_b"
seen_b() { scrape && grep -q "^ctpilot_conntrack_entries{.*netns=\"$ns_b\"" "$CTP_TMP/metrics.txt"; }
wait_for 20 "$ns_b (created after the start) in the metrics" seen_b
ctp_set_global_max 4096
planned() { grep -q '"planned"' "$state/journal.jsonl" 2>/dev/null; }
wait_for 20 "planned raise in the journal" planned
sleep 2
ctp_check "$(ctp_global_max)" -eq 4096 "nf_conntrack_max under the dry-run policy"
# What README "On Kubernetes nodes" tells an operator to run in the pod (no shell: the binary).
podman exec "$ctr-daemon" /usr/sbin/ctpilot --root /host history >"$CTP_TMP/history.out" 2>&1 ||
  { cat "$CTP_TMP/history.out" >&2; ctp_fail "ctpilot history in the running container failed"; }
grep -q 'planned  *init  *nf_conntrack_max  *4096 -> ' "$CTP_TMP/history.out" ||
  { cat "$CTP_TMP/history.out" >&2; ctp_fail "history in the container does not show the planned raise"; }
ctp_measure daemon_rss_kib "$(awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status")"
stop_daemon dry-run

# 4. The same container acting: the raise is written from inside it.
sed -i 's/^dry_run = true/dry_run = false/' "$policy"
start_daemon
raised() { (($(ctp_global_max) > 4096)); }
wait_for 30 "raise of nf_conntrack_max by the daemon in the container" raised
raised_to=$(ctp_global_max)
ctp_measure raised_to "$raised_to"
stop_daemon acting
ctp_check "$(ctp_global_max)" -eq "$raised_to" "nf_conntrack_max after the daemon stopped (stopping changes nothing)"

# 5. A second container, same state directory: rollback --all finds the journal.
pod_args rollback_args ctpilot "rollback --all"
podman run --rm "${rollback_args[@]}" >"$CTP_TMP/rollback.out" 2>&1 ||
  { cat "$CTP_TMP/rollback.out" >&2; ctp_fail "rollback --all in a second container failed"; }
ctp_log "rollback: $(cat "$CTP_TMP/rollback.out")"
ctp_check "$(ctp_global_max)" -eq 4096 "nf_conntrack_max after rollback --all from the second container"
ctp_check "$(cat $CTP_PROC/nf_conntrack_buckets)" -eq "$CTP_SAVED_BUCKETS" "nf_conntrack_buckets after rollback --all"
ctp_measure total_seconds "$(($(date +%s) - started))"
echo "PASS: image $image; init container, plan, metrics, netns = all, raise and rollback --all from the manifest's pod"
