"""The CgroupManager Protocol and the choice between cgroup v1 and v2.

A *cgroups path* comes from the spec's ``linux.cgroupsPath``: relative (``berth/<id>``) nests under the
cgroup of the calling process (per controller on v1, read from ``/proc/self/cgroup``); absolute
(``/x/y``) starts at the hierarchy root. A manager is created once (``manager_for``), recorded in the
state dir as ``to_json()`` and re-opened by any process with ``load``::

    mgr = manager_for("berth/c1"); mgr.create(); mgr.apply(spec["linux"]["resources"])
    ... child writes 0 to each of mgr.join_files() ...
    mgr.freeze(); mgr.thaw(); mgr.stats(); mgr.destroy()
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from berth.runtime.types import CgroupStats

CGROUP_ROOT = Path("/sys/fs/cgroup")
JsonMap = Mapping[str, object]


class CgroupManager(Protocol):
    """One container's cgroup, on every hierarchy the host has."""

    version: int

    def to_json(self) -> dict[str, object]:
        """What ``load`` needs to re-open this cgroup in another process."""
        ...

    def create(self) -> None:
        """Make the cgroup directories (idempotent)."""
        ...

    def apply(self, resources: JsonMap) -> None:
        """Write an OCI ``linux.resources`` object (memory, cpu, pids, blockIO, devices) to the cgroup
        files. Only the keys present are written, so a partial object updates a live cgroup (``docker
        update``); a value the kernel refuses raises OSError with the file's errno."""
        ...

    def join_files(self) -> list[str]:
        """Files a single-threaded process writes ``0`` to in order to join this cgroup."""
        ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def frozen(self) -> bool: ...

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup."""
        ...

    def oom_events_file(self) -> str:
        """The file whose ``oom_kill N`` line ``oom_kills`` reads ("" without a memory controller);
        the C monitor reads it itself."""
        ...

    def pids(self) -> list[int]: ...

    def stats(self) -> CgroupStats: ...

    def destroy(self) -> None:
        """Remove the cgroup directories, retrying briefly while tasks drain. Idempotent."""
        ...


def detect_version() -> int:
    """2 on a pure unified hierarchy, else 1 (legacy or hybrid layout: v1 controllers are used)."""
    return 2 if (CGROUP_ROOT / "cgroup.controllers").exists() else 1


def self_cgroups(pid: str = "self") -> dict[str, str]:
    """Controller name → cgroup path of a process, from /proc/<pid>/cgroup ("" key for v2)."""
    result: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                result[controller] = path
    return result


def resolve_path(cgroups_path: str, parent: str) -> str:
    """Join a relative ``cgroups_path`` onto ``parent`` (the caller's cgroup); absolute stays."""
    if cgroups_path.startswith("/"):
        return os.path.normpath(cgroups_path)
    return os.path.normpath(os.path.join(parent or "/", cgroups_path))


def manager_for(cgroups_path: str) -> CgroupManager:
    """A manager for ``cgroups_path`` on this host's hierarchy (not created yet)."""
    if detect_version() == 2:
        from berth.runtime.cgroups.v2 import V2Manager

        return V2Manager.for_path(cgroups_path)
    from berth.runtime.cgroups.v1 import V1Manager

    return V1Manager.for_path(cgroups_path)


def load(data: JsonMap) -> CgroupManager:
    """Re-open a manager recorded with ``to_json``."""
    if data.get("version") == 2:
        from berth.runtime.cgroups.v2 import V2Manager

        return V2Manager.from_json(data)
    from berth.runtime.cgroups.v1 import V1Manager

    return V1Manager.from_json(data)


# -- helpers shared by v1 and v2 ---------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def read_int(path: Path) -> int:
    text = read_text(path).strip()
    if not text or text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return 0


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events, …)."""
    result: dict[str, int] = {}
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        try:
            result[key] = int(value)
        except ValueError:
            continue
    return result


def write(path: Path, value: str) -> None:
    """Write one value to a cgroup file; OSError "failed to write VALUE to PATH: reason" (runc's words)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(exc.errno, f"failed to write {value} to {path}: {reason}") from exc


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in read_text(path).split()]


def rmdir_retry(path: Path, timeout: float = 2.0) -> None:
    """rmdir a cgroup directory; EBUSY while its last tasks exit, so retry briefly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def system_cpu_ns() -> int:
    """Host-wide CPU time (all fields of /proc/stat's first ``cpu`` line but guest) in nanoseconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(v) for v in fields) * 1_000_000_000 // ticks


def ancestors(path: str) -> Iterator[str]:
    """ "/a/b/c" → "/a", "/a/b", "/a/b/c"."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:i])


def device_rules(devices: object, key: str) -> Iterator[str]:
    """OCI ``blockIO`` device entries (``{"major", "minor", key}``) as ``MAJ:MIN VALUE`` lines."""
    if not isinstance(devices, list):
        return
    for device in devices:
        if not isinstance(device, dict):
            continue
        major, minor, value = device.get("major"), device.get("minor"), device.get(key)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (major, minor, value)):
            yield f"{major}:{minor} {value}"
