"""Tag policies: retention rules and immutable tag patterns of a repository (``alice/app``) or of every
repository of a namespace (``alice/*``), in the ``tag_policies`` table.

A repository's own policy replaces its namespace's entirely (nothing is merged), so one repository
can opt out of a namespace-wide rule. Patterns are shell globs matched against the whole tag
(``fnmatch.fnmatchcase``: ``*``, ``?``, ``[abc]``, ``[!abc]``; case-sensitive as tags are).
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from dataclasses import dataclass, field

from berth.errors import InvalidArgument, NotFound
from berth.registry.metadata import MetadataDB
from berth.registry.policy.quotas import namespace_of

_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]{1,128}$")


@dataclass(frozen=True, slots=True)
class TagPolicy:
    target: str  # a repository, or NS/*
    keep_last: int | None = None
    pulled_within: float | None = None  # days
    keep: tuple[str, ...] = field(default_factory=tuple)
    immutable: tuple[str, ...] = field(default_factory=tuple)

    @property
    def retains(self) -> bool:
        """Whether it is a retention policy at all: one with only immutable patterns removes nothing."""
        return self.keep_last is not None or self.pulled_within is not None or bool(self.keep)

    def immutable_match(self, tag: str) -> str | None:
        """The first immutable pattern ``tag`` matches, or None."""
        return next((p for p in self.immutable if fnmatch.fnmatchcase(tag, p)), None)


def check_pattern(pattern: str) -> str:
    if not _PATTERN_RE.match(pattern):
        raise InvalidArgument(
            f"invalid tag pattern {pattern!r}: a glob of tag characters (A-Z a-z 0-9 _ . -) "
            "and * ? [ ] !, at most 128 characters"
        )
    return pattern


class TagPolicies:
    """Rows of ``tag_policies``; ``for_repo`` answers which one governs a repository."""

    def __init__(self, db: MetadataDB) -> None:
        self._db = db

    def set(self, policy: TagPolicy) -> None:
        if policy.keep_last is not None and policy.keep_last < 1:
            raise InvalidArgument("--keep-last must be at least 1")
        if policy.pulled_within is not None and policy.pulled_within <= 0:
            raise InvalidArgument("--pulled-within must be a positive number of days")
        for pattern in (*policy.keep, *policy.immutable):
            check_pattern(pattern)
        if not policy.retains and not policy.immutable:
            raise InvalidArgument(
                "a policy needs at least one of --keep-last, --pulled-within, --keep, --immutable"
            )
        self._db.execute(
            "INSERT INTO tag_policies (target, keep_last, pulled_within, keep, immutable, updated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET keep_last = excluded.keep_last, "
            "pulled_within = excluded.pulled_within, keep = excluded.keep, immutable = excluded.immutable, "
            "updated = excluded.updated",
            (
                policy.target,
                policy.keep_last,
                policy.pulled_within,
                json.dumps(list(policy.keep)),
                json.dumps(list(policy.immutable)),
                time.time(),
            ),
        )

    def remove(self, target: str) -> None:
        if self._db.execute("DELETE FROM tag_policies WHERE target = ?", (target,)) == 0:
            raise NotFound(f"no tag policy for {target}")

    def get(self, target: str) -> TagPolicy | None:
        rows = self._rows("WHERE target = ?", (target,))
        return rows[0] if rows else None

    def all(self) -> list[TagPolicy]:
        return self._rows("ORDER BY target", ())

    def for_repo(self, repo: str) -> TagPolicy | None:
        """The repository's own policy, else its namespace's (``NS/*``), else None."""
        return self.get(repo) or self.get(namespace_of(repo) + "/*")

    def _rows(self, where: str, params: tuple[object, ...]) -> list[TagPolicy]:
        rows = self._db.query(
            f"SELECT target, keep_last, pulled_within, keep, immutable FROM tag_policies {where}",  # noqa: S608
            params,
        )
        return [
            TagPolicy(
                str(r["target"]),
                None if r["keep_last"] is None else int(r["keep_last"]),
                None if r["pulled_within"] is None else float(r["pulled_within"]),
                tuple(json.loads(r["keep"])),
                tuple(json.loads(r["immutable"])),
            )
            for r in rows
        ]
