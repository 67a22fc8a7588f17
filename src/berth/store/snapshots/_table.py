"""The snapshot records of one snapshotter, in SQLite (WAL). Schema::

    snapshots(
      key     TEXT PRIMARY KEY,   -- active key or committed name
      sid     TEXT UNIQUE,        -- the directory under the snapshotter root
      kind    TEXT,               -- active | view | committed
      parent  TEXT,               -- committed name, "" for none
      created REAL,               -- unix seconds
      link    TEXT                -- overlay: short name under l/ ("" for naive)
    )

A record is written after its directory exists and deleted before its directory is removed (on a full
disk, where SQLite cannot delete, just after: ``SnapshotterBase.remove``), so a crash leaves at worst a
directory without a record or a record without its directory, both of which ``cleanup`` removes. A full
disk raises ``OSError(ENOSPC)`` naming the database file.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from berth.errors import AlreadyExists, Internal, NotFound
from berth.store.metadata import disk_full_as_oserror

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY,
    sid TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    created REAL NOT NULL,
    link TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
"""


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    sid: str
    kind: str
    parent: str
    created: float
    link: str


class SnapshotTable:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise Internal(f"snapshot metadata {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def get(self, key: str) -> Row:
        row = self.find(key)
        if row is None:
            raise NotFound(f"snapshot {key}: not found")
        return row

    def find(self, key: str) -> Row | None:
        with self._lock:
            found = self._db.execute(
                "SELECT key, sid, kind, parent, created, link FROM snapshots WHERE key = ?", (key,)
            ).fetchone()
        return Row(*found) if found else None

    def all(self) -> list[Row]:
        with self._lock:
            rows = self._db.execute("SELECT key, sid, kind, parent, created, link FROM snapshots").fetchall()
        return [Row(*r) for r in rows]

    def insert(self, row: Row) -> None:
        with self._lock, disk_full_as_oserror(self._path):
            try:
                self._db.execute(
                    "INSERT INTO snapshots (key, sid, kind, parent, created, link) VALUES (?, ?, ?, ?, ?, ?)",
                    (row.key, row.sid, row.kind, row.parent, row.created, row.link),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"snapshot {row.key}: already exists") from exc

    def rename(self, key: str, name: str, kind: str) -> None:
        with self._lock, disk_full_as_oserror(self._path):
            try:
                cur = self._db.execute(
                    "UPDATE snapshots SET key = ?, kind = ? WHERE key = ?", (name, kind, key)
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"snapshot {name}: already exists") from exc
            if cur.rowcount == 0:
                raise NotFound(f"snapshot {key}: not found")

    def children(self, name: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM snapshots WHERE parent = ?", (name,)).fetchall()
        return [r[0] for r in rows]

    def delete(self, key: str) -> None:
        with self._lock, disk_full_as_oserror(self._path):
            self._db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
