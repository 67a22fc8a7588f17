"""A container's mount points, decided once at create as Docker's ``registerMountPoints`` does.

Sources, in Docker's order (a later one replaces an earlier one at the same destination):

1. ``HostConfig.VolumesFrom`` (``CTR[:ro|:rw]``): the other container's mount points, same paths;
2. ``HostConfig.Binds`` (``-v``): host paths and named/anonymous volumes, Docker's ``ParseMountRaw``;
3. ``HostConfig.Mounts`` (``--mount``): bind, volume, tmpfs and image mounts, ``ParseMountSpec``;
4. ``Config.Volumes`` (the image's ``VOLUME``\\s, ``-v /path`` of the CLI): an anonymous volume at each
   path nothing else covers.

Two binds/mounts on one path are refused ("Duplicate mount point"). The result is written to the
container's directory and read back from there, so a container keeps what ``--volumes-from`` gave it
after the other container is gone::

    <containers-root>/<container_id>/mounts.json    [MountPoint, ...] (atomic writes)

The model and shared checks are in ``mountpoint.py``, ``--mount`` entries in ``mount_specs.py``;
``mount_setup.py`` turns mount points into OCI mounts at each start; ``inspect_json`` is what
``inspect``'s ``Mounts`` shows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.engine import volumes
from berth.engine.containers.container import Container
from berth.engine.containers.mount_specs import for_api_version, parse_mount
from berth.engine.containers.mountpoint import (
    COPY_MODES,
    DEFAULT_PROPAGATION,
    PROPAGATIONS,
    MountPoint,
    check_driver,
    clean_path,
    mount_error,
    target_problem,
    valid_mode,
)
from berth.errors import InvalidArgument
from berth.util.atomic import read_json, write_json

__all__ = [
    "MountPoint",
    "for_api_version",
    "inspect_json",
    "of",
    "parse",
    "parse_bind",
    "parse_mount",
    "save",
]

RECORD = "mounts.json"
VolumesFrom = Callable[[str], Sequence[MountPoint]]


# -------------------------------------------------------------------- -v (Binds)


def parse_bind(raw: str, container_id: str, volume_driver: str = "") -> MountPoint:
    """One ``HostConfig.Binds`` entry (``[SRC:]DST[:MODE]``), as Docker's ``ParseMountRaw``."""
    spec_error = InvalidArgument(f"invalid volume specification: '{raw}'")
    parts = raw.split(":", 3)
    if parts[0] == "":
        raise spec_error
    source, mode = "", ""
    if len(parts) == 1:
        target = parts[0]
    elif len(parts) == 2:
        if valid_mode(parts[1]):
            raise spec_error  # "/foo:rw": a destination with a mode is not a volume
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise spec_error
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    flags = set(mode.split(",")) - {""}
    kind = "bind" if source.startswith("/") else "volume"
    propagation = next((p for p in PROPAGATIONS if p in flags), "")

    def fail(message: str) -> InvalidArgument:
        return InvalidArgument(f"{spec_error}: {mount_error(kind, message)}")

    problem = target_problem(target)
    if problem:
        raise fail(problem)
    if kind == "bind":
        if "nocopy" in flags:
            raise fail("field VolumeOptions must not be specified")
        return MountPoint(
            "bind", clean_path(target), source=clean_path(source), mode=mode, rw="ro" not in flags,
            propagation=propagation or DEFAULT_PROPAGATION, explicit_propagation=bool(propagation),
            create_source=True,  # Docker creates a missing -v host directory at start
        )  # fmt: skip
    if propagation:
        raise fail("field BindOptions must not be specified")
    driver = check_driver(volume_driver)  # Docker looks the driver up before the local driver checks the name
    if source:
        volumes.validate_name(source)
    destination = clean_path(target)
    return MountPoint(
        "volume", destination, name=source or volumes.anonymous_name(container_id, destination),
        driver=driver, mode=mode or "z", rw="ro" not in flags, anonymous=not source,
        copy_data="nocopy" not in flags,
    )  # fmt: skip


