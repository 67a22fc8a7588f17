"""``OverlaySnapshotter``: each snapshot a directory; containers get an overlayfs of their layers.

Layout (docker's overlay2 idea of short link names keeps ``lowerdir=`` under one page)::

    <root>/
      snapshots.db                   records (see _table.py)
      l/<LINK> -> ../<sid>/fs        8-character symlinks used in lowerdir=
      <sid>/fs                       the layer's files (committed) or the upper dir (active)
      <sid>/work                     overlay workdir (active snapshots with a parent)
      tmp/export-<random>            read-only mount points of ``export`` (unmounted at start)

Whiteouts are stored in overlay form (0:0 char devices, ``trusted.overlay.opaque=y``), so a committed
snapshot's ``fs`` is usable as a lower dir as is.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from pathlib import Path

from berth.oci.mount import Mount
from berth.store.snapshots import CHANGE_ADDED, CHANGE_DELETED, CHANGE_MODIFIED, Kind
from berth.store.snapshots._base import SnapshotterBase, walk
from berth.store.snapshots._table import Row
from berth.store.unpack import Whiteouts

_LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_LINK_LEN = 8


class OverlaySnapshotter(SnapshotterBase):
    """Snapshots as overlayfs layers (layout in the module docstring). Needs root and overlayfs."""

    whiteouts = Whiteouts.OVERLAY

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        (root / "l").mkdir(exist_ok=True)

    def _create(self, sid: str, parent: Row | None, kind: Kind) -> str:
        base = self.root / sid
        base.mkdir()
        (base / "fs").mkdir(mode=0o755)
        if parent is not None and kind == Kind.ACTIVE:
            (base / "work").mkdir(mode=0o700)
        while True:
            link = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(_LINK_LEN))
            try:
                os.symlink(f"../{sid}/fs", self.root / "l" / link)
            except FileExistsError:
                continue
            break
        (base / "link").write_text(link)
        return link

    def _destroy(self, row: Row) -> None:
        if row.link:
            (self.root / "l" / row.link).unlink(missing_ok=True)
        else:
            try:
                link = (self.root / row.sid / "link").read_text().strip()
            except FileNotFoundError:
                link = ""
            if link:
                (self.root / "l" / link).unlink(missing_ok=True)
        shutil.rmtree(self.root / row.sid, ignore_errors=True)

    def cleanup(self) -> int:
        removed = super().cleanup()
        links = {row.link for row in self._table.all()}
        for entry in (self.root / "l").iterdir():
            if entry.name not in links or not entry.exists():
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def _lowers(self, row: Row) -> list[str]:
        return [str(self.root / "l" / ancestor.link) for ancestor in self.chain(row)]

    def _mounts(self, row: Row) -> list[Mount]:
        base = self.root / row.sid
        lowers = self._lowers(row)
        if row.kind == Kind.VIEW:
            if not lowers:
                return [Mount("bind", str(base / "fs"), ("rbind", "ro"))]
            if len(lowers) == 1:
                return [
                    Mount("bind", str(self.root / self._table.get(row.parent).sid / "fs"), ("rbind", "ro"))
                ]
            return [Mount("overlay", "overlay", ("lowerdir=" + ":".join(lowers),))]
        if not lowers:
            return [Mount("bind", str(base / "fs"), ("rbind", "rw"))]
        return [
            Mount(
                "overlay",
                "overlay",
                (
                    "lowerdir=" + ":".join(lowers),
                    f"upperdir={base / 'fs'}",
                    f"workdir={base / 'work'}",
                ),
            )
        ]

    def _merged_dirs(self, row: Row) -> list[Path]:
        dirs = [self.root / row.sid / "fs"] if row.kind != Kind.VIEW else []
        dirs.extend(self.root / ancestor.sid / "fs" for ancestor in self.chain(row))
        return dirs or [self.root / row.sid / "fs"]

    def changes(self, key: str) -> list[tuple[str, int]]:
        row = self._table.get(key)
        upper = self.root / row.sid / "fs"
        lowers = [self.root / ancestor.sid / "fs" for ancestor in self.chain(row)]
        out: list[tuple[str, int]] = []
        for rel, st in walk(upper):
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("/" + rel, CHANGE_DELETED))
            elif _in_lowers(lowers, rel):
                out.append(("/" + rel, CHANGE_MODIFIED))
            else:
                out.append(("/" + rel, CHANGE_ADDED))
        out.sort()
        return out


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    """Whether ``rel`` is visible in the union of ``lowers`` (top first): whiteouts and opaque dirs hide."""
    parts = rel.split("/")
    for lower in lowers:
        path = lower
        hidden = False
        for i, part in enumerate(parts):
            path = path / part
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                break
            try:
                if os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    hidden = True
            except OSError:
                pass
        else:
            return True
        if hidden:
            return False
    return False
