"""Retention: which tags a repository's policy (``rules.TagPolicy``) lets go, and untagging them.

A tag is kept if any keep rule keeps it: it is among the ``keep_last`` most recently pushed (push
time, then name), it was pulled within ``pulled_within`` days (the hub's pull times,
``hub/pulls.py``), it matches a ``keep`` pattern, or it matches an ``immutable`` pattern (retention
never removes an immutable tag). A policy with no keep rule (only immutable patterns) removes nothing.
``gc`` runs it first; the manifests it leaves untagged are then removed with what only they named.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass

from berth.registry.hub.pulls import PullCounts
from berth.registry.metadata import MetadataDB
from berth.registry.policy.immutability import ImmutableTags, TagImmutable
from berth.registry.policy.rules import TagPolicies, TagPolicy

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class TagState:
    tag: str
    digest: str
    pushed: float
    last_pulled: float | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    repo: str
    tag: str
    digest: str
    policy: str  # the target of the policy that let it go


def select(policy: TagPolicy, tags: list[TagState], now: float) -> list[TagState]:
    """The tags ``policy`` does not keep, newest first."""
    if not policy.retains:
        return []
    newest = sorted(tags, key=lambda t: (-t.pushed, t.tag))
    recent = {t.tag for t in newest[: policy.keep_last]} if policy.keep_last is not None else set()
    cutoff = now - policy.pulled_within * DAY if policy.pulled_within is not None else None

    def kept(t: TagState) -> bool:
        return (
            t.tag in recent
            or (cutoff is not None and t.last_pulled is not None and t.last_pulled >= cutoff)
            or any(fnmatch.fnmatchcase(t.tag, p) for p in policy.keep)
            or policy.immutable_match(t.tag) is not None
        )

    return [t for t in newest if not kept(t)]


def expired(
    db: MetadataDB, policies: TagPolicies, pulls: PullCounts, now: float | None = None
) -> list[Expired]:
    """Every tag of every repository whose policy lets it go."""
    now = time.time() if now is None else now
    governed = [
        (str(r["name"]), policies.for_repo(str(r["name"])))
        for r in db.query("SELECT name FROM repositories ORDER BY name")
    ]
    result: list[Expired] = []
    for repo, policy in governed:
        if policy is None or not policy.retains:
            continue
        pulled = pulls.of(repo)
        rows = db.query("SELECT tag, digest, updated FROM tags WHERE repo = ?", (repo,))
        states = [
            TagState(
                str(r["tag"]), str(r["digest"]), float(r["updated"]), pulled.get(str(r["tag"]), (0, None))[1]
            )
            for r in rows
        ]
        result += [Expired(repo, t.tag, t.digest, policy.target) for t in select(policy, states, now)]
    return result


def untag(db: MetadataDB, immutable: ImmutableTags, tag: Expired) -> bool:
    """Remove ``tag`` if it still names the digest it was chosen with (a push since moved it: kept)
    and is not immutable now; returns whether it was removed."""
    with db.write():
        try:
            immutable.check_delete(tag.repo, tag.tag)
        except TagImmutable:
            return False
        return (
            db.execute(
                "DELETE FROM tags WHERE repo = ? AND tag = ? AND digest = ?", (tag.repo, tag.tag, tag.digest)
            )
            > 0
        )
