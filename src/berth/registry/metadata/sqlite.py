"""The SQLite back end: ``<root>/registry.db`` in WAL mode, for one host (serve, gc and the CLI)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from berth.errors import Internal, Unavailable
from berth.registry.metadata.schema import BASE_SCHEMA, MIGRATIONS, SCHEMA_VERSION, SEED_VERSION, statements
from berth.registry.storage.driver import StorageFull


class SqliteMetadata:
    """One SQLite connection shared by the process, serialised by a lock.

    Reads are single statements (``query``/``query_one``); multi-statement changes go through
    ``write()``, which takes SQLite's write lock up front (``BEGIN IMMEDIATE``) and commits or rolls back.
    """

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._open()
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open registry database {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._in_tx = False

    def _open(self) -> None:
        """WAL mode, the base schema and the migrations. Switching a new file to WAL (or reading it while
        another process does) can answer "database is locked" at once, without SQLite's busy wait:
        processes opening a new database together retry that, within the same 30 s."""
        deadline = time.monotonic() + 30.0
        delay = 0.01
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(f"BEGIN IMMEDIATE;{BASE_SCHEMA};COMMIT;")
                break
            except sqlite3.OperationalError as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        self._conn.execute(SEED_VERSION)
        self._migrate()

    def _migrate(self) -> None:
        """Apply the steps this database lacks; a newer database than this code is refused."""
        while True:
            self._conn.execute("BEGIN IMMEDIATE")  # another process may be migrating: one at a time
            try:
                row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0])
                if version > SCHEMA_VERSION:
                    raise Unavailable(
                        f"registry database {self._path} has schema version {version}; "
                        f"this berth-registry knows only up to {SCHEMA_VERSION}"
                    )
                if version == SCHEMA_VERSION:
                    self._conn.execute("COMMIT")
                    return
                for statement in statements(MIGRATIONS[version]):
                    self._conn.execute(statement)
                self._conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version + 1),)
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, _map_sqlite_errors(self._path):
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def query_one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run one change statement (autocommitted unless inside ``write()``); returns rows changed."""
        with self._lock, _map_sqlite_errors(self._path):
            return self._conn.execute(sql, params).rowcount

    @contextlib.contextmanager
    def write(self) -> Iterator[SqliteMetadata]:
        """A write transaction holding SQLite's write lock; commits on success, rolls back on error."""
        with self._lock:
            if self._in_tx:
                yield self
                return
            with _map_sqlite_errors(self._path):
                self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield self
                with _map_sqlite_errors(self._path):
                    self._conn.execute("COMMIT")  # a failed COMMIT leaves it open: rolled back below
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_tx = False


@contextlib.contextmanager
def _map_sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
            raise StorageFull(str(path), "sqlite") from exc
        if exc.sqlite_errorcode == sqlite3.SQLITE_ERROR:  # bad SQL (no such column…): our bug, not the disk's
            raise Internal(f"registry database: {exc}") from exc
        raise Unavailable(f"registry database: {exc}") from exc
    except sqlite3.Error as exc:
        raise Internal(f"registry database: {exc}") from exc
