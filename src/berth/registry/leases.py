"""Leases: at most one holder of a named job (gc) among all processes and replicas sharing the metadata.

A lease is a ``meta`` row ``lease:NAME`` = ``HOLDER EXPIRY``, claimed in a write transaction (so two
claims are ordered) and renewed by its holder while it works. A holder that was killed stops renewing:
its lease lapses after ``ttl`` seconds and the next claim takes it over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

from berth.errors import Conflict
from berth.registry.metadata import MetadataDB


class LeaseHeld(Conflict):
    """Another process holds the lease (another gc runs): try again once it has finished."""

    def __init__(self, name: str, holder: str, expires: float) -> None:
        left = max(0, round(expires - time.time()))
        super().__init__(
            f"{name} is already running ({holder}); its lease ends within {left} s unless renewed"
        )


def _holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def held(db: MetadataDB, name: str, *, ttl: float = 300.0) -> Iterator[Callable[[], None]]:
    """Hold lease ``name`` for the block (LeaseHeld if another holds it); yields ``renew()``, which
    the holder calls as it goes (cheap: it writes at most once per tenth of ``ttl``)."""
    key, me = f"lease:{name}", _holder()
    with db.write():
        row = db.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        if row is not None:
            holder, _, expires = str(row["value"]).rpartition(" ")
            if float(expires) > time.time():
                raise LeaseHeld(name, holder, float(expires))
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, f"{me} {time.time() + ttl}"),
        )
    renewed = time.monotonic()

    def renew() -> None:
        nonlocal renewed
        if time.monotonic() - renewed >= ttl / 10:
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (f"{me} {time.time() + ttl}", key))
            renewed = time.monotonic()

    try:
        yield renew
    finally:
        db.execute("DELETE FROM meta WHERE key = ? AND value LIKE ?", (key, f"{me} %"))
