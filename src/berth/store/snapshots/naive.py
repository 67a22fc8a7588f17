"""``NaiveSnapshotter``: every snapshot a full copy of its parent (containerd's "native"); no overlayfs.

Layout::

    <root>/
      snapshots.db            records (see _table.py)
      <sid>/fs                the whole filesystem of the snapshot
      tmp/                    scratch (cleaned at start)

Whiteouts are applied by deleting, so ``fs`` is always the merged view; mounts are bind mounts. Slow
and disk-hungry, but runs anywhere (tests without root, filesystems overlayfs cannot stack on).
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from berth.errors import Internal
from berth.oci.mount import Mount
from berth.store.snapshots import CHANGE_ADDED, CHANGE_DELETED, CHANGE_MODIFIED, Kind
from berth.store.snapshots._base import SnapshotterBase, walk
from berth.store.snapshots._table import Row
from berth.store.unpack import Whiteouts


class NaiveSnapshotter(SnapshotterBase):
    """Snapshots as full directory copies (layout in the module docstring)."""

    whiteouts = Whiteouts.DELETE

    def _create(self, sid: str, parent: Row | None, kind: Kind) -> str:
        base = self.root / sid
        base.mkdir()
        fs = base / "fs"
        if parent is None:
            fs.mkdir(mode=0o755)
            return ""
        source = self.root / parent.sid / "fs"
        result = subprocess.run(
            ["cp", "-a", "--reflink=auto", str(source), str(fs)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise Internal(f"copying snapshot {parent.key}: {result.stderr.decode(errors='replace').strip()}")
        return ""

    def _mounts(self, row: Row) -> list[Mount]:
        fs = self.root / row.sid / "fs"
        return [Mount("bind", str(fs), ("rbind", "ro" if row.kind == Kind.VIEW else "rw"))]

    def _merged_dirs(self, row: Row) -> list[Path]:
        return [self.root / row.sid / "fs"]

    def changes(self, key: str) -> list[tuple[str, int]]:
        row = self._table.get(key)
        fs = self.root / row.sid / "fs"
        before: dict[str, os.stat_result] = {}
        parent_fs = fs
        if row.parent:
            parent_fs = self.root / self._table.get(row.parent).sid / "fs"
            before = dict(walk(parent_fs))
        out: list[tuple[str, int]] = []
        for rel, st in walk(fs):
            old = before.pop(rel, None)
            if old is None:
                out.append(("/" + rel, CHANGE_ADDED))
            elif _differs(old, st, parent_fs / rel, fs / rel):
                out.append(("/" + rel, CHANGE_MODIFIED))
        deleted = set(before)
        out.extend(("/" + rel, CHANGE_DELETED) for rel in deleted if rel.rpartition("/")[0] not in deleted)
        out.sort()
        return out


def _differs(old: os.stat_result, new: os.stat_result, old_path: Path, new_path: Path) -> bool:
    if stat.S_IFMT(old.st_mode) != stat.S_IFMT(new.st_mode):
        return True
    if (old.st_mode, old.st_uid, old.st_gid) != (new.st_mode, new.st_uid, new.st_gid):
        return True
    if stat.S_ISDIR(new.st_mode):
        return old.st_mtime_ns != new.st_mtime_ns
    if old.st_size != new.st_size or old.st_mtime_ns != new.st_mtime_ns:
        return True
    if stat.S_ISLNK(new.st_mode):
        return os.readlink(old_path) != os.readlink(new_path)
    return False
