"""CgroupManager implementations on the real kernel. v1 runs on the hybrid layout's controllers;
v2 runs on the cgroup2 mount (/sys/fs/cgroup/unified here, which has no controllers, so only the
core files — procs, freeze, events — are exercised)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import NotSupported
from berth.runtime import cgroups
from berth.runtime.cgroups import CgroupManager, sysinfo
from berth.runtime.cgroups.base import self_cgroups
from berth.runtime.cgroups.v1 import V1Manager
from berth.runtime.cgroups.v2 import V2Manager, shares_to_weight

pytestmark = pytest.mark.root


def _v2_root() -> Path | None:
    for candidate in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


@pytest.fixture(params=["v1", "v2"])
def manager(request: pytest.FixtureRequest) -> Iterator[CgroupManager]:
    name = f"berth-test-{uuid.uuid4().hex[:8]}"
    mgr: CgroupManager
    parent: CgroupManager
    if request.param == "v1":
        if cgroups.detect_version() != 1:
            pytest.skip("no cgroup v1 hierarchies")
        mgr, parent = V1Manager.for_path(f"{name}/c"), V1Manager.for_path(name)
    else:
        root = _v2_root()
        if root is None:
            pytest.skip("no cgroup2 mount")
        base = root / self_cgroups().get("", "/").strip("/") / name
        mgr, parent = V2Manager(base / "c", root=root), V2Manager(base, root=root)
    mgr.create()
    try:
        yield mgr
    finally:
        for cgroup in (mgr, parent):
            with contextlib.suppress(OSError):
                cgroup.destroy()


def test_join_freeze_pids_destroy(manager: CgroupManager) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        for path in manager.join_files():
            Path(path).write_text(str(sleeper.pid))
        assert manager.pids() == [sleeper.pid]
        manager.freeze()
        assert manager.frozen()
        state = Path(f"/proc/{sleeper.pid}/status").read_text()
        assert "State:\tS" in state or "State:\tD" in state
        manager.thaw()
        assert not manager.frozen()
        assert manager.oom_kills() == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    manager.destroy()
    manager.destroy()  # idempotent


def test_v1_limits_written(manager: CgroupManager) -> None:
    if not isinstance(manager, V1Manager):
        pytest.skip("v1 files")
    manager.apply(
        {
            "memory": {"limit": 64 << 20},
            "cpu": {"shares": 256, "quota": 20000, "period": 100000},
            "pids": {"limit": 7},
        }
    )
    assert (manager.dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert (manager.dirs["pids"] / "pids.max").read_text().strip() == "7"
    stats = manager.stats()
    assert stats.memory_limit == 64 << 20 and stats.pids_limit == 7


def test_weight_conversion() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000


def _disk_numbers() -> str:
    device = os.stat("/").st_dev
    numbers = f"{os.major(device)}:{os.minor(device)}"
    if not Path(f"/sys/dev/block/{numbers}").exists():
        pytest.skip("/ is not on a block device")
    return numbers


def test_v1_memory_cpu_and_blkio_knobs_written(manager: CgroupManager) -> None:
    if not isinstance(manager, V1Manager):
        pytest.skip("v1 files")
    major, minor = (int(n) for n in _disk_numbers().split(":"))
    manager.apply(
        {
            "memory": {
                "limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20, "swappiness": 5,
                "disableOOMKiller": True, "kernelTCP": 8 << 20,
            },
            "cpu": {"period": 50000, "quota": 10000, "realtimePeriod": 100000, "realtimeRuntime": 5000, "cpus": "0"},
            "blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 50}],
            },
        }
    )  # fmt: skip

    def read(controller: str, name: str) -> str:
        return (manager.dirs[controller] / name).read_text().strip()

    assert read("memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read("memory", "memory.swappiness") == "5"
    assert "oom_kill_disable 1" in read("memory", "memory.oom_control")
    if (manager.dirs["memory"] / "memory.kmem.tcp.limit_in_bytes").exists():
        assert read("memory", "memory.kmem.tcp.limit_in_bytes") == str(8 << 20)
    assert (read("cpu", "cpu.cfs_period_us"), read("cpu", "cpu.cfs_quota_us")) == ("50000", "10000")
    # RT: the parent this test made had 0 µs of RT time; it was raised to fit the child's 5%.
    assert (read("cpu", "cpu.rt_period_us"), read("cpu", "cpu.rt_runtime_us")) == ("100000", "5000")
    assert (manager.dirs["cpu"].parent / "cpu.rt_runtime_us").read_text().strip() == "50000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} {1 << 20}"
    assert read("blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 50"
    # A partial object (docker update) changes only what it names; lowering memory writes limit first.
    manager.apply({"memory": {"limit": 32 << 20, "swap": 32 << 20}, "pids": {"limit": -1}})
    assert read("memory", "memory.limit_in_bytes") == str(32 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(32 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read("pids", "pids.max") == "max"
    assert read("cpu", "cpu.cfs_quota_us") == "10000"


def test_v1_write_errors_name_the_file(manager: CgroupManager) -> None:
    if not isinstance(manager, V1Manager):
        pytest.skip("v1 files")
    with pytest.raises(OSError, match=r"failed to write 1 to .*cpu\.cfs_period_us: invalid argument"):
        manager.apply({"cpu": {"period": 1}})


def test_v2_refuses_the_v1_only_knobs(manager: CgroupManager) -> None:
    if not isinstance(manager, V2Manager):
        pytest.skip("v2")
    for resources in (
        {"memory": {"swappiness": 10}},
        {"memory": {"disableOOMKiller": True}},
        {"memory": {"kernelTCP": 1 << 20}},
        {"cpu": {"realtimeRuntime": 1000}},
    ):
        with pytest.raises(NotSupported, match="cgroup v2 has no equivalent"):
            manager.apply(resources)
    manager.apply({"memory": {"disableOOMKiller": False}})  # the default: nothing to refuse


def test_v2_sysinfo_reads_the_enabled_controllers() -> None:
    """dockerd's sysinfo on the unified hierarchy: here it has no memory/cpu/io/pids controllers (they
    are on v1), so a v2 host like it gets every such limit discarded with Docker's warnings."""
    root = _v2_root()
    if root is None:
        pytest.skip("no cgroup2 mount")
    info = sysinfo._probe_v2(root)
    controllers = set(
        (root / self_cgroups().get("", "/").lstrip("/") / "cgroup.controllers").read_text().split()
    )
    assert info.version == 2
    assert info.memory_limit == ("memory" in controllers)
    assert info.cpu_cfs == ("cpu" in controllers) and info.pids_limit == ("pids" in controllers)
    assert info.blkio_read_bps == ("io" in controllers)
    assert not (
        info.oom_kill_disable or info.memory_swappiness or info.kernel_memory_tcp or info.cpu_realtime
    )
