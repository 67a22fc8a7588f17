"""Immutable tags: once a tag matching an immutable pattern of its repository's policy exists, it keeps
its manifest. Pushing another digest to it, deleting it, or deleting its manifest by digest is
refused with DENIED naming the pattern; pushing the same digest again is allowed (re-pushes succeed).

``ManifestService`` calls these checks inside its write transactions, so every caller (the
distribution API, the web page, retention in ``gc``) is held to them.
"""

from __future__ import annotations

from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.metadata import MetadataDB
from berth.registry.policy.rules import TagPolicies


class TagImmutable(RegistryError):
    def __init__(self, repo: str, tag: str, pattern: str, target: str, what: str) -> None:
        super().__init__(
            ErrorCode.DENIED,
            f"tag {tag} of {repo} is immutable (pattern {pattern!r} of the policy of {target}): {what}",
        )


class ImmutableTags:
    def __init__(self, db: MetadataDB, policies: TagPolicies) -> None:
        self._db = db
        self._policies = policies

    def check_push(self, repo: str, tags: list[str], digest: str) -> None:
        """Refuse moving an existing immutable tag of ``repo`` to another manifest."""
        policy = self._policies.for_repo(repo)
        if policy is None or not policy.immutable:
            return
        for tag in tags:
            pattern = policy.immutable_match(tag)
            if pattern is None:
                continue
            row = self._db.query_one("SELECT digest FROM tags WHERE repo = ? AND tag = ?", (repo, tag))
            if row is not None and row["digest"] != digest:
                raise TagImmutable(
                    repo, tag, pattern, policy.target, f"it names {row['digest']}, a push may not move it"
                )

    def check_delete(self, repo: str, reference: str) -> None:
        """Refuse deleting an immutable tag, or a manifest (by digest) an immutable tag names."""
        policy = self._policies.for_repo(repo)
        if policy is None or not policy.immutable:
            return
        if digests.is_reference(reference):
            rows = self._db.query(
                "SELECT tag FROM tags WHERE repo = ? AND digest = ? ORDER BY tag", (repo, reference)
            )
            tags, what = [str(r["tag"]) for r in rows], f"its manifest {reference} may not be deleted"
        else:
            exists = self._db.query_one("SELECT 1 FROM tags WHERE repo = ? AND tag = ?", (repo, reference))
            tags, what = ([reference] if exists else []), "it may not be deleted"
        for tag in tags:
            pattern = policy.immutable_match(tag)
            if pattern is not None:
                raise TagImmutable(repo, tag, pattern, policy.target, what)
