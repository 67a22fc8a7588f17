"""Docker's defaults as an OCI runtime spec: what ``docker run`` flags become in ``config.json``.

The runtime follows the spec literally (as runc does); every Docker policy — default capabilities,
masked paths, /dev/shm size — is decided here; mounts in ``mounts.py``, cgroup limits in ``resources.py``,
privileges in ``security.py``, namespace modes in ``namespaces.py``, devices in ``devices.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from berth.engine.containers import devices, namespaces, security
from berth.engine.containers import mounts as spec_mounts
from berth.engine.containers.container import Container
from berth.engine.containers.mount_setup import UserMounts
from berth.engine.containers.resources import resources
from berth.engine.networks import legacy_links
from berth.engine.networks.settings import network_files_dir
from berth.errors import InvalidArgument
from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS
from berth.runtime.linux.process import GROUP_ADD_ANNOTATION
from berth.runtime.spec import DEFAULT_PATH, default_spec

INIT_PATH = "/sbin/docker-init"
DEFAULT_CAPS = list(DOCKER_DEFAULT_CAPS)
SHM_SIZE = 64 * 1024 * 1024


def _init_binary() -> str:
    for candidate in ("tini-static", "docker-init"):
        found = shutil.which(candidate)
        if found:
            return found
    raise InvalidArgument("--init needs a static init binary: install Debian's 'tini' package")


def exec_security(container: Container, *, privileged: bool = False) -> dict[str, Any]:
    """The privileges of a process exec'd in ``container`` (``docker exec``, health probes): those of
    the container's own process — capabilities, no_new_privs, rlimits, OOM score — read from the spec
    it was started with (as dockerd reads it back from containerd); ``privileged``: every capability."""
    try:
        process = json.loads((container.bundle / "config.json").read_bytes()).get("process") or {}
    except (OSError, ValueError):
        process = {}
    caps = security.privileged_capabilities() if privileged else None
    result: dict[str, Any] = {
        "capabilities": process.get("capabilities")
        or _caps_object(security.capabilities(container.host_config)),
        "noNewPrivileges": bool(process.get("noNewPrivileges")),
    }
    if caps is not None:
        result["capabilities"] = _caps_object(caps)
    for key in ("rlimits", "oomScoreAdj"):
        if key in process:
            result[key] = process[key]
    return result


def _caps_object(caps: list[str]) -> dict[str, list[str]]:
    return {k: list(caps) for k in ("bounding", "effective", "permitted")}


def _rlimits(host: dict[str, Any], defaults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HostConfig.Ulimits over the defaults (each named limit replaces the default of its type)."""
    asked = security.rlimits(host)
    named = {r["type"] for r in asked}
    return [*(r for r in defaults if r["type"] not in named), *asked]


