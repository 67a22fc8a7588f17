"""From a container's mount points (``mounts.py``) to the OCI ``mounts`` of one start, as Docker's
``WithMounts`` builds them.

* binds: ``rbind`` (``bind`` with bind-recursive=disabled), ``rro`` for read-only (recursively
  read-only, Docker ≥ 25; ``ro`` with bind-recursive=writable), then the propagation. A shared or
  slave propagation needs the host's mount of the source to be shared (or slave): Docker's
  "path X is mounted on Y but it is not a shared mount"; the container's root then becomes
  ``shared`` / ``rslave`` so that the bind keeps its peer group with the host.
* volumes: a bind of the volume's directory (or ``volume-subpath`` inside it), rprivate;
* tmpfs: ``noexec,nosuid,nodev`` merged with the mount's own options (size, mode, exec…);
* image: the image's layers, read-only (a snapshot view made at create).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.containers.mountpoint import MountPoint
from berth.errors import InvalidArgument, NotFound
from berth.oci.mount import Mount
from berth.runtime.linux.rootfs import secure_join

_SHARED = {"shared", "rshared"}
_SLAVE = {"slave", "rslave"}
_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")
_TOGGLES = {"exec": "noexec", "suid": "nosuid", "dev": "nodev", "rw": "ro"}


@dataclass(frozen=True, slots=True)
class UserMounts:
    """The OCI mounts of binds, volumes, tmpfs and image mounts, parents first, and the propagation the
    container's root needs for them ("" leaves the runtime's default, rprivate)."""

    mounts: list[dict[str, Any]]
    root_propagation: str = ""


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def host_mounts(path: str = "/proc/self/mountinfo") -> list[tuple[str, list[str]]]:
    """(mount point, optional fields such as ``shared:N`` / ``master:N``) of the daemon's namespace."""
    out = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 7:
                continue
            end = fields.index("-") if "-" in fields else len(fields)
            out.append((_unescape(fields[4]), fields[6:end]))
    return out


def source_mount(path: str, infos: Iterable[tuple[str, list[str]]]) -> tuple[str, list[str]]:
    """The mount that holds ``path`` (the longest mount point above it)."""
    best: tuple[str, list[str]] | None = None
    for point, optional in infos:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, optional)
    if best is None:
        raise InvalidArgument(f"could not find source mount of {path}")
    return best


def _propagation_problem(source: str, propagation: str, infos: Sequence[tuple[str, list[str]]]) -> str | None:
    """Docker's ``ensureShared`` / ``ensureSharedOrSlave`` on the host's mount of ``source``."""
    point, optional = source_mount(os.path.realpath(source), infos)
    shared = any(o.startswith("shared:") for o in optional)
    slave = any(o.startswith("master:") for o in optional)
    if propagation in _SHARED and not shared:
        return f"path {source} is mounted on {point} but it is not a shared mount"
    if propagation in _SLAVE and not (shared or slave):
        return f"path {source} is mounted on {point} but it is not a shared or slave mount"
    return None


def merge_tmpfs(options: Iterable[str]) -> list[str]:
    """Docker's ``MergeTmpfsOptions``: a later flag overrides its opposite, a later key=value its key."""
    merged: list[str] = []
    for option in options:
        key = option.partition("=")[0]
        opposites = {option, _TOGGLES.get(option, ""), *(k for k, v in _TOGGLES.items() if v == option)}
        merged = [
            o for o in merged if o not in opposites and (("=" not in option) or o.partition("=")[0] != key)
        ]
        merged.append(option)
    return merged


def _volume_source(point: MountPoint, volume_dir: Callable[[str], Path]) -> str:
    base = str(volume_dir(point.name))
    if not point.subpath:
        return base
    path = secure_join(base, point.subpath)
    if not os.path.exists(path):
        raise NotFound(f"cannot access path {path}: no such file or directory")
    return path


def _depth(mount: dict[str, Any]) -> int:
    return str(mount["destination"]).rstrip("/").count("/")


def oci_mounts(
    points: Sequence[MountPoint],
    *,
    volume_dir: Callable[[str], Path],
    image_mounts: Callable[[MountPoint], list[Mount]],
    infos: Sequence[tuple[str, list[str]]] | None = None,
    daemon_root: str = "",
) -> UserMounts:
    """The OCI mounts of ``points`` for this start (module docstring). Raises Docker's errors for a
    propagation the host cannot give, a missing volume subpath."""
    mounts: list[dict[str, Any]] = []
    root = ""
    for point in points:
        if point.type == "tmpfs":
            options = merge_tmpfs([*_TMPFS_DEFAULTS, "rprivate", *point.tmpfs_options])
            mounts.append(
                {"destination": point.destination, "type": "tmpfs", "source": "tmpfs", "options": options}
            )
            continue
        if point.type == "image":
            mounts.extend(_image_entries(point, image_mounts(point)))
            continue
        if point.type == "volume":
            source = _volume_source(point, volume_dir)
            options = ["rbind", "rw" if point.rw else "rro", "rprivate"]
            mounts.append(
                {"destination": point.destination, "type": "bind", "source": source, "options": options}
            )
            continue
        source = point.source
        if point.create_source and not os.path.exists(source):
            os.makedirs(source, mode=0o755, exist_ok=True)  # Docker creates a missing -v host directory
        propagation = point.propagation or "rprivate"
        if propagation in _SHARED | _SLAVE:
            problem = _propagation_problem(source, propagation, infos if infos is not None else host_mounts())
            in_root = bool(daemon_root) and (source.startswith(daemon_root) or daemon_root.startswith(source))
            if problem and in_root and not point.explicit_propagation:
                propagation = "rprivate"  # Docker's fallback for its automatic rslave on the daemon root
            elif problem:
                raise InvalidArgument(problem)
            elif propagation in _SHARED:
                root = "shared"
            elif root != "shared":
                root = "rslave"
        options = ["bind" if point.non_recursive else "rbind"]
        if not point.rw:
            options.append("ro" if point.readonly_non_recursive else "rro")
        options.append(propagation)
        mounts.append(
            {"destination": point.destination, "type": "bind", "source": source, "options": options}
        )
    return UserMounts(sorted(mounts, key=_depth), root)


def _image_entries(point: MountPoint, snapshot: list[Mount]) -> list[dict[str, Any]]:
    entries = []
    for mount in snapshot:
        if mount.type == "bind":
            options = ["rbind", "ro", "rprivate"]
            entries.append(
                {"destination": point.destination, "type": "bind", "source": mount.source, "options": options}
            )
        else:
            options = [*[o for o in mount.options if o not in ("rw", "ro")], "ro"]
            entries.append(
                {
                    "destination": point.destination,
                    "type": mount.type,
                    "source": mount.source,
                    "options": options,
                }
            )
    return entries


def archive_binds(points: Sequence[MountPoint], volume_dir: Callable[[str], Path]) -> list[dict[str, Any]]:
    """The binds and volumes ``cp`` puts over a created or stopped container's rootfs, so that it reads
    and writes them as a running container would (read-only ones stay read-only)."""
    binds = []
    for point in points:
        if point.type not in ("bind", "volume"):
            continue
        source = str(volume_dir(point.name)) if point.type == "volume" else point.source
        if point.type == "volume" and point.subpath:
            source = secure_join(source, point.subpath)
        options = ["rbind", "rw" if point.rw else "ro"]
        binds.append({"destination": point.destination, "type": "bind", "source": source, "options": options})
    return sorted(binds, key=_depth)
