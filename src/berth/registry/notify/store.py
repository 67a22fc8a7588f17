"""WebhookStore: the hooks, the queue of deliveries not yet done, and the bounded delivery log.

A hook's target is a repository (``ORG/app``) or a namespace (``ORG``: every ``ORG/…`` repository).
``publish`` only inserts queue rows, so a push never waits for a receiver; the queue lives in the
metadata DB, so deliveries survive a restart. A worker ``claim``s due rows by pushing their ``due``
time a lease ahead (inside one write transaction, so two replicas never take the same row); a worker
that dies mid-delivery leaves the row to be retried when the lease ends (at-least-once delivery).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from berth.errors import InvalidArgument, NotFound
from berth.registry.metadata import MetadataDB, Row
from berth.registry.notify.envelope import ACTIONS

DEFAULT_EVENTS = ("push", "delete")
LOG_KEEP = 50  # delivery log rows kept per hook


@dataclass(frozen=True, slots=True)
class Hook:
    id: str
    target: str
    url: str
    secret: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued delivery: ``attempt`` is the number of the next try (1 for the first)."""

    id: int
    hook: str
    event: str
    body: bytes
    attempt: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    hook: str
    event: str
    attempt: int
    time: float
    status: int | None
    error: str


def parse_events(text: str | None) -> tuple[str, ...]:
    """``push,delete,pull`` → the events; scan (not implemented) and unknown names are refused."""
    if not text:
        return DEFAULT_EVENTS
    events = tuple(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))
    if "scan" in events:
        raise InvalidArgument("--events scan: the registry has no vulnerability scanner yet")
    unknown = [e for e in events if e not in ACTIONS]
    if unknown or not events:
        raise InvalidArgument(f"--events: unknown event {', '.join(unknown)!r}; use {', '.join(ACTIONS)}")
    return events


def _hook(r: Row) -> Hook:
    events = tuple(str(r["events"]).split(","))
    return Hook(str(r["id"]), str(r["target"]), str(r["url"]), str(r["secret"]), events)