def _default_sysctls() -> dict[str, str]:
    """moby's WithCommonOptions, for a private network namespace: unprivileged ping, and ports below
    1024 without CAP_NET_BIND_SERVICE."""
    wanted = {"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
    return {k: v for k, v in wanted.items() if os.path.exists("/proc/sys/" + k.replace(".", "/"))}


def process_env(container: Container) -> list[str]:
    """The environment of the container's processes (its command, and ``exec``s and health probes):
    the merged Config.Env plus Docker's PATH default, HOSTNAME and, with a TTY, TERM."""
    config = container.config
    env = list(config.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.insert(1, f"HOSTNAME={config.get('Hostname', '')}")
    if config.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    return legacy_links.process_env_with_links(env, container)  # --link's variables


def build(
    container: Container,
    *,
    cgroup_parent: str,
    seccomp_profile: str = "",
    userns_maps: security.UserMaps | None = None,
    user_mounts: UserMounts | None = None,
    netns: Path | None = None,
    peer: namespaces.PeerLookup | None = None,
) -> dict[str, Any]:
    """The OCI runtime spec (``config.json``) for one start of ``container``; ``user_mounts``: its
    binds, volumes, tmpfs and image mounts (``mount_setup.oci_mounts``); ``netns``: a network
    namespace made (and wired) beforehand, to join instead of a new empty one; ``peer``: finds the
    running container named by ``--pid``/``--ipc container:X``; ``seccomp_profile``: the daemon's
    default profile (``security.seccomp_filter``)."""
    config, host = container.config, container.host_config
    args = [container.path, *container.args]
    # Docker adds its init only in a PID namespace of the container's own: elsewhere one exists.
    init = bool(host.get("Init")) and namespaces.private_pid(host)
    if init:
        args = [INIT_PATH, "--", *args]
    host_network = (host.get("NetworkMode") or "default") == "host"
    oci: dict[str, Any] = default_spec(
        args,
        env=process_env(container),
        cwd=config.get("WorkingDir") or "/",
        hostname=config.get("Hostname", ""),
        terminal=bool(config.get("Tty")),
        user=str(config.get("User") or ""),
        container_id=container.container_id,
        cgroups_path=f"{host.get('CgroupParent') or cgroup_parent}/{container.container_id}",
        network=not host_network,
        readonly_rootfs=bool(host.get("ReadonlyRootfs")),
    )
    mounts: list[dict[str, Any]] = oci["mounts"]
    shm_size = int(host.get("ShmSize") or SHM_SIZE)
    for mount in mounts:
        if mount["destination"] == "/dev/shm":
            mount["options"] = [o for o in mount["options"] if not o.startswith("size=")] + [
                f"size={shm_size}"
            ]
    ours = len(mounts)  # from here on Docker sorts by depth, volumes and binds included (below)
    for name in ("hostname", "hosts", "resolv.conf"):
        if host_network and name == "hostname":
            continue
        mounts.append({
            "destination": f"/etc/{name}", "type": "bind", "source": str(network_files_dir(container) / name),
            "options": ["rbind", "rprivate", "ro" if host.get("ReadonlyRootfs") else "rw"],
        })  # fmt: skip
    if init:
        mounts.append(
            {"destination": INIT_PATH, "type": "bind", "source": _init_binary(), "options": ["bind", "ro"]}
        )
    mounts += spec_mounts.tmpfs_mounts(host.get("Tmpfs") or {})
    # Binds and volumes go parents first, as Docker sorts them, so ``-v data:/a -v /host:/a/b``
    # mounts /a/b on top of the volume.
    if user_mounts is not None:
        mounts += user_mounts.mounts
        if user_mounts.root_propagation:
            oci["linux"]["rootfsPropagation"] = user_mounts.root_propagation
    mounts[ours:] = sorted(mounts[ours:], key=lambda m: str(m["destination"]).rstrip("/").count("/"))
    options = security.security_options(host)
    privileged = bool(host.get("Privileged"))
    _adjust_system_mounts(mounts, privileged=privileged, writable_cgroups=options.writable_cgroups)
    process = oci["process"]
    process["capabilities"] = _caps_object(security.capabilities(host))
    process["noNewPrivileges"] = options.no_new_privileges
    process["rlimits"] = _rlimits(host, process["rlimits"])
    process["oomScoreAdj"] = int(host.get("OomScoreAdj") or 0)
    if config.get("Domainname"):
        oci["domainname"] = str(config["Domainname"])
    if host_network:
        oci["hostname"] = ""
    annotations = oci["annotations"]
    oci["annotations"] = {
        **{str(k): str(v) for k, v in (host.get("Annotations") or {}).items()},
        **annotations,
    }
    oci["annotations"]["io.berth.container.name"] = container.name
    if host.get("GroupAdd"):
        oci["annotations"][GROUP_ADD_ANNOTATION] = ",".join(str(g) for g in host["GroupAdd"])
    linux = oci["linux"]
    if netns is not None:
        for namespace in linux["namespaces"]:
            if namespace["type"] == "network":
                namespace["path"] = str(netns)
    namespaces.apply(oci, host, peer)
    linux["resources"].update(resources(host))
    devices.apply(host, linux)
    sysctls = _default_sysctls() if not host_network and not _joins_network(host) else {}
    sysctls.update({str(k): str(v) for k, v in (host.get("Sysctls") or {}).items()})
    if sysctls:
        linux["sysctl"] = sysctls
    if userns_maps is not None and security.remapped(host, userns_maps):
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = userns_maps
    seccomp = security.seccomp_filter(host, seccomp_profile)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    if privileged or options.unconfined_paths:
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
    else:
        if host.get("MaskedPaths") is not None:
            linux["maskedPaths"] = [str(p) for p in host["MaskedPaths"]]
        if host.get("ReadonlyPaths") is not None:
            linux["readonlyPaths"] = [str(p) for p in host["ReadonlyPaths"]]
    return oci


def _joins_network(host: dict[str, Any]) -> bool:
    return str(host.get("NetworkMode") or "").startswith("container:")


def _adjust_system_mounts(mounts: list[dict[str, Any]], *, privileged: bool, writable_cgroups: bool) -> None:
    """Privileged: /sys and the cgroup tree read-write (moby clears their "ro"); writable-cgroups:
    the cgroup tree read-write."""
    for mount in mounts:
        if (privileged and mount["type"] == "sysfs") or (
            (privileged or writable_cgroups) and mount["type"] == "cgroup"
        ):
            mount["options"] = [o for o in mount["options"] if o != "ro"]
