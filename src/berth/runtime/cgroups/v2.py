"""cgroup v2 (pure unified hierarchy at /sys/fs/cgroup): one directory for every controller."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from berth.errors import NotSupported
from berth.runtime.cgroups import devicefilter
from berth.runtime.cgroups.base import (
    CGROUP_ROOT,
    JsonMap,
    ancestors,
    device_rules,
    read_int,
    read_keyed,
    read_pids,
    read_text,
    resolve_path,
    rmdir_retry,
    self_cgroups,
    system_cpu_ns,
    write,
)
from berth.runtime.types import CgroupStats


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


IO_MAX_KEYS = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) → io.weight (1..10000), the conversion runc and crun use."""
    if weight <= 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) → cpu.weight (1..10000), the conversion runc and crun use."""
    if shares <= 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _refuse_v1_only(section: JsonMap, keys: tuple[str, ...]) -> None:
    """Knobs cgroup v2 does not have: an error rather than a limit silently not applied."""
    for key in keys:
        value = section.get(key)
        if value not in (None, 0, False):
            raise NotSupported(f"cgroup v2 has no equivalent of the v1 {key} setting")


class V2Manager:
    """A container cgroup on the unified hierarchy."""

    version = 2

    def __init__(self, directory: Path, *, root: Path = CGROUP_ROOT) -> None:
        self.directory = directory
        self.root = root  # the cgroup2 mount (tests use the hybrid layout's /sys/fs/cgroup/unified)

    @classmethod
    def for_path(cls, cgroups_path: str) -> V2Manager:
        path = resolve_path(cgroups_path, self_cgroups().get("", "/"))
        return cls(CGROUP_ROOT / path.lstrip("/"))

    @classmethod
    def from_json(cls, data: JsonMap) -> V2Manager:
        return cls(Path(str(data.get("dir", ""))), root=Path(str(data.get("root") or CGROUP_ROOT)))

    def to_json(self) -> dict[str, object]:
        return {"version": 2, "dir": str(self.directory), "root": str(self.root)}

    def create(self) -> None:
        relative = "/" + str(self.directory.relative_to(self.root))
        own = "/" + self_cgroups().get("", "/").strip("/")
        for path in ancestors(relative):
            directory = self.root / path.lstrip("/")
            directory.mkdir(exist_ok=True)
            if directory == self.directory or not path.startswith(own.rstrip("/") + "/"):
                continue
            # Enable controllers for the level below. Fails with EBUSY when the parent has processes
            # (no-internal-process rule); the controllers then stay whatever the parent already gives.
            wanted = read_text(directory / "cgroup.controllers").split()
            enable = " ".join(f"+{c}" for c in wanted if c in ("cpu", "memory", "pids", "io", "cpuset"))
            if enable:
                # Best effort; see the comment above.
                with contextlib.suppress(OSError):
                    write(directory / "cgroup.subtree_control", enable)

    def apply(self, resources: JsonMap) -> None:
        d = self.directory
        memory = resources.get("memory")
        if isinstance(memory, dict):
            limit, swap = _int(memory.get("limit")), _int(memory.get("swap"))
            if limit is not None:
                write(d / "memory.max", str(limit) if limit > 0 else "max")
                if swap is not None and (d / "memory.swap.max").exists():
                    # OCI swap is memory+swap (v1 memsw); v2's swap.max is the swap part alone.
                    write(d / "memory.swap.max", "max" if swap == -1 else str(max(swap - limit, 0)))
            reservation = _int(memory.get("reservation"))
            if reservation is not None:
                write(d / "memory.low", str(reservation))
            _refuse_v1_only(memory, ("swappiness", "kernelTCP", "disableOOMKiller"))
        cpu = resources.get("cpu")
        if isinstance(cpu, dict):
            shares, period, quota = _int(cpu.get("shares")), _int(cpu.get("period")), _int(cpu.get("quota"))
            if shares:
                write(d / "cpu.weight", str(shares_to_weight(shares)))
            if quota or period:
                # "QUOTA" alone keeps the period (an update of --cpu-quota only), as runc writes it.
                quota_text = str(quota) if quota and quota > 0 else "max"
                write(d / "cpu.max", f"{quota_text} {period}" if period else quota_text)
            _refuse_v1_only(cpu, ("realtimePeriod", "realtimeRuntime"))
            cpus, mems = cpu.get("cpus"), cpu.get("mems")
            if isinstance(cpus, str) and cpus:
                write(d / "cpuset.cpus", cpus)
            if isinstance(mems, str) and mems:
                write(d / "cpuset.mems", mems)
        block_io = resources.get("blockIO")
        if isinstance(block_io, dict):
            self._apply_block_io(block_io)
        pids = resources.get("pids")
        if isinstance(pids, dict):
            limit = _int(pids.get("limit"))
            if limit is not None:
                write(d / "pids.max", str(limit) if limit > 0 else "max")
        devices = resources.get("devices")
        if isinstance(devices, list):  # v2 has no devices files: an eBPF program answers instead
            devicefilter.attach(d, [r for r in devices if isinstance(r, dict)])

    def _apply_block_io(self, block_io: JsonMap) -> None:
        d = self.directory
        # BFQ's io.bfq.weight takes blkio's 10..1000 as it is; io.weight (1..10000) needs converting.
        bfq = (d / "io.bfq.weight").exists()
        weight = _int(block_io.get("weight"))
        if weight and bfq:
            write(d / "io.bfq.weight", str(weight))
        elif weight:
            write(d / "io.weight", f"default {blkio_to_io_weight(weight)}")
        for line in device_rules(block_io.get("weightDevice"), "weight"):
            device, value = line.split(" ")
            value = value if bfq else str(blkio_to_io_weight(int(value)))
            write(d / ("io.bfq.weight" if bfq else "io.weight"), f"{device} {value}")
        for key, name in IO_MAX_KEYS.items():
            for line in device_rules(block_io.get(key), "rate"):
                device, rate = line.split(" ")
                write(d / "io.max", f"{device} {name}={rate}")

    def join_files(self) -> list[str]:
        return [str(self.directory / "cgroup.procs")]

    def freeze(self) -> None:
        self._set_freeze("1")

    def thaw(self) -> None:
        self._set_freeze("0")

    def _set_freeze(self, value: str) -> None:
        write(self.directory / "cgroup.freeze", value)
        for _ in range(1000):
            if read_keyed(self.directory / "cgroup.events").get("frozen") == int(value):
                return
            os.sched_yield()

    def frozen(self) -> bool:
        return read_text(self.directory / "cgroup.freeze").strip() == "1"

    def oom_kills(self) -> int:
        return read_keyed(self.directory / "memory.events").get("oom_kill", 0)

    def oom_events_file(self) -> str:
        return str(self.directory / "memory.events")

    def pids(self) -> list[int]:
        return read_pids(self.directory / "cgroup.procs")

    def stats(self) -> CgroupStats:
        d = self.directory
        cpu = read_keyed(d / "cpu.stat")
        limit_text = read_text(d / "memory.max").strip()
        return CgroupStats(
            memory_usage=read_int(d / "memory.current"),
            memory_limit=0 if limit_text in ("", "max") else int(limit_text),
            memory_max_usage=read_int(d / "memory.peak"),
            memory_stats=read_keyed(d / "memory.stat"),
            cpu_total_ns=cpu.get("usage_usec", 0) * 1000,
            cpu_user_ns=cpu.get("user_usec", 0) * 1000,
            cpu_system_ns=cpu.get("system_usec", 0) * 1000,
            percpu_ns=(),
            system_cpu_ns=system_cpu_ns(),
            online_cpus=len(os.sched_getaffinity(0)),
            throttled_periods=cpu.get("nr_throttled", 0),
            throttled_time_ns=cpu.get("throttled_usec", 0) * 1000,
            pids_current=read_int(d / "pids.current"),
            pids_limit=read_int(d / "pids.max"),
        )

    def destroy(self) -> None:
        rmdir_retry(self.directory)
