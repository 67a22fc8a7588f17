"""Docker's defaults as an OCI runtime spec: what ``docker run`` flags become in ``config.json``.

The runtime follows the spec literally (as runc does); every Docker policy — default capabilities,
masked paths, /dev/shm size, how ``--cpus`` becomes a CFS quota — is decided here.
"""

from __future__ import annotations

import shutil
from typing import Any

from berth.engine.container import Container
from berth.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CFS_PERIOD = 100_000
INIT_PATH = "/sbin/docker-init"

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]  # fmt: skip

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

SHM_SIZE = 64 * 1024 * 1024


def _init_binary() -> str:
    for candidate in ("tini-static", "docker-init"):
        found = shutil.which(candidate)
        if found:
            return found
    raise InvalidArgument("--init needs a static init binary: install Debian's 'tini' package")


def _base_mounts(shm_size: int) -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]  # fmt: skip


def _bind_mounts(binds: list[str]) -> list[dict[str, Any]]:
    mounts = []
    for bind in binds:
        parts = bind.split(":")
        if len(parts) < 2 or not parts[0].startswith("/"):
            raise InvalidArgument(f"invalid volume specification: '{bind}': named volumes are not supported yet")
        source, destination, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"
        if not destination.startswith("/"):
            raise InvalidArgument(f"invalid volume specification: '{bind}': mount path must be absolute")
        flags = set(mode.split(","))
        mounts.append({
            "destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "ro" if "ro" in flags else "rw", "rprivate"],
        })  # fmt: skip
    return mounts


def _tmpfs_mounts(tmpfs: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"destination": path, "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", *[o for o in options.split(",") if o]]}
        for path, options in tmpfs.items()
    ]  # fmt: skip


def _resources(host: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    memory = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if memory:
        mem: dict[str, Any] = {"limit": memory}
        if swap > 0:
            if swap < memory:
                raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
            mem["swap"] = swap
        elif swap == 0:
            mem["swap"] = memory * 2  # Docker: unset swap means as much swap as memory
        else:
            mem["swap"] = -1
        resources["memory"] = mem
    cpu: dict[str, Any] = {}
    nano = int(host.get("NanoCpus") or 0)
    if nano:
        cpu["quota"], cpu["period"] = nano * CFS_PERIOD // 1_000_000_000, CFS_PERIOD
    elif host.get("CpuQuota"):
        cpu["quota"], cpu["period"] = int(host["CpuQuota"]), int(host.get("CpuPeriod") or CFS_PERIOD)
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if cpu:
        resources["cpu"] = cpu
    pids = int(host.get("PidsLimit") or 0)
    if pids > 0:
        resources["pids"] = {"limit": pids}
    return resources


def build(container: Container, *, cgroup_parent: str) -> dict[str, Any]:
    """The OCI runtime spec (``config.json``) for one start of ``container``."""
    config, host = container.config, container.host_config
    args = [container.path, *container.args]
    if host.get("Init"):
        args = [INIT_PATH, "--", *args]
    network = host.get("NetworkMode") or "default"
    namespaces = [{"type": t} for t in ("pid", "mount", "uts", "ipc", "cgroup")]
    if network != "host":
        namespaces.append({"type": "network"})
    mounts = _base_mounts(int(host.get("ShmSize") or SHM_SIZE))
    for name in ("hostname", "hosts", "resolv.conf"):
        if network == "host" and name == "hostname":
            continue
        mounts.append({
            "destination": f"/etc/{name}", "type": "bind", "source": str(container.directory / name),
            "options": ["rbind", "rprivate", "ro" if host.get("ReadonlyRootfs") else "rw"],
        })  # fmt: skip
    if host.get("Init"):
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": _init_binary(), "options": ["bind", "ro"]})
    mounts += _tmpfs_mounts(host.get("Tmpfs") or {})
    mounts += _bind_mounts(host.get("Binds") or [])
    env = list(config.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.insert(1, f"HOSTNAME={config.get('Hostname', '')}")
    if config.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    caps = list(DEFAULT_CAPS)
    if host.get("Privileged"):
        caps = "ALL"  # type: ignore[assignment]  # the runtime expands ALL to every known capability
    for cap in host.get("CapAdd") or []:
        name = cap.upper() if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}"
        if isinstance(caps, list) and name not in caps:
            caps.append(name)
    for cap in host.get("CapDrop") or []:
        name = cap.upper() if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}"
        if isinstance(caps, list) and name in caps:
            caps.remove(name)
    capabilities = {k: caps for k in ("bounding", "effective", "permitted")}
    process: dict[str, Any] = {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": env,
        "cwd": config.get("WorkingDir") or "/",
        "capabilities": capabilities,
        "noNewPrivileges": not host.get("Privileged"),
        "rlimits": [],
    }
    annotations = {"io.berth.container.name": container.name}
    if config.get("User"):
        annotations["io.berth.user"] = str(config["User"])
    return {
        "ociVersion": "1.1.0",
        "process": process,
        "root": {"path": "rootfs", "readonly": bool(host.get("ReadonlyRootfs"))},
        "hostname": config.get("Hostname", "") if network != "host" else "",
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "namespaces": namespaces,
            "resources": _resources(host),
            "cgroupsPath": f"{host.get('CgroupParent') or cgroup_parent}/{container.container_id}",
            "maskedPaths": [] if host.get("Privileged") else MASKED_PATHS,
            "readonlyPaths": [] if host.get("Privileged") else READONLY_PATHS,
        },
    }
