"""The records of containers, volumes and networks: each file must read back as what wrote it. One
that does not (torn, foreign, of the wrong shape) is moved to ``<data-root>/lost+found/`` by a
repair — never deleted, for it may hold the only copy of what a user made — and the listings skip it
meanwhile. A container whose filesystem is gone is reported; only its owner can decide."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from berth.engine.check.findings import Finding
from berth.engine.containers.container import Container
from berth.engine.networks.service import Network
from berth.engine.volumes import VolumeService
from berth.store.snapshots import NaiveSnapshotter, OverlaySnapshotter
from berth.util.atomic import read_json

LOST_FOUND = "lost+found"
Snapshotter = OverlaySnapshotter | NaiveSnapshotter


def _move_aside(path: Path, lost_found: Path, kind: str) -> str:
    """Where ``path`` goes on repair (a new name when that place is taken)."""
    target = lost_found / kind / path.name
    suffix = 1
    while target.exists():
        target = lost_found / kind / f"{path.name}.{suffix}"
        suffix += 1
    return str(target)


def _mover(path: Path, target: str) -> None:
    Path(target).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.rename(path, target)


def _aside(area: str, path: Path, problem: str, lost_found: Path) -> Finding:
    target = _move_aside(path, lost_found, area)
    shown = target.removeprefix(str(lost_found.parent) + "/")
    return Finding(area, path.name, problem, f"moved to {shown}", fix=lambda: _mover(path, target))


Records = dict[Path, Container | OSError | ValueError]  # each container directory: its record, or why not


def read_containers(root: Path) -> Records:
    """Every container directory's record, read once for all the checks of one run."""
    records: Records = {}
    for directory in sorted(root.iterdir()):
        if directory.is_dir():
            try:
                records[directory] = Container.load(directory)
            except (OSError, ValueError) as exc:
                records[directory] = exc
    return records


def check_containers(records: Records, snapshotter: Snapshotter, lost_found: Path) -> Iterator[Finding]:
    for directory, record in records.items():
        if isinstance(record, FileNotFoundError):
            yield _aside("containers", directory, "no record (a create that did not finish)", lost_found)
        elif not isinstance(record, Container):
            yield _aside("containers", directory, f"unreadable record: {record}", lost_found)
        elif record.snapshot_key and not snapshotter.exists(record.snapshot_key):
            yield Finding("containers", record.container_id,
                          f"its filesystem (snapshot {record.snapshot_key}) is missing: remove the container")  # fmt: skip


def container_snapshots(records: Records) -> set[str]:
    """The snapshot keys the readable container records name."""
    return {record.snapshot_key for record in records.values() if isinstance(record, Container)}


def check_volumes(volumes: VolumeService, root: Path, lost_found: Path) -> Iterator[Finding]:
    for directory in sorted(root.iterdir()):
        if not directory.is_dir():
            continue
        problem = volumes.record_problem(directory.name)
        if problem is None:
            if volumes.copy_cut_short(directory.name):
                yield Finding("volumes", directory.name, "the copy of image content into it was cut short",
                              "emptied (the next container to use it copies again)",
                              fix=partial(volumes.redo_copy, directory.name))  # fmt: skip
            continue
        data = directory / "_data"
        if problem.startswith("no record") and (not data.exists() or not any(data.iterdir())):
            yield Finding("volumes", directory.name, problem, "removed (it held nothing)",
                          fix=partial(_remove_empty_volume, directory))  # fmt: skip
        else:
            yield _aside("volumes", directory, problem, lost_found)


def _remove_empty_volume(directory: Path) -> None:
    data = directory / "_data"
    if data.exists() and any(data.iterdir()):
        raise OSError(f"{data} is no longer empty")  # written meanwhile: left alone
    shutil.rmtree(directory)


def check_networks(root: Path, lost_found: Path) -> Iterator[Finding]:
    for path in sorted(root.glob("*.json")):
        try:
            Network.from_record(read_json(path))
        except (OSError, ValueError) as exc:
            yield _aside("networks", path, f"unreadable record: {exc}", lost_found)
