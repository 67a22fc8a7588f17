"""CgroupManager implementations on the real kernel. v1 runs on the hybrid layout's controllers;
v2 runs on the cgroup2 mount (/sys/fs/cgroup/unified here, which has no controllers, so only the
core files — procs, freeze, events — are exercised)."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import cgroups
from berth.runtime.cgroups import CgroupManager
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
