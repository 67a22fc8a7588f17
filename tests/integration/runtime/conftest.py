"""Fixtures: a session-wide busybox rootfs; per test a runtime root, a unique cgroup parent, cleanup."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import Maker, make_busybox_rootfs

from berth.runtime import LinuxRuntime, cgroups

pytestmark = pytest.mark.root


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"berth-test-{uuid.uuid4().hex[:8]}"
    yield parent
    with contextlib.suppress(OSError):
        cgroups.manager_for(parent).destroy()


@pytest.fixture
def runtime(tmp_path: Path, cgroup_parent: str) -> Iterator[LinuxRuntime]:
    rt = LinuxRuntime(tmp_path / "runtime", cgroup_parent=cgroup_parent)
    try:
        yield rt
    finally:
        for container_id in rt.list():
            rt.delete(container_id, force=True)
        rt.close()


@pytest.fixture
def maker(tmp_path: Path, busybox_rootfs: Path, runtime: LinuxRuntime, cgroup_parent: str) -> Maker:
    return Maker(tmp_path, busybox_rootfs, runtime, cgroup_parent)
