"""``HostConfig.Mounts`` (``--mount``) entries as Docker's ``ParseMountSpec`` reads them, and what
Docker's create route does to them for older API versions (``for_api_version``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from berth.engine import volumes
from berth.engine.containers.mountpoint import (
    DEFAULT_PROPAGATION,
    PROPAGATIONS,
    MountPoint,
    check_driver,
    clean_path,
    mount_error,
    target_problem,
)
from berth.errors import InvalidArgument

_TMPFS_OPTIONS = {"exec", "noexec"}


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
            raise mount_error("tmpfs", "invalid option array length")
        if option[0] not in _TMPFS_OPTIONS:
            raise mount_error("tmpfs", f"invalid option: {option[0]}")
        out.append("=".join(str(o) for o in option))
    return tuple(out)


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
    problem = target_problem(target)
    if problem:
        raise mount_error(kind, problem)
    destination = clean_path(target)
    if kind == "bind":
        return _parse_bind_mount(source, destination, readonly, bind_opts, volume_opts)
    if kind == "volume":
        if bind_opts is not None:
            raise mount_error(kind, "field BindOptions must not be specified")
        volume_opts = volume_opts or {}
        subpath = str(volume_opts.get("Subpath") or "")
        if subpath and not source:
            raise mount_error(kind, "must not set Subpath when using anonymous volumes")
        if subpath and not _is_local(subpath):
            raise mount_error(kind, "subpath must be a relative path within the volume")
        if readonly and not source:
            raise mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
        driver_cfg = _opts(volume_opts, "DriverConfig") or {}
        driver = check_driver(str(driver_cfg.get("Name") or ""))
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
            raise mount_error(kind, "field BindOptions must not be specified")
        if source:
            raise mount_error(kind, "field Source must not be specified")
        data = tmpfs_data(
            int(tmpfs_opts.get("SizeBytes") or 0), int(tmpfs_opts.get("Mode") or 0),
            list(tmpfs_opts.get("Options") or []), readonly,
        )  # fmt: skip
        return MountPoint("tmpfs", destination, rw=not readonly, tmpfs_options=data)
    if kind == "image":
        if bind_opts is not None:
            raise mount_error(kind, "field BindOptions must not be specified")
        if not source:
            raise mount_error(kind, "field Source must not be empty")
        if image_opts.get("Subpath"):
            raise mount_error(kind, "image-subpath is not supported by Berth: mount the whole image")
        return MountPoint(
            "image", destination, source=source, name=source, rw=False, propagation=DEFAULT_PROPAGATION
        )
    raise mount_error(kind, "mount type unknown")


def _parse_bind_mount(
    source: str,
    destination: str,
    readonly: bool,
    bind_opts: Mapping[str, Any] | None,
    volume_opts: Mapping[str, Any] | None,
) -> MountPoint:
    if not source:
        raise mount_error("bind", "field Source must not be empty")
    opts = bind_opts or {}
    propagation = str(opts.get("Propagation") or "")
    if propagation and propagation not in PROPAGATIONS:
        raise mount_error("bind", f"invalid propagation mode: {propagation}")
    if volume_opts is not None:
        raise mount_error("bind", "field VolumeOptions must not be specified")
    if not source.startswith("/"):
        raise mount_error("bind", f"invalid mount path: '{source}' mount path must be absolute")
    create = bool(opts.get("CreateMountpoint"))
    if not os.path.exists(source) and not create:
        raise mount_error("bind", f"bind source path does not exist: {source}")
    ro_non_recursive, ro_force = (
        bool(opts.get("ReadOnlyNonRecursive")),
        bool(opts.get("ReadOnlyForceRecursive")),
    )
    if ro_non_recursive and ro_force:
        raise InvalidArgument("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive")
    return MountPoint(
        "bind", destination, source=clean_path(source), rw=not readonly,
        propagation=propagation or DEFAULT_PROPAGATION, explicit_propagation=bool(propagation),
        non_recursive=bool(opts.get("NonRecursive")), readonly_non_recursive=ro_non_recursive,
        readonly_force_recursive=ro_force, create_source=create,
    )  # fmt: skip


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
