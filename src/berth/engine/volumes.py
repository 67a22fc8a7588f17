"""VolumeService: Docker's ``local`` volumes — a directory per volume that containers bind-mount.

    <data-root>/volumes/
      <name>/
        _data/          the volume's content (the ``Mountpoint``; bind-mounted into containers)
        volume.json     {"Name","Driver","Labels","Options","CreatedAt"} (atomic writes)

Which container uses which volume is not stored here: it follows from each container's record
(``volume_mounts``), and the daemon hands this service an ``in_use`` callable that asks the
containers. A container's anonymous volumes (image ``VOLUME``s and ``-v /path`` not covered by a
bind) get names derived from the container id and mount path, so the mapping needs no extra state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.errors import Conflict, InvalidArgument, NotFound, NotSupported
from berth.util.atomic import read_json, write_json

DRIVER = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # Docker ≥ 23 marks anonymous volumes with it
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_LOCAL_OPTIONS = {"type", "device", "o", "size"}  # what Docker's local driver accepts
_FILTERS = {"dangling", "name", "label", "driver"}
_MODES = {"ro", "rw", "z", "Z", "nocopy"}  # what moby accepts after a volume name

InUse = Callable[[], Mapping[str, Sequence[str]]]


class VolumeInUse(Conflict):
    """A volume a container still references was asked to be removed; the caller must remove the container."""

    def __init__(self, name: str, container_ids: Sequence[str]) -> None:
        super().__init__(f"remove {name}: volume is in use - [{', '.join(container_ids)}]")
        self.name = name
        self.container_ids = list(container_ids)


class NoSuchVolume(NotFound):
    """The named volume does not exist. The caller named it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"get {name}: no such volume")
        self.name = name


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """One volume mounted into a container: ``-v name:/dest[:ro]`` or an anonymous ``/dest``."""

    name: str
    destination: str
    rw: bool
    mode: str
    anonymous: bool


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
        )
    return name


def anonymous_name(container_id: str, destination: str) -> str:
    """The 64-hex name of a container's anonymous volume at ``destination`` (stable, so not stored)."""
    return hashlib.sha256(f"{container_id}\0{destination}".encode()).hexdigest()


def volume_mounts(container_id: str, config: Mapping[str, Any], host: Mapping[str, Any]) -> list[VolumeMount]:
    """The volumes a container mounts, from its Config.Volumes and HostConfig.Binds (Docker's rules:
    a bind or tmpfs at the same path replaces an image/anonymous volume there)."""
    mounts: list[VolumeMount] = []
    taken: set[str] = set(host.get("Tmpfs") or {})
    anonymous = list(config.get("Volumes") or {})
    for bind in host.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) == 1 and bind.startswith("/"):
            anonymous.append(bind)  # Binds ["/path"] (docker-py) is an anonymous volume, as in moby
            continue
        if len(parts) >= 2:
            taken.add(parts[1].rstrip("/") or "/")
        if len(parts) < 2 or parts[0].startswith("/"):
            continue  # host path binds (and malformed ones) are spec.py's business
        if len(parts) > 3:
            raise InvalidArgument(f"invalid volume specification: '{bind}'")
        name, destination, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
        validate_name(name)
        if not destination.startswith("/"):
            raise InvalidArgument(f"invalid volume specification: '{bind}': mount path must be absolute")
        flags = [f for f in mode.split(",") if f]
        if not set(flags) <= _MODES or {"ro", "rw"} <= set(flags):
            raise InvalidArgument(f"invalid mode: {mode}")
        rw = "ro" not in flags
        mounts.append(VolumeMount(name, destination, rw, mode, anonymous=False))
    for destination in anonymous:
        if (destination.rstrip("/") or "/") in taken:
            continue
        taken.add(destination.rstrip("/") or "/")
        name = anonymous_name(container_id, destination)
        mounts.append(VolumeMount(name, destination, True, "", anonymous=True))
    return mounts


