"""Mounts left behind: in the host's mount table only a container's network namespace shows (a bind
mount at ``EXEC_ROOT/netns/<id>``, held while the container lives; its root and volumes are mounted
inside its own mount namespace). One whose container is gone is a leftover of a crash: a repair
detaches it and removes its file. One whose container is recorded as stopped is reported only: a
start in progress makes the namespace before it records the container as running (an nsfs mount
has no age to tell the two apart by)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from berth.engine.check.findings import Finding
from berth.engine.check.records import Records
from berth.engine.containers.container import Container, ContainerStatus
from berth.runtime.linux import syscalls

_ID = re.compile("[0-9a-f]{64}")
_HOLDING = {ContainerStatus.RUNNING, ContainerStatus.PAUSED, ContainerStatus.RESTARTING}


def check_mounts(exec_root: Path, containers_root: Path, records: Records) -> Iterator[Finding]:
    netns = exec_root / "netns"
    for mount_point in sorted(_mount_points()):
        path = Path(mount_point)
        if path.parent != netns or not _ID.fullmatch(path.name):
            continue
        if not (containers_root / path.name).exists():
            yield Finding("mounts", mount_point, "network namespace left mounted: its container is gone",
                          "unmounted", fix=partial(_release, path))  # fmt: skip
            continue
        record = records.get(containers_root / path.name)
        if isinstance(record, Container) and record.status not in _HOLDING:
            yield Finding(
                "mounts",
                mount_point,
                f"network namespace left mounted: its container is {record.status.value}",
            )


def _mount_points() -> Iterator[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            yield line.split()[4].replace("\\040", " ")


def _release(path: Path) -> None:
    syscalls.umount2(str(path), syscalls.MNT_DETACH)
    path.unlink(missing_ok=True)
