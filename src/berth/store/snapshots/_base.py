"""What both snapshotters share: records, the prepare/commit/remove bookkeeping, usage, export's tar."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, is_disk_full
from berth.oci.mount import Mount
from berth.store.snapshots import CHANGE_DELETED, EXTRACT_PREFIX, Info, Kind
from berth.store.snapshots._table import Row, SnapshotTable
from berth.store.unpack import LayerStats, Whiteouts, apply_layer
from berth.util.idshift import IdShift, shifting

_WH = ".wh."
_OPAQUE = "trusted.overlay.opaque"
_RESERVED = ("l", "tmp", "snapshots.db", "snapshots.db-wal", "snapshots.db-shm")


class SnapshotterBase:
    whiteouts: Whiteouts = Whiteouts.DELETE

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        self._table = SnapshotTable(root / "snapshots.db")

    # -- hooks for implementations ---------------------------------------------------------------------
    def _create(self, sid: str, parent: Row | None, kind: Kind) -> str:
        """Make the directories of a new snapshot; returns its link name ("" if unused)."""
        raise NotImplementedError

    def _mounts(self, row: Row) -> list[Mount]:
        raise NotImplementedError

    def _destroy(self, row: Row) -> None:
        shutil.rmtree(self.root / row.sid, ignore_errors=True)

    def changes(self, key: str) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _merged_dirs(self, row: Row) -> list[Path]:
        """The directories whose union is the snapshot's filesystem, top first."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    def fs(self, key: str) -> Path:
        """The writable directory of active ``key`` (overlay: the upper dir)."""
        return self.root / self._table.get(key).sid / "fs"

    def prepare(self, key: str, parent: str = "") -> list[Mount]:
        return self._new(key, parent, Kind.ACTIVE)

    def view(self, key: str, parent: str) -> list[Mount]:
        return self._new(key, parent, Kind.VIEW)

    def _new(self, key: str, parent: str, kind: Kind) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        if self._table.find(key) is not None:
            raise AlreadyExistsError(key)
        parent_row = None
        if parent:
            parent_row = self._table.find(parent)
            if parent_row is None or parent_row.kind != Kind.COMMITTED:
                raise NotFound(f"parent snapshot {parent}: not found")
        sid = secrets.token_hex(16)
        try:
            link = self._create(sid, parent_row, kind)
            row = Row(key, sid, str(kind), parent, time.time(), link)
            self._table.insert(row)
        except BaseException:
            self._destroy(Row(key, sid, str(kind), parent, 0.0, ""))
            raise
        return self._mounts(row)

    def mounts(self, key: str) -> list[Mount]:
        row = self._table.get(key)
        if row.kind == Kind.COMMITTED:
            raise InvalidArgument(f"snapshot {key} is committed: prepare or view it to mount it")
        return self._mounts(row)

    def commit(self, name: str, key: str) -> None:
        row = self._table.get(key)
        if row.kind != Kind.ACTIVE:
            raise InvalidArgument(f"snapshot {key} is not active")
        self._table.rename(key, name, str(Kind.COMMITTED))

    def remove(self, key: str) -> None:
        row = self._table.find(key)
        if row is None:
            return
        children = self._table.children(key) if row.kind == Kind.COMMITTED else []
        if children:
            raise Conflict(
                f"cannot remove snapshot {key}: it has children ({', '.join(sorted(children)[:3])})"
            )
        try:
            self._table.delete(key)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # A full disk refuses even a delete (SQLite's WAL grows): free the directory first, then
            # delete the record. A crash in between leaves a record without its directory, which
            # ``cleanup`` removes as well.
            self._destroy(row)
            self._table.delete(key)
            return
        self._destroy(row)

    def stat(self, key: str) -> Info:
        row = self._table.get(key)
        return Info(row.key, Kind(row.kind), row.parent, row.created)

    def exists(self, key: str) -> bool:
        return self._table.find(key) is not None

    def children(self, name: str) -> list[str]:
        return self._table.children(name)

    def apply_layer(self, key: str, stream: BinaryIO) -> LayerStats:
        row = self._table.get(key)
        if row.kind != Kind.ACTIVE:
            raise InvalidArgument(f"snapshot {key} is not active")
        return apply_layer(self.root / row.sid / "fs", stream, whiteouts=self.whiteouts)

    def usage(self, key: str) -> int:
        return tree_size(self.root / self._table.get(key).sid / "fs")

    def chain(self, row: Row) -> list[Row]:
        """``row``'s committed ancestors, nearest first."""
        out: list[Row] = []
        parent = row.parent
        while parent:
            ancestor = self._table.get(parent)
            out.append(ancestor)
            parent = ancestor.parent
        return out

    def export(self, key: str, out: BinaryIO, shift: IdShift | None = None) -> None:
        row = self._table.get(key)
        dirs = self._merged_dirs(row)
        if len(dirs) == 1:
            write_tree_tar(dirs[0], out, shift)
            return
        from berth.store.snapshots import _mount

        target = self.root / "tmp" / f"export-{secrets.token_hex(8)}"
        target.mkdir()
        try:
            _mount.mount(
                "overlay", str(target), "overlay", _mount.MS_RDONLY, "lowerdir=" + ":".join(map(str, dirs))
            )
            try:
                write_tree_tar(target, out, shift)
            finally:
                _mount.umount(str(target), detach=True)
        finally:
            target.rmdir()

    def diff(self, key: str, out: BinaryIO, shift: IdShift | None = None) -> None:
        """Write ``key``'s changes against its parent as an OCI layer tar (whiteouts as ``.wh.`` files)."""
        fs = self.root / self._table.get(key).sid / "fs"
        emitted: set[str] = set()
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as raw:
            tar = shifting(raw, shift)
            for path, kind in self.changes(key):
                rel = path.lstrip("/")
                parts = rel.split("/")
                for i in range(1, len(parts)):
                    parent = "/".join(parts[:i])
                    if parent not in emitted:
                        emitted.add(parent)
                        _add_entry(tar, fs, parent)
                if kind == CHANGE_DELETED:
                    head, _, name = rel.rpartition("/")
                    whiteout = tarfile.TarInfo(f"{head}/{_WH}{name}" if head else f"{_WH}{name}")
                    whiteout.mtime = int(time.time())
                    tar.addfile(whiteout)
                elif rel not in emitted:
                    emitted.add(rel)
                    _add_entry(tar, fs, rel)

    def cleanup(self) -> int:
        removed = 0
        from berth.store.snapshots import _mount

        for entry in (self.root / "tmp").iterdir():
            _mount.umount(str(entry), detach=True)
            try:
                entry.rmdir()
            except OSError:
                continue
            removed += 1
        rows = self._table.all()
        for row in rows:
            if row.key.startswith(EXTRACT_PREFIX) and row.kind == Kind.ACTIVE:
                self.remove(row.key)
                removed += 1
            elif not (self.root / row.sid).is_dir():
                self._table.delete(row.key)
                removed += 1
        known = {r.sid for r in self._table.all()}
        for entry in self.root.iterdir():
            if entry.name in _RESERVED or entry.name in known:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def close(self) -> None:
        self._table.close()

    def list(self) -> list[Info]:  # last: below it, ``list`` would name this method
        return [Info(r.key, Kind(r.kind), r.parent, r.created) for r in self._table.all()]


