"""cgroup v1 (legacy and hybrid layouts): one directory per controller hierarchy."""

from __future__ import annotations

import os
from pathlib import Path

from berth.runtime.cgroups.base import (
    CGROUP_ROOT,
    JsonMap,
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

CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
_UNLIMITED = 0x7FFFFFFFFFFFF000  # what memory.limit_in_bytes reads when unlimited (page-rounded max)


THROTTLE_FILES = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rt_share(runtime: int, period: int, parent_period: int) -> int:
    """``runtime`` per ``period`` as microseconds of the parent's period (rounded up)."""
    if runtime <= 0 or period <= 0:
        return 0
    return -(-runtime * parent_period // period)


_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


class V1Manager:
    """A container cgroup on the v1 hierarchies: ``dirs`` maps controller → absolute directory."""

    version = 1

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    @classmethod
    def for_path(cls, cgroups_path: str) -> V1Manager:
        own = self_cgroups()
        dirs: dict[str, Path] = {}
        for controller in CONTROLLERS:
            mountpoint = CGROUP_ROOT / controller
            if not (mountpoint / "cgroup.procs").exists():
                continue
            path = resolve_path(cgroups_path, own.get(controller, "/"))
            dirs[controller] = mountpoint / path.lstrip("/")
        return cls(dirs)

    @classmethod
    def from_json(cls, data: JsonMap) -> V1Manager:
        raw = data.get("dirs")
        dirs = {str(k): Path(str(v)) for k, v in raw.items()} if isinstance(raw, dict) else {}
        return cls(dirs)

    def to_json(self) -> dict[str, object]:
        return {"version": 1, "dirs": {k: str(v) for k, v in self.dirs.items()}}

    def create(self) -> None:
        for controller, directory in self.dirs.items():
            if controller == "cpuset":
                self._create_cpuset(directory)
            else:
                directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _create_cpuset(directory: Path) -> None:
        # A new v1 cpuset has empty cpus/mems and refuses tasks (ENOSPC): copy them down from the parent
        # at every level, like runc's cpusetEnsureParent. Every level that is still empty, not only the
        # ones we make: a concurrent start may have made the parent and not yet filled it in.
        unfilled: list[Path] = []
        current = directory
        while not current.exists() or not all(read_text(current / n).strip() for n in _CPUSET_FILES):
            unfilled.append(current)
            if current.parent == current:
                break
            current = current.parent
        for path in reversed(unfilled):
            path.mkdir(exist_ok=True)
            for name in _CPUSET_FILES:
                if not read_text(path / name).strip():
                    write(path / name, read_text(path.parent / name).strip() or "0")

    def apply(self, resources: JsonMap) -> None:
        memory = resources.get("memory")
        if isinstance(memory, dict) and "memory" in self.dirs:
            mem_dir = self.dirs["memory"]
            limit, swap = _int(memory.get("limit")), _int(memory.get("swap"))
            if limit is not None:
                # memsw must stay >= limit: when lowering, write memsw last; when raising, first.
                memsw = mem_dir / "memory.memsw.limit_in_bytes"
                has_memsw = swap is not None and memsw.exists()
                if has_memsw and swap is not None and (swap == -1 or swap > read_int(memsw)):
                    write(memsw, str(swap))
                    has_memsw = False
                write(mem_dir / "memory.limit_in_bytes", str(limit))
                if has_memsw and swap is not None:
                    write(memsw, str(swap))
            reservation = _int(memory.get("reservation"))
            if reservation is not None:
                write(mem_dir / "memory.soft_limit_in_bytes", str(reservation))
            swappiness = _int(memory.get("swappiness"))
            if swappiness is not None and 0 <= swappiness <= 100:
                write(mem_dir / "memory.swappiness", str(swappiness))
            if memory.get("disableOOMKiller") is True:
                write(mem_dir / "memory.oom_control", "1")
            kernel_tcp = _int(memory.get("kernelTCP"))
            if kernel_tcp:
                write(mem_dir / "memory.kmem.tcp.limit_in_bytes", str(kernel_tcp))
        cpu = resources.get("cpu")
        if isinstance(cpu, dict) and "cpu" in self.dirs:
            cpu_dir = self.dirs["cpu"]
            shares, period, quota = _int(cpu.get("shares")), _int(cpu.get("period")), _int(cpu.get("quota"))
            if shares:
                write(cpu_dir / "cpu.shares", str(shares))
            if period:
                write(cpu_dir / "cpu.cfs_period_us", str(period))
            if quota:
                write(cpu_dir / "cpu.cfs_quota_us", str(quota))
            rt_period, rt_runtime = _int(cpu.get("realtimePeriod")), _int(cpu.get("realtimeRuntime"))
            if rt_period:
                write(cpu_dir / "cpu.rt_period_us", str(rt_period))
            if rt_runtime:
                self._make_rt_room(cpu_dir, rt_runtime, rt_period or read_int(cpu_dir / "cpu.rt_period_us"))
                write(cpu_dir / "cpu.rt_runtime_us", str(rt_runtime))
            cpus, mems = cpu.get("cpus"), cpu.get("mems")
            if isinstance(cpus, str) and cpus and "cpuset" in self.dirs:
                write(self.dirs["cpuset"] / "cpuset.cpus", cpus)
            if isinstance(mems, str) and mems and "cpuset" in self.dirs:
                write(self.dirs["cpuset"] / "cpuset.mems", mems)
        block_io = resources.get("blockIO")
        if isinstance(block_io, dict) and "blkio" in self.dirs:
            self._apply_block_io(self.dirs["blkio"], block_io)
        pids = resources.get("pids")
        if isinstance(pids, dict) and "pids" in self.dirs:
            limit = _int(pids.get("limit"))
            if limit is not None:
                write(self.dirs["pids"] / "pids.max", str(limit) if limit > 0 else "max")
        devices = resources.get("devices")
        if isinstance(devices, list) and "devices" in self.dirs:
            self._apply_devices(devices)

    @staticmethod
    def _apply_block_io(directory: Path, block_io: JsonMap) -> None:
        # CFQ's blkio.weight, or BFQ's blkio.bfq.weight on kernels without CFQ (as runc picks).
        bfq = not (directory / "blkio.weight").exists()
        weight = _int(block_io.get("weight"))
        if weight:
            write(directory / ("blkio.bfq.weight" if bfq else "blkio.weight"), str(weight))
        for device in device_rules(block_io.get("weightDevice"), "weight"):
            write(directory / ("blkio.bfq.weight_device" if bfq else "blkio.weight_device"), device)
        for key, name in THROTTLE_FILES.items():
            for device in device_rules(block_io.get(key), "rate"):
                write(directory / name, device)

    @staticmethod
    def _make_rt_room(directory: Path, runtime: int, period: int) -> None:
        """RT group scheduling: a cgroup's cpu.rt_runtime_us must fit in its parent's share (new cgroups
        get 0). Raise the ancestors berth made (below the caller's own cgroup and the hierarchy's root)
        just enough, the highest first, as dockerd's initCPURtController does for --cgroup-parent."""
        mountpoint = CGROUP_ROOT / "cpu"
        own = mountpoint / self_cgroups().get("cpu", "/").lstrip("/")
        needed: list[tuple[Path, int]] = []
        child, child_runtime, child_period = directory, runtime, period or 1_000_000
        while child.parent not in (mountpoint, own) and mountpoint in child.parent.parents:
            parent = child.parent
            parent_period = read_int(parent / "cpu.rt_period_us") or 1_000_000
            have = int(read_text(parent / "cpu.rt_runtime_us").strip() or "0")
            if have == -1:
                break
            total = _rt_share(child_runtime, child_period, parent_period)
            for sibling in parent.iterdir():
                if sibling.is_dir() and sibling != child:
                    total += _rt_share(
                        read_int(sibling / "cpu.rt_runtime_us"),
                        read_int(sibling / "cpu.rt_period_us") or 1_000_000,
                        parent_period,
                    )
            if have >= total:
                break
            needed.append((parent, total))
            child, child_runtime, child_period = parent, total, parent_period
        for parent, total in reversed(needed):
            write(parent / "cpu.rt_runtime_us", str(total))

    def _apply_devices(self, rules: list[object]) -> None:
        directory = self.dirs["devices"]
        for rule in rules:
            if not isinstance(rule, dict):
                continue
            kind = str(rule.get("type") or "a")
            major, minor = _int(rule.get("major")), _int(rule.get("minor"))
            access = str(rule.get("access") or "rwm")
            line = f"{kind} {'*' if major is None or major < 0 else major}:"
            line += f"{'*' if minor is None or minor < 0 else minor} {access}"
            if kind == "a":
                line = "a"
            write(directory / ("devices.allow" if rule.get("allow") else "devices.deny"), line)

    def join_files(self) -> list[str]:
        # ``tasks``, not ``cgroup.procs``: moving only the writing thread (the whole of a single-threaded
        # process) spares the kernel's global threadgroup lock, whose RCU grace period makes a
        # cgroup.procs write take 5-15 ms here against ~0.3 ms; it is most of an exec's latency.
        return [str(d / "tasks") for d in self.dirs.values()]

    def freeze(self) -> None:
        self._set_freezer("FROZEN")

    def thaw(self) -> None:
        self._set_freezer("THAWED")

    def _set_freezer(self, state: str) -> None:
        path = self.dirs["freezer"] / "freezer.state"
        write(path, state)
        for _ in range(1000):  # FREEZING is transient; wait until the kernel reports the goal.
            if read_text(path).strip() == state:
                return
            os.sched_yield()
            write(path, state)

    def frozen(self) -> bool:
        directory = self.dirs.get("freezer")
        return directory is not None and read_text(directory / "freezer.state").strip() == "FROZEN"

    def oom_kills(self) -> int:
        directory = self.dirs.get("memory")
        return 0 if directory is None else read_keyed(directory / "memory.oom_control").get("oom_kill", 0)

    def oom_events_file(self) -> str:
        directory = self.dirs.get("memory")
        return "" if directory is None else str(directory / "memory.oom_control")

    def pids(self) -> list[int]:
        directory = self.dirs.get("pids") or self.dirs.get("memory") or next(iter(self.dirs.values()))
        return read_pids(directory / "cgroup.procs")

    def stats(self) -> CgroupStats:
        mem = self.dirs.get("memory")
        cpuacct = self.dirs.get("cpuacct")
        cpu = self.dirs.get("cpu")
        pids = self.dirs.get("pids")
        limit = read_int(mem / "memory.limit_in_bytes") if mem else 0
        ticks_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        acct = read_keyed(cpuacct / "cpuacct.stat") if cpuacct else {}
        percpu = [int(v) for v in read_text(cpuacct / "cpuacct.usage_percpu").split()] if cpuacct else []
        throttle = read_keyed(cpu / "cpu.stat") if cpu else {}
        return CgroupStats(
            memory_usage=read_int(mem / "memory.usage_in_bytes") if mem else 0,
            memory_limit=0 if limit >= _UNLIMITED else limit,
            memory_max_usage=read_int(mem / "memory.max_usage_in_bytes") if mem else 0,
            memory_stats=read_keyed(mem / "memory.stat") if mem else {},
            cpu_total_ns=read_int(cpuacct / "cpuacct.usage") if cpuacct else 0,
            cpu_user_ns=acct.get("user", 0) * ticks_ns,
            cpu_system_ns=acct.get("system", 0) * ticks_ns,
            percpu_ns=tuple(percpu),
            system_cpu_ns=system_cpu_ns(),
            online_cpus=len(os.sched_getaffinity(0)),
            throttled_periods=throttle.get("nr_throttled", 0),
            throttled_time_ns=throttle.get("throttled_time", 0),
            pids_current=read_int(pids / "pids.current") if pids else 0,
            pids_limit=read_int(pids / "pids.max") if pids else 0,
        )

    def destroy(self) -> None:
        # Leaf first; parents we created (e.g. "berth") are shared with other containers and stay.
        for directory in self.dirs.values():
            rmdir_retry(directory)
