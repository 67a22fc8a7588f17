"""The registry's metadata in SQLite: what exists in which repository, and who may see it.

Schema (``<root>/registry.db``, WAL mode; version in ``meta.schema_version``)::

    repositories  name PK, visibility ('public'|'private'), description, created; (v3:) readme,
                  description_source ('manual' set by an owner | 'push' | ''), last_pushed
    blobs         digest PK, size, touched          verified bytes present under storage/blobs/
    repo_blobs    repo, digest  PK(repo, digest)    blob links: what a repository may serve
    manifests     repo, digest, media_type, size, artifact_type, subject, annotations (JSON), created
                  PK(repo, digest)
    manifest_refs repo, manifest, child  PK(...)    descriptors a manifest names (config, layers,
                                                    index children): the edges gc marks along
    tags          repo, tag, digest, updated  PK(repo, tag)
    uploads       id PK, repo, started              open upload sessions (bytes in storage/uploads/)
    users         name PK, password_hash (bcrypt), admin, created
    orgs          name PK, owner, created
    teams         org, name  PK(org, name)
    team_members  org, team, user  PK(org, team, user)
    grants        org, team, repo, access ('pull'|'push'|'admin')  PK(org, team, repo)
    robots        org, name, token_hash (bcrypt), created  PK(org, name)                    (v2)
    robot_grants  org, name, repo (a name or fnmatch pattern inside org), access ('pull'|'push')
                  PK(org, name, repo)                                                      (v2)
    webhooks      id PK, target (REPO or ORG), url, secret, events ('push,delete'), created  (v2)
    webhook_queue id PK, hook, event, body (JSON envelope), attempt, due   not yet delivered  (v2)
    webhook_log   id PK, hook, event, attempt, time, status (HTTP code or NULL), error
                  the last deliveries of each hook (notify/store.py keeps it bounded)        (v2)
    pulls         repo, tag, count, last_pulled  PK(repo, tag)  tag '' counts every pull   (v3)
    stars         repo, user, created  PK(repo, user)                                      (v3)
    quotas        namespace PK, limit_bytes, updated     a user's or organisation's quota  (v4)
    tag_policies  target PK (REPO or NS/*), keep_last, pulled_within (days), keep, immutable
                  (JSON lists of tag globs), updated     retention and immutable tags      (v4)

Versions: a new database gets ``_SCHEMA`` (version 1) and then every step of ``_MIGRATIONS``;
an older one only the steps it lacks, each in one transaction with its version bump.

Concurrency: ``serve`` and ``gc`` may be separate processes. Every change that must agree with
storage (publishing a blob, gc unlinking one) happens inside ``write()``, i.e. ``BEGIN IMMEDIATE``,
so SQLite's write lock orders them across processes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from berth.errors import Internal, Unavailable
from berth.registry.storage.driver import StorageFull

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, visibility TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS repo_blobs (repo TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    artifact_type TEXT, subject TEXT, annotations TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
    PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
CREATE INDEX IF NOT EXISTS manifests_digest ON manifests (digest);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (repo, manifest, child));
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs (child);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, repo TEXT NOT NULL, started REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS teams (org TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (org, name));
CREATE TABLE IF NOT EXISTS team_members (
    org TEXT NOT NULL, team TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (org, team, user));
CREATE TABLE IF NOT EXISTS grants (
    org TEXT NOT NULL, team TEXT NOT NULL, repo TEXT NOT NULL, access TEXT NOT NULL,
    PRIMARY KEY (org, team, repo));
"""

# _MIGRATIONS[n] takes a version-n database to version n + 1.
_MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS robots (
    org TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (org, name));
CREATE TABLE IF NOT EXISTS robot_grants (
    org TEXT NOT NULL, name TEXT NOT NULL, repo TEXT NOT NULL, access TEXT NOT NULL,
    PRIMARY KEY (org, name, repo));
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL,
    events TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhooks_target ON webhooks (target);
CREATE TABLE IF NOT EXISTS webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hook TEXT NOT NULL, event TEXT NOT NULL, body BLOB NOT NULL,
    attempt INTEGER NOT NULL, due REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_queue_due ON webhook_queue (due);
CREATE TABLE IF NOT EXISTS webhook_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hook TEXT NOT NULL, event TEXT NOT NULL,
    attempt INTEGER NOT NULL, time REAL NOT NULL, status INTEGER, error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS webhook_log_hook ON webhook_log (hook, id);
""",
    # The hub (hub/): a description that came with a push (the only kind before) may be replaced
    # by the next push; last_pushed starts from the newest tag.
    2: """
ALTER TABLE repositories ADD COLUMN readme TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN description_source TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN last_pushed REAL;
UPDATE repositories SET description_source = 'push' WHERE description != '';
UPDATE repositories SET last_pushed = (SELECT MAX(updated) FROM tags WHERE tags.repo = repositories.name);
CREATE TABLE IF NOT EXISTS pulls (
    repo TEXT NOT NULL, tag TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0, last_pulled REAL,
    PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS stars (
    repo TEXT NOT NULL, user TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (repo, user));
CREATE INDEX IF NOT EXISTS stars_user ON stars (user);
""",
    # Storage policy (policy/): quotas per namespace, retention and immutable tags per repository
    # or namespace. Nothing existing changes: no quota and no policy is what older versions did.
    3: """
CREATE TABLE IF NOT EXISTS quotas (
    namespace TEXT PRIMARY KEY, limit_bytes INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tag_policies (
    target TEXT PRIMARY KEY, keep_last INTEGER, pulled_within REAL, keep TEXT NOT NULL DEFAULT '[]',
    immutable TEXT NOT NULL DEFAULT '[]', updated REAL NOT NULL);
""",
}


class MetadataDB:
    """One SQLite connection shared by the process, serialised by a lock.

    Reads are single statements (``query``/``query_one``); multi-statement changes go through
    ``write()``, which takes SQLite's write lock up front (``BEGIN IMMEDIATE``) and commits or rolls back.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')")
            self._migrate()
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open registry database {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._in_tx = False

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
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
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
    def write(self) -> Iterator[MetadataDB]:
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
        raise Unavailable(f"registry database: {exc}") from exc
    except sqlite3.Error as exc:
        raise Internal(f"registry database: {exc}") from exc
