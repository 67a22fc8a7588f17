"""Quotas: how many bytes the repositories of one namespace (a user or an organisation) may hold.

Usage is the size of the distinct blobs linked to the namespace's repositories (``repo_blobs``):
layers, configs and manifests, each counted once however many of its repositories share it. A
blob an upload just published counts at once, before a manifest names it; deleting a manifest
frees its bytes once ``gc`` has dropped the links no manifest needs any more.

``admit`` is called by ``BlobStore`` inside the metadata write transaction that links a blob to a
repository, so two concurrent pushes are ordered by the database's write lock and cannot both
pass a limit that only one of them fits under.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.metadata import MetadataDB
from berth.registry.policy.sizes import format_size

# ?1 the namespace, ?2 its prefix ("alice/"), ?3 the prefix's length: the namespace's repositories
# (a one-component name is its own namespace, as in ``auth.acl``).
_IN_NAMESPACE = "(repo = ? OR substr(repo, 1, ?) = ?)"


def namespace_of(repo: str) -> str:
    return repo.split("/", 1)[0]


def _scope(namespace: str) -> tuple[object, ...]:
    prefix = namespace + "/"
    return (namespace, len(prefix), prefix)


@dataclass(frozen=True, slots=True)
class Usage:
    namespace: str
    used: int
    quota: int | None

    @property
    def percent(self) -> float | None:
        if self.quota is None:
            return None
        return 100.0 * self.used / self.quota if self.quota else 100.0


class QuotaExceeded(RegistryError):
    """DENIED (403) with the namespace, its usage and its quota in the message (clients print it)."""

    def __init__(self, namespace: str, used: int, quota: int, needed: int) -> None:
        super().__init__(
            ErrorCode.DENIED,
            f"quota exceeded for namespace {namespace}: {format_size(used)} used of "
            f"{format_size(quota)}, this push needs {format_size(needed)} more",
        )


class Quotas:
    """Quota rows (``quotas`` table) and the usage they are compared with."""

    def __init__(self, db: MetadataDB) -> None:
        self._db = db

    def set(self, namespace: str, limit: int | None) -> None:
        """Set ``namespace``'s quota in bytes; None removes it (no limit). The caller checks that the
        namespace is a user or an organisation."""
        if limit is None:
            self._db.execute("DELETE FROM quotas WHERE namespace = ?", (namespace,))
            return
        self._db.execute(
            "INSERT INTO quotas (namespace, limit_bytes, updated) VALUES (?, ?, ?) ON CONFLICT (namespace) "
            "DO UPDATE SET limit_bytes = excluded.limit_bytes, updated = excluded.updated",
            (namespace, limit, time.time()),
        )

    def quota(self, namespace: str) -> int | None:
        row = self._db.query_one("SELECT limit_bytes FROM quotas WHERE namespace = ?", (namespace,))
        return None if row is None else int(row["limit_bytes"])

    def used(self, namespace: str) -> int:
        row = self._db.query_one(
            "SELECT COALESCE(SUM(size), 0) AS used FROM blobs WHERE digest IN "
            f"(SELECT digest FROM repo_blobs WHERE {_IN_NAMESPACE})",  # noqa: S608 - a fixed fragment
            _scope(namespace),
        )
        return int(row["used"]) if row is not None else 0

    def usage(self, namespace: str) -> tuple[int, int | None]:
        """(bytes used, quota or None): what the web page shows."""
        return self.used(namespace), self.quota(namespace)

    def report(self, namespaces: list[str]) -> list[Usage]:
        return [Usage(ns, self.used(ns), self.quota(ns)) for ns in namespaces]

    def with_quota(self) -> list[str]:
        return [
            str(r["namespace"]) for r in self._db.query("SELECT namespace FROM quotas ORDER BY namespace")
        ]

    def admit(self, repo: str, digest: str, size: int) -> None:
        """Refuse (QuotaExceeded) linking ``digest`` to ``repo`` if that takes its namespace over
        quota. Called inside the write transaction that adds the link."""
        namespace = namespace_of(repo)
        quota = self.quota(namespace)
        if quota is None:
            return
        shared = self._db.query_one(
            f"SELECT 1 FROM repo_blobs WHERE digest = ? AND {_IN_NAMESPACE} LIMIT 1",  # noqa: S608
            (digest, *_scope(namespace)),
        )
        if shared is not None:
            return  # already counted
        used = self.used(namespace)
        if used + size > quota:
            raise QuotaExceeded(namespace, used, quota, size)
