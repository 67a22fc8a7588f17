"""The registry's metadata: what exists in which repository, and who may see it.

One Protocol, ``MetadataDB``, and two back ends that pass the same conformance suite
(``tests/conformance/test_metadata.py``): SQLite in ``<root>/registry.db`` for one process on one host
(``sqlite.py``), PostgreSQL for several replicas sharing one database (``postgres.py``). The tables are
in ``schema.py``; services write their SQL once, in the dialect both accept (``?`` placeholders,
``INSERT … ON CONFLICT``, reserved words quoted).

Concurrency: ``serve`` and ``gc`` may be separate processes, or replicas on other hosts. Every change
that must agree with storage (publishing a blob, gc unlinking one) happens inside ``write()``, which
orders writers across processes: SQLite's write lock (``BEGIN IMMEDIATE``), or on PostgreSQL one
transaction-scoped advisory lock that every writer takes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from berth.errors import InvalidArgument
from berth.registry.metadata.schema import SCHEMA_VERSION
from berth.registry.metadata.sqlite import SqliteMetadata

__all__ = ["SCHEMA_VERSION", "MetadataDB", "Row", "SqliteMetadata", "open_metadata"]

DRIVERS = ("sqlite", "postgres")


class Row(Protocol):
    """A result row, by position or by column name (``sqlite3.Row`` is one)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class MetadataDB(Protocol):
    """Reads are single statements; multi-statement changes go through ``write()``."""

    #: "sqlite" or "postgres", for the rare query the two spell differently (search's narrowing)
    dialect: str

    def query(self, sql: str, params: tuple[object, ...] = ()) -> Sequence[Row]: ...

    def query_one(self, sql: str, params: tuple[object, ...] = ()) -> Row | None: ...

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run one change statement (its own transaction unless inside ``write()``); rows changed."""
        ...

    def write(self) -> contextlib.AbstractContextManager[MetadataDB]:
        """A transaction that orders writers; commits on success, rolls back on error. Nests."""
        ...

    def close(self) -> None: ...


def open_metadata(driver: str, *, sqlite_path: Path, url: str | None = None) -> MetadataDB:
    """The back end the config names; PostgreSQL's client library is imported only when used."""
    if driver == "sqlite":
        return SqliteMetadata(sqlite_path)
    if driver == "postgres":
        if not url:
            raise InvalidArgument("config: metadata.url is required for the postgres driver")
        from berth.registry.metadata.postgres import PostgresMetadata

        return PostgresMetadata(url)
    raise InvalidArgument(f"config: unknown metadata driver {driver!r} (sqlite or postgres)")