def source_for(container_directory: Path, name: str) -> Path:
    """A volume's ``_data`` seen from a container record at ``<data-root>/containers/<id>`` (the
    daemon's layout, berth.daemon.wiring): for inspect's ``Mounts``, which has only the container."""
    return container_directory.parent.parent / "volumes" / name / "_data"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _tree_size(root: Path) -> int:
    """Docker's ``directory.Size``: apparent sizes of everything under ``root``, hard links counted once."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for directory, dirs, files in os.walk(root):
        for entry in [*dirs, *files]:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(directory, entry))
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _copy_tree(source: Path, target: Path) -> None:
    """Copy ``source``'s content into ``target`` keeping modes, times, owners and symlinks (cp -a)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    for directory, dirs, files in os.walk(source):
        rel = os.path.relpath(directory, source)
        for entry in [".", *dirs, *files]:
            src = os.path.normpath(os.path.join(directory, entry))
            dst = os.path.normpath(os.path.join(target, rel, entry))
            st = os.lstat(src)
            os.lchown(dst, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(dst, stat.S_IMODE(st.st_mode))


class VolumeService:
    """Local volumes under ``root``; thread-safe (routes call it through ``asyncio.to_thread``).

    ``in_use()`` answers {volume name: [container ids]}; a volume in it is never removed or pruned.
    """

    def __init__(self, root: Path, *, in_use: InUse) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True, mode=0o701)
        self._in_use = in_use
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- paths and records

    def mountpoint(self, name: str) -> Path:
        return self._root / name / "_data"

    def _record_path(self, name: str) -> Path:
        return self._root / name / "volume.json"

    def _load(self, name: str) -> dict[str, Any]:
        if not _NAME.match(name):
            raise NoSuchVolume(name)  # never a path outside the root ("..")
        try:
            record: dict[str, Any] = read_json(self._record_path(name))
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchVolume(name) from None
        except (OSError, ValueError) as exc:
            raise NoSuchVolume(name) from exc
        return record

    def _to_json(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "CreatedAt": record["CreatedAt"],
            "Driver": record["Driver"],
            "Labels": record.get("Labels"),
            "Mountpoint": str(self.mountpoint(record["Name"])),
            "Name": record["Name"],
            "Options": record.get("Options"),
            "Scope": "local",
        }

    # ---------------------------------------------------------------- verbs

    def create(
        self,
        name: str = "",
        *,
        driver: str = DRIVER,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a volume (a 64-hex name when ``name`` is empty) and return its inspect JSON.

        Idempotent like Docker: an existing volume of that name is returned unchanged.
        """
        driver = driver or DRIVER
        if driver != DRIVER:
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        for key in options or {}:
            if key not in _LOCAL_OPTIONS:
                raise InvalidArgument(f'invalid option: "{key}"')
        if options:
            raise NotSupported(
                "local volume options (type, device, o, size) are not supported by Berth yet: "
                "create the volume without -o"
            )
        name = validate_name(name) if name else secrets.token_hex(32)
        with self._lock:
            with contextlib.suppress(NoSuchVolume):
                return self._to_json(self._load(name))
            directory = self._root / name
            directory.mkdir(mode=0o701, exist_ok=True)
            self.mountpoint(name).mkdir(mode=0o755, exist_ok=True)
            record = {
                "Name": name,
                "Driver": DRIVER,
                "Labels": dict(labels) if labels is not None else None,
                "Options": dict(options) if options is not None else None,
                "CreatedAt": _now(),
            }
            write_json(self._record_path(name), record)
            return self._to_json(record)

    def ensure(self, mounts: Sequence[VolumeMount]) -> list[str]:
        """Create the volumes ``mounts`` name that do not exist yet; return the names it created."""
        created = []
        with self._lock:
            for mount in mounts:
                if self.exists(mount.name):
                    continue
                self.create(mount.name, labels={ANONYMOUS_LABEL: ""} if mount.anonymous else {})
                created.append(mount.name)
        return created

    def populate(self, name: str, source: Path) -> None:
        """Docker's copy-up: fill a volume that is still empty with ``source`` (the image's content at
        the mount path), owner and mode of the top directory included. A non-empty volume is left alone."""
        target = self.mountpoint(name)
        with self._lock:
            if any(target.iterdir()):
                return
            _copy_tree(source, target)

    def exists(self, name: str) -> bool:
        return bool(_NAME.match(name)) and self._record_path(name).is_file()

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._to_json(self._load(name))

    def remove(self, name: str, *, force: bool = False) -> None:
        """Remove a volume and its content. In use ⇒ ``VolumeInUse`` even with ``force`` (as Docker);
        missing ⇒ ``NoSuchVolume`` unless ``force``."""
        with self._lock:
            if not self.exists(name):
                if force:
                    return
                raise NoSuchVolume(name)
            users = self._in_use().get(name)
            if users:
                raise VolumeInUse(name, users)
            self._delete(name)

    def _delete(self, name: str) -> None:
        directory = self._root / name
        # The record goes first: a crash half-way leaves a directory that list() skips, never a
        # volume whose content is half gone.
        self._record_path(name).unlink(missing_ok=True)
        shutil.rmtree(directory)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> tuple[list[str], int]:
        """Remove unused volumes: anonymous ones only, unless ``filters`` has ``all=true`` (Docker ≥ 23);
        ``label``/``label!`` narrow it. Returns (names removed, bytes reclaimed)."""
        filters = dict(filters or {})
        prune_all = any(v.lower() in {"1", "true"} for v in filters.pop("all", []))
        for key in filters:
            if key not in {"label", "label!"}:
                raise InvalidArgument(f"invalid filter '{key}'")
        removed, reclaimed = [], 0
        with self._lock:
            used = self._in_use()
            for volume in self.list():
                name, labels = volume["Name"], volume["Labels"] or {}
                if used.get(name) or (not prune_all and ANONYMOUS_LABEL not in labels):
                    continue
                if not _label_match(labels, filters.get("label", [])):
                    continue
                if filters.get("label!") and _label_match(labels, filters["label!"], any_of=True):
                    continue
                size = _tree_size(self.mountpoint(name))
                self._delete(name)
                removed.append(name)
                reclaimed += size
        return removed, reclaimed

    def usage(self) -> list[dict[str, Any]]:
        """Every volume with Docker's ``UsageData`` ({Size, RefCount}), for ``GET /system/df``."""
        used = self._in_use()
        out = []
        for volume in self.list():
            size = _tree_size(self.mountpoint(volume["Name"]))
            volume["UsageData"] = {"Size": size, "RefCount": len(used.get(volume["Name"]) or [])}
            out.append(volume)
        return out

    # last in the class: below it, ``list`` would name this method
    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
        """Every volume, filtered Docker's way: ``dangling``, ``name`` (regexp), ``label``, ``driver``."""
        filters = filters or {}
        for key in filters:
            if key not in _FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        used = self._in_use()
        out = []
        with self._lock:
            for directory in sorted(self._root.iterdir()):
                try:
                    volume = self._to_json(self._load(directory.name))
                except NoSuchVolume:
                    continue  # a directory without a record: a create that did not finish
                if _matches(volume, filters, in_use=bool(used.get(volume["Name"]))):
                    out.append(volume)
        return out


def _label_match(labels: Mapping[str, str], wanted: Sequence[str], *, any_of: bool = False) -> bool:
    results = [
        key in labels and (not sep or labels[key] == value)
        for key, sep, value in (w.partition("=") for w in wanted)
    ]
    return any(results) if any_of else all(results)


def _matches(volume: Mapping[str, Any], filters: Mapping[str, Sequence[str]], *, in_use: bool) -> bool:
    for key, wanted in filters.items():
        if not wanted:
            continue
        if key == "dangling":
            values = {w.lower() for w in wanted}
            if not values <= {"true", "false", "1", "0"}:
                raise InvalidArgument(f"invalid filter 'dangling={wanted[0]}'")
            dangling = bool(values & {"true", "1"})
            if dangling == in_use:
                return False
        elif key == "name":
            if not any(_search(w, volume["Name"]) for w in wanted):
                return False
        elif key == "driver":
            if volume["Driver"] not in wanted:
                return False
        elif key == "label" and not _label_match(volume["Labels"] or {}, wanted):
            return False
    return True


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern in text