class WebhookStore:
    def __init__(self, db: MetadataDB) -> None:
        self._db = db

    # hooks ------------------------------------------------------------------------------------------
    def add(self, target: str, url: str, secret: str, events: tuple[str, ...]) -> Hook:
        if not url.startswith(("http://", "https://")):
            raise InvalidArgument(f"webhook URL must be http:// or https://, not {url!r}")
        if not secret:
            raise InvalidArgument("--secret must not be empty (receivers check the signature with it)")
        hook = Hook(secrets.token_hex(6), target, url, secret, events)
        self._db.execute(
            "INSERT INTO webhooks (id, target, url, secret, events, created) VALUES (?, ?, ?, ?, ?, ?)",
            (hook.id, target, url, secret, ",".join(events), time.time()),
        )
        return hook

    def remove(self, hook_id: str) -> None:
        """Delete the hook, its pending deliveries and its log."""
        with self._db.write():
            if self._db.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,)) == 0:
                raise NotFound(f"no such webhook: {hook_id}")
            self._db.execute("DELETE FROM webhook_queue WHERE hook = ?", (hook_id,))
            self._db.execute("DELETE FROM webhook_log WHERE hook = ?", (hook_id,))

    def get(self, hook_id: str) -> Hook | None:
        row = self._db.query_one("SELECT * FROM webhooks WHERE id = ?", (hook_id,))
        return None if row is None else _hook(row)

    def hooks(self) -> list[Hook]:
        return [_hook(r) for r in self._db.query("SELECT * FROM webhooks ORDER BY target, created")]

    def for_repository(self, repository: str) -> list[Hook]:
        """The hooks that hear of ``repository``: its own and its namespace's."""
        rows = self._db.query(
            "SELECT * FROM webhooks WHERE target = ? OR target = ? ORDER BY target, created",
            (repository, repository.split("/", 1)[0]),
        )
        return [_hook(r) for r in rows]

    def pending(self, hook_id: str) -> int:
        row = self._db.query_one("SELECT count(*) AS n FROM webhook_queue WHERE hook = ?", (hook_id,))
        return int(row["n"]) if row else 0

    # queue ------------------------------------------------------------------------------------------
    def publish(self, repository: str, action: str, body: bytes) -> int:
        """Queue ``body`` for every hook on ``repository`` or its namespace that wants ``action``."""
        namespace = repository.split("/", 1)[0]
        rows = self._db.query(
            "SELECT id, events FROM webhooks WHERE target = ? OR target = ?", (repository, namespace)
        )
        wanted = [str(r["id"]) for r in rows if action in str(r["events"]).split(",")]
        if not wanted:
            return 0
        now = time.time()
        with self._db.write():
            for hook_id in wanted:
                self._db.execute(
                    "INSERT INTO webhook_queue (hook, event, body, attempt, due) VALUES (?, ?, ?, 1, ?)",
                    (hook_id, action, body, now),
                )
        return len(wanted)

    def claim(self, limit: int, lease: float) -> list[Delivery]:
        """Up to ``limit`` due deliveries, each held for ``lease`` seconds."""
        now = time.time()
        if self._db.query_one("SELECT 1 FROM webhook_queue WHERE due <= ? LIMIT 1", (now,)) is None:
            return []  # the usual case: no write lock taken
        with self._db.write():
            rows = self._db.query(
                "SELECT id, hook, event, body, attempt FROM webhook_queue WHERE due <= ? ORDER BY due LIMIT ?",
                (now, limit),
            )
            for r in rows:
                self._db.execute("UPDATE webhook_queue SET due = ? WHERE id = ?", (now + lease, r["id"]))
        return [
            Delivery(int(r["id"]), str(r["hook"]), str(r["event"]), bytes(r["body"]), int(r["attempt"]))
            for r in rows
        ]

    def next_due(self) -> float | None:
        row = self._db.query_one("SELECT min(due) AS due FROM webhook_queue")
        return None if row is None or row["due"] is None else float(row["due"])

    def done(self, delivery: Delivery) -> None:
        self._db.execute("DELETE FROM webhook_queue WHERE id = ?", (delivery.id,))

    def release(self, delivery: Delivery) -> None:
        """Give up the lease without an attempt (the worker is stopping): due again at once."""
        self._db.execute("UPDATE webhook_queue SET due = ? WHERE id = ?", (time.time(), delivery.id))

    def retry(self, delivery: Delivery, delay: float) -> None:
        self._db.execute(
            "UPDATE webhook_queue SET attempt = ?, due = ? WHERE id = ?",
            (delivery.attempt + 1, time.time() + delay, delivery.id),
        )

    # log --------------------------------------------------------------------------------------------
    def log(self, delivery: Delivery, status: int | None, error: str) -> None:
        """Record one attempt and drop the hook's entries older than the last ``LOG_KEEP``."""
        with self._db.write():
            self._db.execute(
                "INSERT INTO webhook_log (hook, event, attempt, time, status, error) VALUES (?, ?, ?, ?, ?, ?)",
                (delivery.hook, delivery.event, delivery.attempt, time.time(), status, error),
            )
            self._db.execute(
                "DELETE FROM webhook_log WHERE hook = ? AND id <= "
                "(SELECT id FROM webhook_log WHERE hook = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (delivery.hook, delivery.hook, LOG_KEEP),
            )

    def deliveries(self, hook_id: str | None = None, *, last: int | None = None) -> list[LogEntry]:
        """The log, oldest first: of one hook, or of all; only the ``last`` entries if given."""
        where, params = ("WHERE hook = ?", (hook_id,)) if hook_id else ("", ())
        limit = "" if last is None else f"LIMIT {int(last)}"
        rows = self._db.query(
            f"SELECT * FROM (SELECT * FROM webhook_log {where} ORDER BY id DESC {limit}) AS recent ORDER BY id",  # noqa: S608
            params,
        )
        return [
            LogEntry(
                str(r["hook"]),
                str(r["event"]),
                int(r["attempt"]),
                float(r["time"]),
                None if r["status"] is None else int(r["status"]),
                str(r["error"]),
            )
            for r in rows
        ]
