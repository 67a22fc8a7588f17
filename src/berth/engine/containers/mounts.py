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

``mount_setup.py`` turns mount points into OCI mounts at each start; ``inspect_json`` is what
``inspect``'s ``Mounts`` shows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine import volumes
from berth.engine.containers.container import Container
from berth.errors import InvalidArgument
from berth.util.atomic import read_json, write_json

RECORD = "mounts.json"
DEFAULT_PROPAGATION = "rprivate"
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
_RW_MODES = {"ro", "rw"}
_LABEL_MODES = {"z", "Z"}  # SELinux relabelling: a no-op on hosts without SELinux, as in Docker
_COPY_MODES = {"nocopy"}
_CONSISTENCY_MODES = {"consistent", "cached", "delegated"}  # macOS only: Docker ignores them on Linux
_TMPFS_OPTIONS = {"exec", "noexec"}


@dataclass(frozen=True, slots=True)
class MountPoint:
    """One mount of a container (Docker's ``volume/mounts.MountPoint``).

    ``source``: the host path of a bind, the image reference of an image mount ("" for volumes,
    which live in the volume's directory, and tmpfs). ``anonymous``: a volume made for this container
    (``rm -v`` removes it). ``explicit_propagation``: the user chose ``propagation``.
    """

    type: str
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    anonymous: bool = False
    copy_data: bool = True
    subpath: str = ""
    non_recursive: bool = False
    readonly_non_recursive: bool = False
    readonly_force_recursive: bool = False
    create_source: bool = False
    explicit_propagation: bool = False
    tmpfs_options: tuple[str, ...] = ()
    image_key: str = ""  # the snapshot that holds an image mount's view
    image_id: str = ""  # the image it shows (in use while the container exists)
    driver_opts: dict[str, str] | None = field(default=None, compare=False)
    labels: dict[str, str] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MountPoint:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["tmpfs_options"] = tuple(values.get("tmpfs_options") or ())
        return cls(**values)


VolumesFrom = Callable[[str], Sequence[MountPoint]]


# -------------------------------------------------------------------- validation (Docker's words)


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path) if path else path
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


def _mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def valid_mode(mode: str) -> bool:
    """Docker's ``linuxValidMountMode``: comma-separated, at most one of each kind."""
    if mode == "":
        return True
    counts = [0, 0, 0, 0, 0]
    for option in mode.split(","):
        for index, kind in enumerate(
            (_RW_MODES, _LABEL_MODES, set(PROPAGATIONS), _COPY_MODES, _CONSISTENCY_MODES)
        ):
            if option in kind:
                counts[index] += 1
                break
        else:
            return False
    return max(counts) <= 1


def _target_problem(target: str) -> str | None:
    if not target:
        return "field Target must not be empty"
    if _clean(target) == "/":
        return "invalid specification: destination can't be '/'"
    if not target.startswith("/"):
        return f"invalid mount path: '{target}' mount path must be absolute"
    return None


def _is_local(path: str) -> bool:
    """Go's ``filepath.IsLocal``: relative, non-empty, never leaving its directory."""
    if not path or path.startswith("/"):
        return False
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def tmpfs_data(size: int, mode: int, options: Sequence[Any], readonly: bool) -> tuple[str, ...]:
    """Docker's ``ConvertTmpfsOptions``: ro, mode=OCTAL, size=N[kmg], exec/noexec."""
    out = ["ro"] if readonly else []
    if mode:
        out.append(f"mode={mode:o}")
    if size:
        suffix = ""
        for letter, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, letter
                break
        out.append(f"size={size}{suffix}")
    for option in options:
        if not isinstance(option, list) or not 1 <= len(option) <= 2:
            raise _mount_error("tmpfs", "invalid option array length")
        if option[0] not in _TMPFS_OPTIONS:
            raise _mount_error("tmpfs", f"invalid option: {option[0]}")
        out.append("=".join(str(o) for o in option))
    return tuple(out)


