"""What this host's cgroups can limit: dockerd's ``pkg/sysinfo``, read from the cgroup files.

The daemon checks a container's resources against it (``engine/containers/resources.py``): a limit the
kernel cannot apply is discarded with Docker's warning, or refused with its error. On cgroup v1 a knob
is there when its file is (``memory.swappiness``, ``cpu.rt_runtime_us``, ``blkio.weight``…) in the
hierarchy's own cgroup; on v2 when the controller is enabled (``cgroup.controllers``) and, for the few
optional ones, when the file exists. ``probe()`` is cached: the answer does not change while berthd runs.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from berth.runtime.cgroups.base import CGROUP_ROOT, read_text, self_cgroups


@dataclass(frozen=True, slots=True)
class SysInfo:
    """Which resource limits the host's cgroups support, and the CPUs and memory nodes on offer."""

    version: int = 1
    memory_limit: bool = True
    swap_limit: bool = True
    memory_reservation: bool = True
    oom_kill_disable: bool = True
    memory_swappiness: bool = True
    kernel_memory_tcp: bool = True
    cpu_shares: bool = True
    cpu_cfs: bool = True
    cpu_realtime: bool = True
    cpuset: bool = True
    cpus: str = "0"
    mems: str = "0"
    blkio_weight: bool = True
    blkio_weight_device: bool = True
    blkio_read_bps: bool = True
    blkio_write_bps: bool = True
    blkio_read_iops: bool = True
    blkio_write_iops: bool = True
    pids_limit: bool = True


def parse_list(text: str) -> set[int] | None:
    """A cpuset list ("0-3,5") as a set of numbers; None when malformed (Docker's ParseUintList)."""
    result: set[int] = set()
    text = text.strip()
    if not text:
        return result
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not (low.isascii() and low.isdigit()) or (dash and not (high.isascii() and high.isdigit())):
            return None
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            return None
        result.update(range(first, last + 1))
    return result


def _v1_dir(controller: str) -> Path | None:
    mountpoint = CGROUP_ROOT / controller
    if not (mountpoint / "cgroup.procs").exists():
        return None
    own = self_cgroups().get(controller, "/").lstrip("/")
    directory = mountpoint / own
    return directory if directory.is_dir() else mountpoint


def _probe_v1() -> SysInfo:
    memory, cpu, cpuset = _v1_dir("memory"), _v1_dir("cpu"), _v1_dir("cpuset")
    blkio, pids = _v1_dir("blkio"), _v1_dir("pids")

    def has(directory: Path | None, name: str) -> bool:
        return directory is not None and (directory / name).exists()

    weight = has(blkio, "blkio.weight") or has(blkio, "blkio.bfq.weight")
    weight_device = has(blkio, "blkio.weight_device") or has(blkio, "blkio.bfq.weight_device")
    return SysInfo(
        version=1,
        memory_limit=memory is not None,
        swap_limit=has(memory, "memory.memsw.limit_in_bytes"),
        memory_reservation=has(memory, "memory.soft_limit_in_bytes"),
        oom_kill_disable=has(memory, "memory.oom_control"),
        memory_swappiness=has(memory, "memory.swappiness"),
        kernel_memory_tcp=has(memory, "memory.kmem.tcp.limit_in_bytes"),
        cpu_shares=has(cpu, "cpu.shares"),
        cpu_cfs=has(cpu, "cpu.cfs_quota_us"),
        cpu_realtime=has(cpu, "cpu.rt_runtime_us"),
        cpuset=cpuset is not None,
        cpus=_effective(cpuset, "cpus"),
        mems=_effective(cpuset, "mems"),
        blkio_weight=weight,
        blkio_weight_device=weight_device,
        blkio_read_bps=has(blkio, "blkio.throttle.read_bps_device"),
        blkio_write_bps=has(blkio, "blkio.throttle.write_bps_device"),
        blkio_read_iops=has(blkio, "blkio.throttle.read_iops_device"),
        blkio_write_iops=has(blkio, "blkio.throttle.write_iops_device"),
        pids_limit=pids is not None,
    )


def _effective(directory: Path | None, kind: str) -> str:
    if directory is None:
        return ""
    for name in (f"cpuset.effective_{kind}", f"cpuset.{kind}"):
        text = read_text(directory / name).strip()
        if text:
            return text
    return ""


def _probe_v2(root: Path = CGROUP_ROOT) -> SysInfo:
    directory = root / self_cgroups().get("", "/").lstrip("/")
    controllers = set(read_text(directory / "cgroup.controllers").split())
    io = "io" in controllers  # io.weight (or io.bfq.weight) and io.max in every child
    return SysInfo(
        version=2,
        memory_limit="memory" in controllers,
        swap_limit="memory" in controllers,
        memory_reservation="memory" in controllers,
        oom_kill_disable=False,  # v2 has no memory.oom_control
        memory_swappiness=False,
        kernel_memory_tcp=False,
        cpu_shares="cpu" in controllers,
        cpu_cfs="cpu" in controllers,
        cpu_realtime=False,  # no RT group scheduling on v2
        cpuset="cpuset" in controllers,
        cpus=_effective(directory, "cpus") or _online("cpu"),
        mems=_effective(directory, "mems") or _online("node"),
        blkio_weight=io,
        blkio_weight_device=io,
        blkio_read_bps=io,
        blkio_write_bps=io,
        blkio_read_iops=io,
        blkio_write_iops=io,
        pids_limit="pids" in controllers,
    )


def _online(kind: str) -> str:
    return read_text(Path(f"/sys/devices/system/{kind}/online")).strip() or "0"


@functools.cache
def probe() -> SysInfo:
    """This host's SysInfo (cgroup v2 on a pure unified hierarchy, else the v1 controllers)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return _probe_v2()
    return _probe_v1()


def online_cpus() -> int:
    """CPUs this process may run on (Docker's sysinfo.NumCPU)."""
    return len(os.sched_getaffinity(0)) or (os.cpu_count() or 1)
