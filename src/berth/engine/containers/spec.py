"""Docker's defaults as an OCI runtime spec: what ``docker run`` flags become in ``config.json``.

The runtime follows the spec literally (as runc does); every Docker policy — default capabilities,
masked paths, /dev/shm size — is decided here; mounts in ``mounts.py``, cgroup limits in ``resources.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from berth.engine.containers import mounts as spec_mounts
from berth.engine.containers.container import Container
from berth.engine.containers.mount_setup import UserMounts
from berth.engine.containers.resources import resources
from berth.engine.networks import legacy_links
from berth.engine.networks.settings import network_files_dir
from berth.errors import InvalidArgument
from berth.runtime.linux.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS
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


def _capabilities(host: dict[str, Any]) -> list[str]:
    if host.get("Privileged"):
        return list(CAPABILITIES)
    caps = list(DEFAULT_CAPS)
    for cap in host.get("CapAdd") or []:
        name = cap.upper() if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}"
        if name == "CAP_ALL":
            return list(CAPABILITIES)
        if name not in caps:
            caps.append(name)
    for cap in host.get("CapDrop") or []:
        name = cap.upper() if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}"
        if name in caps:
            caps.remove(name)
    return caps


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
    user_mounts: UserMounts | None = None,
    netns: Path | None = None,
) -> dict[str, Any]:
    """The OCI runtime spec (``config.json``) for one start of ``container``; ``user_mounts``: its
    binds, volumes, tmpfs and image mounts (``mount_setup.oci_mounts``); ``netns``: a network
    namespace made (and wired) beforehand, to join instead of a new empty one."""
    config, host = container.config, container.host_config
    args = [container.path, *container.args]
    if host.get("Init"):
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
    if host.get("Init"):
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
    caps = _capabilities(host)
    process = oci["process"]
    process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    process["noNewPrivileges"] = not host.get("Privileged")
    if host_network:
        oci["hostname"] = ""
    oci["annotations"]["io.berth.container.name"] = container.name
    linux = oci["linux"]
    if netns is not None:
        for namespace in linux["namespaces"]:
            if namespace["type"] == "network":
                namespace["path"] = str(netns)
    linux["resources"].update(resources(host))
    if host.get("Privileged"):
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
    return oci
