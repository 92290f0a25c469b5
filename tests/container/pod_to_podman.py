#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns one container of the DaemonSet in examples/kubernetes/ into `podman run` arguments, so
the container test runs what the manifest says and the manifest cannot drift from what was
tested (README "On Kubernetes nodes").

  pod_to_podman.py --manifest daemonset.yaml --configmap configmap.yaml --container NAME \
      --image REF --configmap-dir DIR [--host-path /var/lib/ctpilot=/tmp/state] [--command "WORD..."]

Prints one argument per line: the podman options (host network and PID namespaces, user,
capabilities, no-new-privileges, read-only root, every volume mount), then the image, then the
container's args; --command replaces their last word (the ctpilot command, `run`) with WORD...,
so that `plan` or `rollback --all` run with the same global options (--root). The ConfigMaps the
pod mounts are written into DIR/NAME/ (one file per key) and mounted read-only from there.
--host-path maps a hostPath to another directory on this machine (the journal goes to a
temporary directory, not the machine's /var/lib/ctpilot). Anything in the pod or container spec
this script does not translate is an error, not silently dropped: a field the manifest gains
must be taught here first, so the test keeps running what the manifest says.

Also: --probe prints the readiness probe of the container as "PATH PORT" (the port number).
"""
import argparse
import os
import sys

import yaml

# Pod fields that podman has no counterpart for and that change nothing for one node.
POD_IGNORED = {"priorityClassName", "tolerations", "terminationGracePeriodSeconds",
               "automountServiceAccountToken", "enableServiceLinks", "dnsPolicy"}
POD_KNOWN = POD_IGNORED | {"hostNetwork", "hostPID", "containers", "initContainers", "volumes"}
CONTAINER_IGNORED = {"name", "image", "imagePullPolicy", "resources", "ports", "readinessProbe",
                     "terminationMessagePolicy"}
CONTAINER_KNOWN = CONTAINER_IGNORED | {"args", "command", "securityContext", "volumeMounts"}
SECURITY_KNOWN = {"runAsUser", "runAsGroup", "runAsNonRoot", "allowPrivilegeEscalation",
                  "readOnlyRootFilesystem", "privileged", "capabilities", "seccompProfile"}
PROPAGATION = {None: None, "None": None, "HostToContainer": "rslave", "Bidirectional": "rshared"}


def fail(message):
    sys.exit(f"pod_to_podman.py: {message}")


def check_known(what, mapping, known):
    unknown = sorted(set(mapping) - known)
    if unknown:
        fail(f"{what}: {', '.join(unknown)} not translated to podman; teach tests/container/pod_to_podman.py")


def load(path, kind):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        fail(f"{path}: expected one {kind}, found {len(found)}")
    return found[0]


def find_container(pod, name):
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        if c.get("name") == name:
            return c
    fail(f"no container {name!r} in the pod template")


def security_args(ctx):
    check_known("securityContext", ctx, SECURITY_KNOWN)
    args = []
    if ctx.get("privileged"):
        args.append("--privileged")
    if "runAsUser" in ctx:
        user = str(ctx["runAsUser"])
        if "runAsGroup" in ctx:
            user += f":{ctx['runAsGroup']}"
        args += ["--user", user]
    if ctx.get("runAsNonRoot") and int(ctx.get("runAsUser", 0)) == 0:
        fail("runAsNonRoot without a non-zero runAsUser: the image runs as root")
    if ctx.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if ctx.get("readOnlyRootFilesystem"):
        # Kubernetes mounts no tmpfs on /tmp, /var/tmp or /run of a read-only root; podman does
        # by default.
        args += ["--read-only", "--read-only-tmpfs=false"]
    caps = ctx.get("capabilities", {})
    check_known("capabilities", caps, {"drop", "add"})
    for cap in caps.get("drop", []):
        args += ["--cap-drop", cap]
    for cap in caps.get("add", []):
        args += ["--cap-add", cap]
    seccomp = ctx.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        fail(f"seccompProfile {seccomp} not translated")
    return args


def volume_sources(pod, configmaps, configmap_dir, host_paths):
    """Volume name -> (directory on this machine, forced read-only)."""
    sources = {}
    for volume in pod.get("volumes", []):
        name = volume["name"]
        check_known(f"volume {name}", volume, {"name", "hostPath", "configMap"})
        if "hostPath" in volume:
            hp = volume["hostPath"]
            check_known(f"volume {name} hostPath", hp, {"path", "type"})
            path = host_paths.get(hp["path"], hp["path"])
            kind = hp.get("type", "")
            if kind == "DirectoryOrCreate":
                os.makedirs(path, exist_ok=True)
            elif kind == "Directory" and not os.path.isdir(path):
                fail(f"volume {name}: hostPath {path} is not a directory (type: Directory)")
            elif kind not in ("", "Directory", "DirectoryOrCreate"):
                fail(f"volume {name}: hostPath type {kind} not translated")
            sources[name] = (path, False)
        else:
            cm = volume["configMap"]
            check_known(f"volume {name} configMap", cm, {"name"})
            if cm["name"] not in configmaps:
                fail(f"volume {name}: ConfigMap {cm['name']} is not in the ConfigMap file")
            directory = os.path.join(configmap_dir, cm["name"])
            os.makedirs(directory, exist_ok=True)
            for key, text in configmaps[cm["name"]].get("data", {}).items():
                with open(os.path.join(directory, key), "w", encoding="utf-8") as f:
                    f.write(text)
            sources[name] = (directory, True)
    return sources


def mount_args(container, sources):
    args = []
    for mount in container.get("volumeMounts", []):
        check_known(f"volumeMount {mount.get('name')}", mount,
                    {"name", "mountPath", "readOnly", "mountPropagation"})
        if mount["name"] not in sources:
            fail(f"volumeMount {mount['name']}: no such volume")
        source, forced_ro = sources[mount["name"]]
        options = []
        if mount.get("readOnly") or forced_ro:
            options.append("ro")
        if mount.get("mountPropagation") not in PROPAGATION:
            fail(f"mountPropagation {mount['mountPropagation']} not translated")
        if PROPAGATION[mount.get("mountPropagation")]:
            options.append(PROPAGATION[mount["mountPropagation"]])
        spec = f"{source}:{mount['mountPath']}"
        if options:
            spec += ":" + ",".join(options)
        args += ["--volume", spec]
    return args


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--configmap", required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--image")
    parser.add_argument("--configmap-dir")
    parser.add_argument("--host-path", action="append", default=[], metavar="PATH=DIR")
    parser.add_argument("--command", metavar="WORDS", help="words separated by spaces")
    parser.add_argument("--probe", action="store_true")
    opts = parser.parse_args()

    daemonset = load(opts.manifest, "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    check_known("pod spec", pod, POD_KNOWN)
    container = find_container(pod, opts.container)
    check_known(f"container {opts.container}", container, CONTAINER_KNOWN)

    if opts.probe:
        http = container["readinessProbe"]["httpGet"]
        port = http["port"]
        if isinstance(port, str):
            port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
        print(http["path"], port)
        return

    if not opts.image or not opts.configmap_dir:
        fail("--image and --configmap-dir are required")
    with open(opts.configmap, encoding="utf-8") as f:
        configmaps = {d["metadata"]["name"]: d for d in yaml.safe_load_all(f) if d and d.get("kind") == "ConfigMap"}
    host_paths = dict(p.split("=", 1) for p in opts.host_path)

    args = []
    if pod.get("hostNetwork"):
        args += ["--network", "host"]
    if pod.get("hostPID"):
        args += ["--pid", "host"]
    args += security_args(container.get("securityContext", {}))
    args += mount_args(container, volume_sources(pod, configmaps, opts.configmap_dir, host_paths))
    if container.get("command"):
        args += ["--entrypoint", container["command"][0]]
    args.append(opts.image)
    if container.get("command"):
        args += container["command"][1:]
    manifest_args = [str(a) for a in container.get("args", [])]
    if opts.command:
        if not manifest_args or manifest_args[-1].startswith("-"):
            fail(f"container {opts.container}: its last arg is not a command to replace: {manifest_args}")
        manifest_args = manifest_args[:-1] + opts.command.split()
    args += manifest_args
    print("\n".join(args))


if __name__ == "__main__":
    main()