def _driver(name: str) -> str:
    """Only Docker's ``local`` driver exists here; any other is a plugin that is not installed."""
    if name in ("", volumes.DRIVER):
        return volumes.DRIVER
    raise InvalidArgument(f'error looking up volume plugin {name}: plugin "{name}" not found')


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
        return InvalidArgument(f"{spec_error}: {_mount_error(kind, message)}")

    problem = _target_problem(target)
    if problem:
        raise fail(problem)
    if kind == "bind":
        if "nocopy" in flags:
            raise fail("field VolumeOptions must not be specified")
        return MountPoint(
            "bind", _clean(target), source=_clean(source), mode=mode, rw="ro" not in flags,
            propagation=propagation or DEFAULT_PROPAGATION, explicit_propagation=bool(propagation),
            create_source=True,  # Docker creates a missing -v host directory at start
        )  # fmt: skip
    if propagation:
        raise fail("field BindOptions must not be specified")
    driver = _driver(volume_driver)  # Docker looks the driver up before the local driver checks the name
    if source:
        volumes.validate_name(source)
    destination = _clean(target)
    return MountPoint(
        "volume", destination, name=source or volumes.anonymous_name(container_id, destination),
        driver=driver, mode=mode or "z", rw="ro" not in flags, anonymous=not source,
        copy_data="nocopy" not in flags,
    )  # fmt: skip


# -------------------------------------------------------------------- --mount (Mounts)


