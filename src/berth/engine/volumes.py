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
import logging
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

from berth.errors import Conflict, Internal, InvalidArgument, NotFound
from berth.runtime.linux import syscalls
from berth.runtime.linux.rootfs import parse_options
from berth.util.atomic import read_json, write_bytes, write_json
from berth.util.faults import crash_point
from berth.util.records import Shape, require

log = logging.getLogger("berthd.volumes")

DRIVER = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # Docker ≥ 23 marks anonymous volumes with it
COPYING = "copying"  # beside _data while a copy-up fills it
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_LOCAL_OPTIONS = ("type", "o", "device", "size")  # what Docker's local driver accepts
_FILTERS = {"dangling", "name", "label", "driver"}
_MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}  # Docker's local driver

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


class UnreadableVolume(NoSuchVolume):
    """The volume's record cannot be read or has the wrong shape: to users it is not there (listings
    skip it with a warning); ``system check`` reports it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.reason = reason


_RECORD_SHAPE: Shape = {"Name": str, "Driver": str, "CreatedAt": str}
_RECORD_OPTIONAL: Shape = {"Labels": dict, "Options": dict}


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


def empty_directory(directory: Path) -> None:
    """Remove everything under ``directory``, keeping it (it may be a mount point)."""
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _copy_file(source: str, target: str) -> None:
    shutil.copy2(source, target)
    crash_point("volume.mid-copy")


def _copy_tree(source: Path, target: Path) -> None:
    """Copy ``source``'s content into ``target`` keeping modes, times, owners and symlinks (cp -a)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True, copy_function=_copy_file)
    for directory, dirs, files in os.walk(source):
        rel = os.path.relpath(directory, source)
        for entry in [".", *dirs, *files]:
            src = os.path.normpath(os.path.join(directory, entry))
            dst = os.path.normpath(os.path.join(target, rel, entry))
            # the top directory may be a /proc/self/fd magic link: its target's owner and mode count
            st = os.stat(src) if directory == str(source) and entry == "." else os.lstat(src)
            os.lchown(dst, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(dst, stat.S_IMODE(st.st_mode))


@dataclass(frozen=True, slots=True)
class Wanted:
    """A volume a container needs (``ensure``): its name, and how to make it when it does not exist."""

    name: str
    anonymous: bool = False
    options: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None


def _validate_options(name: str, options: Mapping[str, str]) -> None:
    """Docker's local driver ``validateOpts`` (its messages, prefixed ``create NAME:``)."""
    for key in options:
        if key not in _LOCAL_OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option: "{key}"')
    if "size" in options:
        raise InvalidArgument(f"create {name}: quota size requested but no quota support")
    for key, required in _MANDATORY.items():
        for other in required if key in options else ():
            if other not in options:
                raise InvalidArgument(f'create {name}: missing required option: "{other}"')


def _is_mounted(path: Path) -> bool:
    wanted = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            field = line.split()[4]
            if (field.encode().decode("unicode_escape") if "\\" in field else field) == wanted:
                return True
    return False


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

    def _copying_path(self, name: str) -> Path:
        """Present while a copy-up fills the volume: one cut short by a crash is redone, not kept."""
        return self._root / name / COPYING

    def _load(self, name: str) -> dict[str, Any]:
        if not _NAME.match(name):
            raise NoSuchVolume(name)  # never a path outside the root ("..")
        try:
            raw = read_json(self._record_path(name))
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchVolume(name) from None
        except OSError as exc:
            raise UnreadableVolume(name, exc.strerror or str(exc)) from exc
        except ValueError as exc:  # not JSON (a torn or foreign file)
            raise UnreadableVolume(name, str(exc)) from exc
        try:
            record = require(raw, _RECORD_SHAPE, optional=_RECORD_OPTIONAL)
            if record["Name"] != name:
                raise ValueError(f"field Name is {record['Name']!r}, not its directory's name")
        except ValueError as exc:
            raise UnreadableVolume(name, str(exc)) from exc
        return record

    def record_problem(self, name: str) -> str | None:
        """What is wrong with volume directory ``name``'s record (None: nothing), for ``system check``."""
        try:
            self._load(name)
        except UnreadableVolume as exc:
            return f"unreadable record: {exc.reason}"
        except NoSuchVolume:
            return "no record (a create that did not finish)"
        return None

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
        name = validate_name(name) if name else secrets.token_hex(32)
        _validate_options(name, options or {})
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
            crash_point("volume.before-record")
            write_json(self._record_path(name), require(record, _RECORD_SHAPE, optional=_RECORD_OPTIONAL))
            return self._to_json(record)

    def ensure(self, wanted: Sequence[Wanted]) -> list[str]:
        """Create the volumes ``wanted`` names that do not exist yet (with their driver options and
        labels; anonymous ones get Docker's anonymous label); return the names it created."""
        created = []
        with self._lock:
            for want in wanted:
                if self.exists(want.name):
                    continue
                labels = {**(want.labels or {}), **({ANONYMOUS_LABEL: ""} if want.anonymous else {})}
                self.create(want.name, labels=labels or None, options=want.options)
                created.append(want.name)
        return created

    def populate(self, name: str, source: Path) -> None:
        """Docker's copy-up: fill a volume that is still empty with ``source`` (the image's content at
        the mount path), owner and mode of the top directory included. A non-empty volume is left alone.
        A volume with mount options is mounted for the copy (and unmounted after, unless in use)."""
        target, marker = self.mountpoint(name), self._copying_path(name)
        with self._lock:
            mounted_here = self.activate(name)
            try:
                if any(target.iterdir()):
                    return
                write_bytes(marker, b"")
                _copy_tree(source, target)
                marker.unlink()
            finally:
                if mounted_here:
                    self.deactivate(name)

    def copy_cut_short(self, name: str) -> bool:
        """Whether a copy-up into volume ``name`` was cut short (``system check``)."""
        return self._copying_path(name).exists()

    def redo_copy(self, name: str) -> None:
        """Empty a volume whose copy-up a killed daemon cut short (nobody used it since: each create
        calls this first), so that it is copied into again, whole. Nothing when no copy was cut short."""
        with self._lock:
            if not self._copying_path(name).exists():
                return
            if self._in_use().get(name):
                raise Conflict(f"volume {name} is in use")  # populate redoes it for the next create
            mounted_here = self.activate(name)
            try:
                empty_directory(self.mountpoint(name))
            finally:
                if mounted_here:
                    self.deactivate(name)
            self._copying_path(name).unlink()

    def is_empty(self, name: str) -> bool:
        with self._lock:
            mounted_here = self.activate(name)
            try:
                return not any(self.mountpoint(name).iterdir())
            finally:
                if mounted_here:
                    self.deactivate(name)

    # ---------------------------------------------------------------- driver options (type, device, o)

    def _mount_options(self, name: str) -> Mapping[str, str]:
        with contextlib.suppress(NoSuchVolume):
            return self._load(name).get("Options") or {}
        return {}

    def activate(self, name: str) -> bool:
        """Mount a volume created with ``type``/``device`` options on its ``_data`` (Docker's local
        driver does this when a container starts using it). True when this call mounted it."""
        options = self._mount_options(name)
        if not (options.get("type") or options.get("device")):
            return False
        target = self.mountpoint(name)
        with self._lock:
            if _is_mounted(target):
                return False
            flags, _, data = parse_options((options.get("o") or "").split(","))
            try:
                syscalls.mount(
                    options.get("device"),
                    str(target),
                    options.get("type") or None,
                    flags & ~syscalls.MS_REMOUNT,
                    data or None,
                )
                if flags & syscalls.MS_BIND and flags & ~(syscalls.MS_BIND | syscalls.MS_REC):
                    syscalls.mount(None, str(target), None, flags | syscalls.MS_REMOUNT)
            except OSError as exc:
                reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
                raise Internal(
                    f"error while mounting volume '{target}': failed to mount local volume: mount "
                    f"{options.get('device')}:{target}, flags: {flags:#x}: {reason}"
                ) from exc
            return True

    def deactivate(self, name: str) -> None:
        """Unmount what ``activate`` mounted (when the last container using the volume stops)."""
        target = self.mountpoint(name)
        with self._lock:
            if (
                self._mount_options(name).get("type") or self._mount_options(name).get("device")
            ) and _is_mounted(target):
                syscalls.umount2(str(target), syscalls.MNT_DETACH)

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
            self.deactivate(name)
            self._delete(name)

    def _delete(self, name: str) -> None:
        directory = self._root / name
        if _is_mounted(self.mountpoint(name)):
            # never rmtree through a mount: with o=bind that would empty the host directory it shows
            raise Conflict(f"remove {name}: the volume is still mounted at {self.mountpoint(name)}")
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
                self.deactivate(name)
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
                except UnreadableVolume as exc:
                    log.warning("skipping volume %s: %s (see berth system check)", directory.name, exc.reason)
                    continue
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
