"""Stars: a signed-in user marks a repository (once); the count ranks search results."""

from __future__ import annotations

import time

from berth.registry.metadata import MetadataDB


class Stars:
    """The ``stars`` table."""

    def __init__(self, db: MetadataDB) -> None:
        self._db = db

    def star(self, repo: str, user: str) -> None:
        self._db.execute(
            'INSERT INTO stars (repo, "user", created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
            (repo, user, time.time()),
        )

    def unstar(self, repo: str, user: str) -> None:
        self._db.execute('DELETE FROM stars WHERE repo = ? AND "user" = ?', (repo, user))

    def count(self, repo: str) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM stars WHERE repo = ?", (repo,))
        return int(row["n"]) if row else 0

    def starred(self, repo: str, user: str) -> bool:
        return (
            self._db.query_one('SELECT 1 FROM stars WHERE repo = ? AND "user" = ?', (repo, user)) is not None
        )

    def counts(self) -> dict[str, int]:
        """Stars of every starred repository (search ranks all of them at once)."""
        rows = self._db.query("SELECT repo, COUNT(*) AS n FROM stars GROUP BY repo")
        return {str(r["repo"]): int(r["n"]) for r in rows}
