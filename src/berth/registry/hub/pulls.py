"""Pull counts: a manifest GET counts one pull of the repository, and of the tag when pulled by tag.

Counting must not slow pulls down: ``record`` only adds to a dict in memory; ``flush`` (every
``FLUSH_SECONDS`` while serving, and at shutdown) adds the pending counts to the ``pulls`` table in
one transaction. Adding, not overwriting, lets several replicas share one database. Readers see
stored plus pending counts, so an answer never lags the pulls this process served. A process that is
killed loses at most its last ``FLUSH_SECONDS`` of counts.
"""

from __future__ import annotations

import threading
import time

from berth.registry.metadata import MetadataDB

FLUSH_SECONDS = 5.0
ALL = ""  # the ``tag`` under which a repository's total is kept


class PullCounts:
    """Pending counts in memory over the ``pulls`` table (module docstring)."""

    def __init__(self, db: MetadataDB) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], tuple[int, float]] = {}

    def record(self, repo: str, tag: str | None, when: float | None = None) -> None:
        when = time.time() if when is None else when
        with self._lock:
            for key in ((repo, ALL), (repo, tag)) if tag else ((repo, ALL),):
                count, last = self._pending.get(key, (0, 0.0))
                self._pending[key] = (count + 1, max(last, when))

    def flush(self) -> int:
        """Store what is pending; returns how many (repository, tag) rows changed. On a database
        error the counts stay pending for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with self._db.write():
                for (repo, tag), (count, last) in pending.items():
                    self._db.execute(
                        # not for a repository deleted since (``repo rm`` in another process)
                        "INSERT INTO pulls (repo, tag, count, last_pulled) SELECT ?, ?, ?, ? "
                        "WHERE EXISTS (SELECT 1 FROM repositories WHERE name = ?) "
                        "ON CONFLICT (repo, tag) DO UPDATE SET count = pulls.count + excluded.count, "
                        "last_pulled = CASE WHEN pulls.last_pulled > excluded.last_pulled "
                        "THEN pulls.last_pulled ELSE excluded.last_pulled END",
                        (repo, tag, count, last, repo),
                    )
        except BaseException:
            with self._lock:
                for key, (count, last) in pending.items():
                    more, later = self._pending.get(key, (0, 0.0))
                    self._pending[key] = (count + more, max(last, later))
            raise
        return len(pending)

    def of(self, repo: str) -> dict[str, tuple[int, float | None]]:
        """tag (``ALL`` for the repository) -> (pulls, last pulled) of ``repo``."""
        rows = self._db.query("SELECT tag, count, last_pulled FROM pulls WHERE repo = ?", (repo,))
        counts: dict[str, tuple[int, float | None]] = {
            str(r["tag"]): (int(r["count"]), r["last_pulled"]) for r in rows
        }
        with self._lock:
            pending = [(tag, value) for (name, tag), value in self._pending.items() if name == repo]
        for tag, (count, last) in pending:
            stored, stored_last = counts.get(tag, (0, None))
            counts[tag] = (stored + count, max(last, stored_last or 0.0))
        return counts

    def totals(self) -> dict[str, int]:
        """Pulls of every pulled repository (search ranks all of them at once)."""
        rows = self._db.query("SELECT repo, count FROM pulls WHERE tag = ?", (ALL,))
        totals = {str(r["repo"]): int(r["count"]) for r in rows}
        with self._lock:
            for (repo, tag), (count, _) in self._pending.items():
                if tag == ALL:
                    totals[repo] = totals.get(repo, 0) + count
        return totals
