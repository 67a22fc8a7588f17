"""OCI runtime-spec config.json: Docker's default spec, loading, and the pieces the runtime reads.

The engine calls ``default_spec(...)`` to get a Docker-like spec (namespaces, the standard mounts,
14 capabilities, masked/readonly paths, devices, rlimits), adjusts it (binds, resources, user, …)
and writes it to ``<bundle>/config.json``. The runtime follows ``mounts[]`` like runc: it adds only
the default device nodes and /dev symlinks when ``/dev`` is a tmpfs, and /dev/console with a TTY.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Mapping, Sequence
from pathlib import Path

from berth.runtime.errors import InvalidSpec
from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS

Spec = dict[str, object]

USER_ANNOTATION = "io.berth.user"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def default_mounts() -> list[dict[str, object]]:
    """moby's oci/defaults.go mounts: proc, /dev tmpfs, devpts, sysfs (ro), cgroup (ro), mqueue, shm."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        },
    ]


def default_spec(
    args: Sequence[str],
    *,
    env: Sequence[str] = (),
    cwd: str = "/",
    hostname: str = "",
    terminal: bool = False,
    user: str = "",
    container_id: str = "",
    cgroups_path: str = "",
    network: bool = True,
    readonly_rootfs: bool = False,
) -> Spec:
    """A Docker-like OCI spec. ``user`` ("name|uid[:group|gid]") goes to the ``io.berth.user``
    annotation and is resolved inside the container; ``network=False`` shares the host's network."""
    caps = list(DOCKER_DEFAULT_CAPS)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if network:
        namespaces.append({"type": "network"})
    environment = list(env)
    if not any(e.startswith("PATH=") for e in environment):
        environment.insert(0, DEFAULT_PATH)
    spec: Spec = {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": environment,
            "cwd": cwd or "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [default_nofile()],
            "noNewPrivileges": False,
        },
        "root": {"path": "rootfs", "readonly": readonly_rootfs},
        "hostname": hostname or container_id[:12],
        "mounts": default_mounts(),
        "annotations": {USER_ANNOTATION: user} if user else {},
        "linux": {
            "namespaces": namespaces,
            "resources": {"devices": [{"allow": False, "access": "rwm"}, *_default_device_rules()]},
            "cgroupsPath": cgroups_path or (f"berth/{container_id}" if container_id else ""),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "devices": [],
        },
    }
    return spec


def default_nofile() -> dict[str, object]:
    """Docker's containers inherit dockerd's open-files limit, which Go raises to its hard limit
    (1048576 under Docker's systemd unit): ours, at most 1048576. The runtime applies rlimits
    exactly, so a default must never exceed what this process may grant."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    return {"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}


def _default_device_rules() -> list[dict[str, object]]:
    # moby's DefaultLinuxSpec device cgroup rules: mknod of anything, then rwm on null, zero, full,
    # random, urandom, tty, console, ptmx, pts/*, net/tun.
    rules: list[dict[str, object]] = [
        {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
        {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    ]
    nodes = ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, -1), (10, 200))
    for major, minor in nodes:
        rules.append({"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"})
    return rules


def load(bundle: Path) -> Spec:
    """Read and minimally validate ``<bundle>/config.json``."""
    try:
        with open(bundle / "config.json", "rb") as f:
            spec = json.loads(f.read())
    except FileNotFoundError as exc:
        raise InvalidSpec(f"bundle {bundle}: config.json not found") from exc
    except (OSError, ValueError) as exc:
        raise InvalidSpec(f"bundle {bundle}: bad config.json: {exc}") from exc
    if not isinstance(spec, dict):
        raise InvalidSpec(f"bundle {bundle}: config.json is not an object")
    process = spec.get("process")
    if not isinstance(process, dict) or not isinstance(process.get("args"), list) or not process["args"]:
        raise InvalidSpec(f"bundle {bundle}: process.args must be a non-empty list")
    return spec


def section(spec: Mapping[str, object], key: str) -> dict[str, object]:
    """``spec[key]`` if it is an object, else {} (tolerant reading of optional sections)."""
    value = spec.get(key)
    return value if isinstance(value, dict) else {}


def namespaces(spec: Mapping[str, object]) -> list[dict[str, object]]:
    value = section(spec, "linux").get("namespaces")
    return [ns for ns in value if isinstance(ns, dict)] if isinstance(value, list) else []


def str_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
