"""The image index: images, their references (tags and digests) and their layers, in SQLite (WAL).

Schema::

    images(
      image_id        TEXT PRIMARY KEY,  -- sha256:<hex> of the config JSON (also its blob digest)
      manifest_digest TEXT,              -- the stored manifest blob
      created         REAL,              -- unix seconds, from config.created
      top_layer       TEXT,              -- chain id of the top layer ("" for none) = snapshot name
      parent          TEXT,              -- image id of the parent ("" for none)
      added           REAL               -- when this store got it
    )
    refs(
      name     TEXT PRIMARY KEY,         -- normalised: docker.io/library/busybox:latest or repo@sha256:…
      image_id TEXT,                     -- → images
      kind     TEXT,                     -- tag | digest
      created  REAL                      -- when it was (re)pointed (Metadata.LastTagTime)
    )
    layers(
      chain_id     TEXT PRIMARY KEY,     -- = the committed snapshot's name
      diff_id      TEXT,                 -- sha256 of the uncompressed tar
      parent       TEXT,                 -- chain id below ("" for the base layer)
      blob_digest  TEXT,                 -- the layer as received (tar, tar+gzip, tar+zstd)
      media_type   TEXT,
      tar_size     INTEGER,              -- bytes of the uncompressed tar (save needs it up front)
      size         INTEGER               -- bytes of regular files it unpacks to
    )

Writes that belong together run in one transaction (an image and its tags), so a daemon killed at any
point leaves either the old or the new state. Layers are recorded once their snapshot is committed;
layers no image uses are collected by the image service.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from berth.errors import Internal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    created REAL NOT NULL,
    top_layer TEXT NOT NULL,
    parent TEXT NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT NOT NULL,
    blob_digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    tar_size INTEGER NOT NULL,
    size INTEGER NOT NULL
);
PRAGMA user_version = 1;
"""


@dataclass(frozen=True, slots=True)
class ImageRow:
    image_id: str
    manifest_digest: str
    created: float
    top_layer: str
    parent: str
    added: float


@dataclass(frozen=True, slots=True)
class RefRow:
    name: str
    image_id: str
    kind: str
    created: float


@dataclass(frozen=True, slots=True)
class LayerRow:
    chain_id: str
    diff_id: str
    parent: str
    blob_digest: str
    media_type: str
    tar_size: int
    size: int


@contextmanager
def disk_full_as_oserror(path: Path) -> Iterator[None]:
    """SQLite's "database or disk is full" as the ``OSError(ENOSPC)`` every other write on a full disk
    raises, naming the database, so callers and the daemon's error table treat all of them alike."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc


class ImageIndex:
    """Thread-safe access to the schema above (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise Internal(f"image metadata {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a full disk raises ``OSError(ENOSPC)`` and leaves nothing open."""
        with self._lock, disk_full_as_oserror(self._path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")  # a failed COMMIT leaves the transaction open: rolled back below
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (a full disk)
                    self._db.execute("ROLLBACK")
                raise

    # -- images ----------------------------------------------------------------------------------------
    def put_image(self, row: ImageRow, refs: list[tuple[str, str]]) -> dict[str, str]:
        """Add (or keep) ``row`` and point ``refs`` ((name, kind)) at it, in one transaction.

        Returns {ref name: previous image id} for refs that pointed elsewhere.
        """
        moved: dict[str, str] = {}
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO images (image_id, manifest_digest, created, top_layer, parent, added) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (row.image_id, row.manifest_digest, row.created, row.top_layer, row.parent, row.added),
            )
            for name, kind in refs:
                old = db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
                if old and old[0] != row.image_id:
                    moved[name] = old[0]
                db.execute(
                    "INSERT OR REPLACE INTO refs (name, image_id, kind, created) VALUES (?, ?, ?, ?)",
                    (name, row.image_id, kind, now),
                )
        return moved

    def image(self, image_id: str) -> ImageRow | None:
        with self._lock:
            found = self._db.execute(
                "SELECT image_id, manifest_digest, created, top_layer, parent, added FROM images "
                "WHERE image_id = ?",
                (image_id,),
            ).fetchone()
        return ImageRow(*found) if found else None

    def images(self) -> list[ImageRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT image_id, manifest_digest, created, top_layer, parent, added FROM images"
            ).fetchall()
        return [ImageRow(*r) for r in rows]

    def find_prefix(self, hex_prefix: str) -> list[str]:
        """Image ids starting with ``sha256:<hex_prefix>``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT image_id FROM images WHERE substr(image_id, 1, ?) = ?",
                (7 + len(hex_prefix), "sha256:" + hex_prefix),
            ).fetchall()
        return [r[0] for r in rows]

    def delete_image(self, image_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM refs WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE image_id = ?", (image_id,))

    # -- refs ------------------------------------------------------------------------------------------
    def ref(self, name: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
        return found[0] if found else None

    def refs(self, image_id: str | None = None) -> list[RefRow]:
        with self._lock:
            if image_id is None:
                rows = self._db.execute(
                    "SELECT name, image_id, kind, created FROM refs ORDER BY name"
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT name, image_id, kind, created FROM refs WHERE image_id = ? ORDER BY name",
                    (image_id,),
                ).fetchall()
        return [RefRow(*r) for r in rows]

    def set_ref(self, name: str, kind: str, image_id: str) -> str | None:
        """Point ``name`` at ``image_id``; returns the image it pointed at before (or None)."""
        with self.transaction() as db:
            old = db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO refs (name, image_id, kind, created) VALUES (?, ?, ?, ?)",
                (name, image_id, kind, time.time()),
            )
        return old[0] if old else None

    def delete_ref(self, name: str) -> None:
        with self._lock, disk_full_as_oserror(self._path):
            self._db.execute("DELETE FROM refs WHERE name = ?", (name,))

    # -- layers ----------------------------------------------------------------------------------------
    def add_layer(self, row: LayerRow) -> None:
        """Record a committed layer; a layer already recorded is kept as is."""
        with self._lock, disk_full_as_oserror(self._path):
            self._db.execute(
                "INSERT OR IGNORE INTO layers "
                "(chain_id, diff_id, parent, blob_digest, media_type, tar_size, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.chain_id,
                    row.diff_id,
                    row.parent,
                    row.blob_digest,
                    row.media_type,
                    row.tar_size,
                    row.size,
                ),
            )

    def layer(self, chain_id: str) -> LayerRow | None:
        with self._lock:
            found = self._db.execute(
                "SELECT chain_id, diff_id, parent, blob_digest, media_type, tar_size, size FROM layers "
                "WHERE chain_id = ?",
                (chain_id,),
            ).fetchone()
        return LayerRow(*found) if found else None

    def layers(self) -> list[LayerRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT chain_id, diff_id, parent, blob_digest, media_type, tar_size, size FROM layers"
            ).fetchall()
        return [LayerRow(*r) for r in rows]

    def delete_layer(self, chain_id: str) -> None:
        with self._lock, disk_full_as_oserror(self._path):
            self._db.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
