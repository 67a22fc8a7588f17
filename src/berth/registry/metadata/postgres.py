"""The PostgreSQL back end: one database shared by every replica (``metadata: {driver: postgres, url}``).

Same contract as SQLite's, kept by the same means: one connection per process behind a lock, single
statements autocommitted, and every change that must be ordered against others (``write()`` and a lone
``execute()``) taken under one transaction-scoped advisory lock, so writers on all replicas run one at a
time as they do under SQLite's ``BEGIN IMMEDIATE``; reads never wait. Migrations run at start under the
same lock, so replicas started together apply each step once.

SQL arrives in the shared dialect: ``?`` placeholders become ``%s`` (and a literal ``%`` doubles) once
per statement text, outside quoted literals.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from berth.errors import Internal, Unavailable
from berth.registry.metadata.schema import (
    BASE_SCHEMA,
    MIGRATIONS,
    SCHEMA_VERSION,
    SEED_VERSION,
    postgres_ddl,
    statements,
)
from berth.registry.storage.driver import StorageFull

# The advisory lock every writer takes: a constant key ("berthreg" as an int64) in the database's space.
_WRITE_LOCK = 0x6265727468726567
_LITERAL_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?\d*|%|\buser\b", re.IGNORECASE)


class PgRow(tuple[Any, ...]):
    """A row by position or by column name, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any, /) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` and numbered ``?N`` ones to ``%(N)s`` (see ``_params``);
    a ``%`` doubles, in literals too."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token.startswith("?"):
            return f"%({token[1:]})s"
        if token == "%":
            return "%%"
        if token.lower() == "user":
            # PostgreSQL reads a bare ``user`` as CURRENT_USER: a column so named would silently
            # compare with the connection's role; SQLite takes both, so the shared SQL quotes it
            raise Internal(f'registry database: quote the column "user" in: {sql}')
        return token.replace("%", "%%")

    return _LITERAL_OR_MARK.sub(swap, sql)


def _params(sql: str, params: tuple[object, ...]) -> tuple[object, ...] | dict[str, object]:
    """Numbered placeholders take their values by position, as SQLite's ``?N`` do."""
    if "%(" in sql:
        return {str(i): value for i, value in enumerate(params, start=1)}
    return params


class PostgresMetadata:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.RLock()
        self._in_tx = False
        self._conn = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            # psycopg's message names host and port, never the password
            raise Unavailable(f"cannot connect to the registry database: {_first_line(exc)}") from exc

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, made again if the server dropped it (a restart, a failover)."""
        if self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _migrate(self) -> None:
        with self._lock, _map_errors(), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            for statement in statements(postgres_ddl(BASE_SCHEMA)):
                self._conn.execute(statement.encode())
            self._conn.execute(SEED_VERSION.encode())
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 1
            if version > SCHEMA_VERSION:
                raise Unavailable(
                    f"registry database has schema version {version}; "
                    f"this berth-registry knows only up to {SCHEMA_VERSION}"
                )
            while version < SCHEMA_VERSION:
                for statement in statements(postgres_ddl(MIGRATIONS[version])):
                    self._conn.execute(statement.encode())
                version += 1
                self._conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(version),))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[PgRow]:
        with self._lock, _map_errors():
            try:
                return self._fetch(sql, params)
            except psycopg.OperationalError:
                if self._in_tx or not self._conn.broken:
                    raise
                return self._fetch(sql, params)  # the server dropped us (a restart): one new try

    def _fetch(self, sql: str, params: tuple[object, ...]) -> list[PgRow]:
        query = to_pyformat(sql)
        cur = self._live().execute(query.encode(), _params(query, params))
        if cur.description is None:
            return []
        names = {column.name: i for i, column in enumerate(cur.description)}
        return [PgRow(values, names) for values in cur.fetchall()]

    def query_one(self, sql: str, params: tuple[object, ...] = ()) -> PgRow | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        with self.write() as db:
            return db._run(sql, params)

    def _run(self, sql: str, params: tuple[object, ...]) -> int:
        with _map_errors():
            query = to_pyformat(sql)
            return self._conn.execute(query.encode(), _params(query, params)).rowcount

    @contextlib.contextmanager
    def write(self) -> Iterator[PostgresMetadata]:
        with self._lock:
            if self._in_tx:
                yield self
                return
            with _map_errors():
                conn = self._begin()
            self._in_tx = True
            try:
                yield self
                with _map_errors():
                    conn.execute("COMMIT")
            except BaseException:
                if not conn.broken:
                    with _map_errors():
                        conn.execute("ROLLBACK")
                raise
            finally:
                self._in_tx = False

    def _begin(self) -> psycopg.Connection[Any]:
        """BEGIN and the writers' lock; once more on a new connection if the server dropped the old one
        (nothing has happened yet, so the retry is safe)."""
        for attempt in (1, 2):
            conn = self._live()
            try:
                conn.execute("BEGIN")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                return conn
            except psycopg.OperationalError:
                if not conn.broken:
                    conn.execute("ROLLBACK")
                    raise
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _map_errors() -> Iterator[None]:
    try:
        yield
    except pg_errors.DiskFull as exc:
        raise StorageFull("registry database", "postgres") from exc
    except psycopg.OperationalError as exc:
        raise Unavailable(f"registry database: {_first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise Internal(f"registry database: {_first_line(exc)}") from exc