# -------------------------------------------------------------------- --volumes-from


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """``CTR[:MODE]`` → (container, read-write?), as Docker's ``ParseVolumesFrom``."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    flags = set(mode.split(",")) - {""}
    if mode and (not valid_mode(mode) or flags & set(PROPAGATIONS) or flags & COPY_MODES):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, "ro" not in flags


# -------------------------------------------------------------------- all of a container's mounts


def _in_daemon_root(source: str, daemon_root: str) -> bool:
    return bool(daemon_root) and (source.startswith(daemon_root) or daemon_root.startswith(source))


def parse(
    config: Mapping[str, Any],
    host: Mapping[str, Any],
    *,
    container_id: str,
    volumes_from: VolumesFrom,
    daemon_root: str = "",
    readonly_non_recursive: bool = False,
) -> list[MountPoint]:
    """Every mount point of a new container, in Docker's order of precedence (module docstring).
    ``readonly_non_recursive``: read-only binds stay non-recursive (clients older than API 1.44)."""
    points: dict[str, MountPoint] = {}
    for spec in host.get("VolumesFrom") or []:
        ref, rw = parse_volumes_from(str(spec))
        for m in volumes_from(ref):
            points[m.destination] = dataclasses.replace(
                m, rw=m.rw and rw, mode="", copy_data=False, driver_opts=None, labels=None
            )
    binds: set[str] = set()
    tmpfs = {clean_path(str(p)) for p in host.get("Tmpfs") or {}}
    volume_driver = str(host.get("VolumeDriver") or "")
    for raw in host.get("Binds") or []:
        point = _slave_in_daemon_root(parse_bind(str(raw), container_id, volume_driver), daemon_root)
        if point.type == "bind" and not point.rw and readonly_non_recursive:
            point = dataclasses.replace(point, readonly_non_recursive=True)
        if point.destination in binds or point.destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {point.destination}")
        binds.add(point.destination)
        points[point.destination] = point
    for cfg in host.get("Mounts") or []:
        point = _slave_in_daemon_root(parse_mount(cfg, container_id), daemon_root)
        if point.type == "bind" and not point.rw and readonly_non_recursive:
            point = dataclasses.replace(point, readonly_non_recursive=True)
        if point.destination in binds:
            raise InvalidArgument(f"Duplicate mount point: {cfg.get('Target')}")
        binds.add(point.destination)
        points[point.destination] = point
    for raw in config.get("Volumes") or {}:
        destination = clean_path(str(raw))
        if destination in points or destination in tmpfs:
            continue
        problem = target_problem(destination)
        if problem:
            raise InvalidArgument(f"invalid volume specification: '{raw}': {problem}")
        points[destination] = MountPoint(
            "volume", destination, name=volumes.anonymous_name(container_id, destination),
            driver=check_driver(volume_driver), anonymous=True,
        )  # fmt: skip
    return list(points.values())


def _slave_in_daemon_root(point: MountPoint, daemon_root: str) -> MountPoint:
    """Docker's ``validateBindDaemonRoot``: a bind of (or into) the daemon's root is rslave, so that the
    daemon's later mounts reach it; only rslave or rshared may be asked for there."""
    if point.type != "bind" or not _in_daemon_root(point.source, daemon_root):
        return point
    if not point.explicit_propagation:
        return dataclasses.replace(point, propagation="rslave")
    if point.propagation not in ("rslave", "rshared"):
        raise InvalidArgument(
            'invalid mount config: must use either propagation mode "rslave" or "rshared" when mount '
            f'source is within the daemon root, daemon root: "{daemon_root}", bind mount source: '
            f'"{point.source}", propagation: "{point.propagation}"'
        )
    return point


# -------------------------------------------------------------------- the record


def save(directory: Path, points: Sequence[MountPoint]) -> None:
    write_json(directory / RECORD, [p.to_json() for p in points], mode=0o600, durable=False)


# The records read, by path: ``ps`` lists every container's mounts, and reading and decoding a
# thousand small files was most of its time. Entries of removed containers are dropped by ``forget``.
_READ: dict[Path, tuple[tuple[int, int, int], tuple[MountPoint, ...]]] = {}


def forget(container: Container) -> None:
    _READ.pop(container.directory / RECORD, None)


def of(container: Container) -> list[MountPoint]:
    """The container's mount points: its record, or (containers made before it existed) parsed again."""
    path = container.directory / RECORD
    try:
        stat = path.stat()
    except FileNotFoundError:
        pass
    else:
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a rewrite (a rename) changes it
        cached = _READ.get(path)
        if cached is not None and cached[0] == stamp:
            return list(cached[1])
        raw = read_json(path)
        points = [MountPoint.from_json(m) for m in raw if isinstance(m, dict)]
        _READ[path] = (stamp, tuple(points))
        return points
    return parse(
        container.config,
        {**container.host_config, "VolumesFrom": None},
        container_id=container.container_id,
        volumes_from=lambda ref: [],
    )


def volume_names(container: Container) -> list[str]:
    return [m.name for m in of(container) if m.type == "volume"]


def tmpfs_mounts(tmpfs: dict[str, str]) -> list[dict[str, Any]]:
    """``--tmpfs PATH[:OPTIONS]`` (HostConfig.Tmpfs): Docker's noexec,nosuid,nodev defaults first."""
    return [
        {"destination": path, "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", *[o for o in options.split(",") if o]]}
        for path, options in tmpfs.items()
    ]  # fmt: skip


def image_key(container_id: str, destination: str) -> str:
    return f"{container_id}-image-{hashlib.sha256(destination.encode()).hexdigest()[:16]}"


def inspect_json(points: Sequence[MountPoint], volume_dir: Callable[[str], Path]) -> list[dict[str, Any]]:
    """``Mounts`` of inspect and ``ps``: Docker's ``MountPoint`` JSON (Name and Driver only when set)."""
    out = []
    for m in sorted(points, key=lambda p: p.destination):
        entry: dict[str, Any] = {"Type": m.type}
        if m.name:
            entry["Name"] = m.name
        entry["Source"] = (
            str(volume_dir(m.name)) if m.type == "volume" else m.source if m.type == "bind" else ""
        )
        entry["Destination"] = m.destination
        if m.driver:
            entry["Driver"] = m.driver
        entry.update({"Mode": m.mode, "RW": m.rw, "Propagation": m.propagation})
        out.append(entry)
    return out