def _opts(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = cfg.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {key}: expected an object")
    return value


def parse_mount(cfg: Mapping[str, Any], container_id: str) -> MountPoint:
    """One ``HostConfig.Mounts`` entry, as Docker's ``ParseMountSpec`` (bind sources must exist)."""
    if not isinstance(cfg, dict):
        raise InvalidArgument("invalid Mounts: expected a list of objects")
    kind = str(cfg.get("Type") or "")
    target = str(cfg.get("Target") or "")
    source = str(cfg.get("Source") or "")
    readonly = bool(cfg.get("ReadOnly"))
    bind_opts, volume_opts = _opts(cfg, "BindOptions"), _opts(cfg, "VolumeOptions")
    tmpfs_opts, image_opts = _opts(cfg, "TmpfsOptions") or {}, _opts(cfg, "ImageOptions") or {}
    for key, own in (("VolumeOptions", "volume"), ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs")):
        if cfg.get(key) is not None and kind != own:  # Docker's create route, API >= 1.42
            raise InvalidArgument(f'{key} must not be specified on mount type "{kind}"')
    problem = _target_problem(target)
    if problem:
        raise _mount_error(kind, problem)
    destination = _clean(target)
    if kind == "bind":
        return _parse_bind_mount(source, destination, readonly, bind_opts, volume_opts)
    if kind == "volume":
        if bind_opts is not None:
            raise _mount_error(kind, "field BindOptions must not be specified")
        volume_opts = volume_opts or {}
        subpath = str(volume_opts.get("Subpath") or "")
        if subpath and not source:
            raise _mount_error(kind, "must not set Subpath when using anonymous volumes")
        if subpath and not _is_local(subpath):
            raise _mount_error(kind, "subpath must be a relative path within the volume")
        if readonly and not source:
            raise _mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
        driver_cfg = _opts(volume_opts, "DriverConfig") or {}
        driver = _driver(str(driver_cfg.get("Name") or ""))
        if source:
            volumes.validate_name(source)
        options = driver_cfg.get("Options")
        labels = volume_opts.get("Labels")
        return MountPoint(
            "volume", destination, name=source or volumes.anonymous_name(container_id, destination),
            driver=driver, mode="z", rw=not readonly, anonymous=not source,
            copy_data=not volume_opts.get("NoCopy"), subpath=subpath,
            driver_opts={str(k): str(v) for k, v in options.items()} if isinstance(options, dict) else None,
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else None,
        )  # fmt: skip
    if kind == "tmpfs":
        if bind_opts is not None:
            raise _mount_error(kind, "field BindOptions must not be specified")
        if source:
            raise _mount_error(kind, "field Source must not be specified")
        data = tmpfs_data(
            int(tmpfs_opts.get("SizeBytes") or 0), int(tmpfs_opts.get("Mode") or 0),
            list(tmpfs_opts.get("Options") or []), readonly,
        )  # fmt: skip
        return MountPoint("tmpfs", destination, rw=not readonly, tmpfs_options=data)
    if kind == "image":
        if bind_opts is not None:
            raise _mount_error(kind, "field BindOptions must not be specified")
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if image_opts.get("Subpath"):
            raise _mount_error(kind, "image-subpath is not supported by Berth: mount the whole image")
        return MountPoint(
            "image", destination, source=source, name=source, rw=False, propagation=DEFAULT_PROPAGATION
        )
    raise _mount_error(kind, "mount type unknown")


def _parse_bind_mount(
    source: str,
    destination: str,
    readonly: bool,
    bind_opts: Mapping[str, Any] | None,
    volume_opts: Mapping[str, Any] | None,
) -> MountPoint:
    if not source:
        raise _mount_error("bind", "field Source must not be empty")
    opts = bind_opts or {}
    propagation = str(opts.get("Propagation") or "")
    if propagation and propagation not in PROPAGATIONS:
        raise _mount_error("bind", f"invalid propagation mode: {propagation}")
    if volume_opts is not None:
        raise _mount_error("bind", "field VolumeOptions must not be specified")
    if not source.startswith("/"):
        raise _mount_error("bind", f"invalid mount path: '{source}' mount path must be absolute")
    create = bool(opts.get("CreateMountpoint"))
    if not os.path.exists(source) and not create:
        raise _mount_error("bind", f"bind source path does not exist: {source}")
    ro_non_recursive, ro_force = (
        bool(opts.get("ReadOnlyNonRecursive")),
        bool(opts.get("ReadOnlyForceRecursive")),
    )
    if ro_non_recursive and ro_force:
        raise InvalidArgument("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive")
    return MountPoint(
        "bind", destination, source=_clean(source), rw=not readonly,
        propagation=propagation or DEFAULT_PROPAGATION, explicit_propagation=bool(propagation),
        non_recursive=bool(opts.get("NonRecursive")), readonly_non_recursive=ro_non_recursive,
        readonly_force_recursive=ro_force, create_source=create,
    )  # fmt: skip


# -------------------------------------------------------------------- --volumes-from


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """``CTR[:MODE]`` → (container, read-write?), as Docker's ``ParseVolumesFrom``."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    flags = set(mode.split(",")) - {""}
    if mode and (not valid_mode(mode) or flags & set(PROPAGATIONS) or flags & _COPY_MODES):
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
    tmpfs = {_clean(str(p)) for p in host.get("Tmpfs") or {}}
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
        destination = _clean(str(raw))
        if destination in points or destination in tmpfs:
            continue
        problem = _target_problem(destination)
        if problem:
            raise InvalidArgument(f"invalid volume specification: '{raw}': {problem}")
        points[destination] = MountPoint(
            "volume", destination, name=volumes.anonymous_name(container_id, destination),
            driver=_driver(volume_driver), anonymous=True,
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


# -------------------------------------------------------------------- API versions


def for_api_version(host: Mapping[str, Any], version: tuple[int, int] | None) -> bool:
    """What Docker's create route does to ``HostConfig.Mounts`` for older clients (in place): options
    an older API did not have are ignored, or refused when ignoring them would weaken a mount.
    Returns Docker's ``DefaultReadOnlyNonRecursive``: before API 1.44 read-only binds were not
    recursively read-only."""
    if version is None:
        return False
    entries = [m for m in host.get("Mounts") or [] if isinstance(m, dict)]
    for m in entries:
        bind_opts = m.get("BindOptions") if isinstance(m.get("BindOptions"), dict) else None
        if version < (1, 40) and bind_opts is not None:
            bind_opts.pop("NonRecursive", None)
        if version < (1, 42):
            if bind_opts is not None:
                bind_opts.pop("CreateMountpoint", None)
            for key, kind in (("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs")):
                if m.get(key) is not None and m.get("Type") != kind:
                    m[key] = None
        if version < (1, 44):
            if bind_opts is not None:
                bind_opts.pop("ReadOnlyNonRecursive", None)
            if m.get("Type") == "bind" and bind_opts is not None and bind_opts.get("ReadOnlyForceRecursive"):
                raise InvalidArgument("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
        volume_opts = m.get("VolumeOptions")
        if version < (1, 45) and isinstance(volume_opts, dict) and volume_opts.get("Subpath"):
            raise InvalidArgument("VolumeOptions.Subpath needs API v1.45 or newer")
    return version < (1, 44)


# -------------------------------------------------------------------- the record


def save(directory: Path, points: Sequence[MountPoint]) -> None:
    write_json(directory / RECORD, [p.to_json() for p in points], mode=0o600, durable=False)


def of(container: Container) -> list[MountPoint]:
    """The container's mount points: its record, or (containers made before it existed) parsed again."""
    path = container.directory / RECORD
    if path.exists():
        raw = read_json(path)
        return [MountPoint.from_json(m) for m in raw if isinstance(m, dict)]
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
