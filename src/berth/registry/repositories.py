"""RepositoryService: which repositories exist, their visibility and description, catalog and search.

A repository comes into being with its first upload or manifest push and takes the configured
default visibility (private unless ``default_visibility: public``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument, NotFound
from berth.registry.metadata import MetadataDB, Row

NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
VISIBILITIES = ("public", "private")


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    name: str
    visibility: str
    description: str
    created: float


class RepositoryService:
    """Repository rows; visibility decisions themselves are made in ``auth.acl``."""

    def __init__(self, db: MetadataDB, *, default_visibility: str = "private") -> None:
        if default_visibility not in VISIBILITIES:
            raise InvalidArgument(f"default_visibility must be public or private, not {default_visibility!r}")
        self._db = db
        self.default_visibility = default_visibility

    def get(self, name: str) -> RepositoryInfo | None:
        row = self._db.query_one(
            "SELECT name, visibility, description, created FROM repositories WHERE name = ?", (name,)
        )
        if row is None:
            return None
        return RepositoryInfo(
            str(row["name"]), str(row["visibility"]), str(row["description"]), row["created"]
        )

    def ensure(self, name: str) -> None:
        """Create ``name`` with the default visibility if it does not exist yet (idempotent)."""
        self._db.execute(
            "INSERT INTO repositories (name, visibility, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (name, self.default_visibility, time.time()),
        )

    def set_visibility(self, name: str, visibility: str) -> None:
        """Make ``name`` public or private; a repository not pushed yet is created so the choice sticks."""
        if visibility not in VISIBILITIES:
            raise InvalidArgument(f"visibility must be public or private, not {visibility!r}")
        if not NAME_RE.match(name):
            raise InvalidArgument(f"invalid repository name {name!r}")
        self.ensure(name)
        self._db.execute("UPDATE repositories SET visibility = ? WHERE name = ?", (visibility, name))

    def delete(self, name: str) -> None:
        if self.get(name) is None:
            raise NotFound(f"repository {name} not found")
        with self._db.write():
            for table in ("tags", "manifests", "manifest_refs", "repo_blobs", "pulls", "stars"):
                self._db.execute(f"DELETE FROM {table} WHERE repo = ?", (name,))  # noqa: S608 - fixed names
            self._db.execute("DELETE FROM repositories WHERE name = ?", (name,))

    def names(self) -> list[str]:
        return [str(r["name"]) for r in self._db.query("SELECT name FROM repositories ORDER BY name")]

    def all(self) -> list[RepositoryInfo]:
        rows = self._db.query("SELECT name, visibility, description, created FROM repositories ORDER BY name")
        return [_info(r) for r in rows]

    def in_namespace(self, namespace: str) -> list[RepositoryInfo]:
        """The repositories named ``NAMESPACE/…``, by name (a range of the primary key: '0' follows '/')."""
        rows = self._db.query(
            "SELECT name, visibility, description, created FROM repositories "
            "WHERE name > ? AND name < ? ORDER BY name",
            (namespace + "/", namespace + "0"),
        )
        return [_info(r) for r in rows]

    def page(self, after: str, limit: int) -> list[RepositoryInfo]:
        """At most ``limit`` repositories named after ``after``, by name (catalog pages: an index range,
        so a page near the end costs what one at the start does)."""
        rows = self._db.query(
            "SELECT name, visibility, description, created FROM repositories WHERE name > ? "
            "ORDER BY name LIMIT ?",
            (after, limit),
        )
        return [_info(r) for r in rows]

    def search(
        self,
        term: str,
        can_pull: Callable[[RepositoryInfo], bool],
        popularity: Mapping[str, tuple[int, int]] | None = None,
    ) -> list[RepositoryInfo]:
        """Visible repositories matching ``term``, best first: exact name, name prefix, last path
        component prefix, name contains, description contains; within each, most stars, then most
        pulls (``popularity``: name -> (stars, pulls)), then alphabetical."""
        term = term.strip().lower()
        popular = popularity or {}
        ranked: list[tuple[int, int, int, str, RepositoryInfo]] = []
        for repo in self._candidates(term):
            if not can_pull(repo):
                continue
            rank = _rank(repo, term)
            if rank is not None:
                stars, pulls = popular.get(repo.name, (0, 0))
                ranked.append((rank, -stars, -pulls, repo.name, repo))
        ranked.sort(key=lambda item: item[:4])
        return [item[4] for item in ranked]

    def _candidates(self, term: str) -> list[RepositoryInfo]:
        """The rows ``_rank`` may match, narrowed in SQL: the name or the (ASCII-lowered)
        description contains the term. SQLite's ``lower`` folds only ASCII, so a description with
        any other character stays a candidate and Python decides."""
        if not term:
            return self.all()
        rows = self._db.query(
            "SELECT name, visibility, description, created FROM repositories WHERE "
            + _CONTAINS_SQL[self._db.dialect],
            (term, term),
        )
        return [_info(r) for r in rows]

    def summary(self, repo: RepositoryInfo) -> dict[str, Any]:
        row = self._db.query_one(
            "SELECT COUNT(*) AS n, MAX(updated) AS updated FROM tags WHERE repo = ?", (repo.name,)
        )
        return {"tags": int(row["n"]) if row else 0, "updated": row["updated"] if row else None}


# Parameters: the term twice. Whether the name or the lowered description holds it, or the
# description has a character ``lower`` may not fold (SQLite folds ASCII only): the two dialects
# spell "contains" and "not all ASCII" differently.
_CONTAINS_SQL = {
    "sqlite": "instr(name, ?) > 0 OR instr(lower(description), ?) > 0 OR description GLOB '*[^ -~]*' "
    "ORDER BY name",
    "postgres": "strpos(name, ?) > 0 OR strpos(lower(description), ?) > 0 OR description ~ '[^ -~]' "
    "ORDER BY name",
}


def _info(row: Row) -> RepositoryInfo:
    return RepositoryInfo(str(row["name"]), str(row["visibility"]), str(row["description"]), row["created"])


def _rank(repo: RepositoryInfo, term: str) -> int | None:
    if not term:
        return 5
    name = repo.name
    short = name.rsplit("/", 1)[-1]
    if term in (name, short):
        return 0
    if name.startswith(term):
        return 1
    if short.startswith(term):
        return 2
    if term in name:
        return 3
    if term in repo.description.lower():
        return 4
    return None