class AlreadyExistsError(AlreadyExists):
    """A snapshot with this key already exists."""

    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key}: already exists")
        self.key = key


def walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under ``root``, parents before children, sorted."""
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(root / rel if rel else root) as it:
            entries = sorted(it, key=lambda e: e.name, reverse=True)
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)


def tree_size(root: Path) -> int:
    """Bytes of regular files under ``root``, hard links counted once."""
    seen: set[int] = set()
    total = 0
    for _, st in walk(root):
        if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total


def _add_entry(tar: tarfile.TarFile, fs: Path, rel: str) -> None:
    """Add ``fs/rel`` (not recursively) with its xattrs; an overlay opaque dir also gets its marker."""
    path = fs / rel
    info = tar.gettarinfo(str(path), arcname=rel)
    opaque = False
    pax: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        if name.startswith("trusted.overlay."):
            opaque = opaque or (name == _OPAQUE and os.getxattr(path, name, follow_symlinks=False) == b"y")
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        pax["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    info.pax_headers = pax
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)
    if opaque:
        marker = tarfile.TarInfo(f"{rel}/{_WH}{_WH}.opq")
        marker.mtime = info.mtime
        tar.addfile(marker)


def write_tree_tar(root: Path, out: BinaryIO, shift: IdShift | None = None) -> None:
    """A tar stream of everything under ``root`` (paths relative, like ``docker export``)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as raw:
        tar = shifting(raw, shift)
        for name in sorted(os.listdir(root)):
            tar.add(root / name, arcname=name, recursive=True)
