"""Garbage collection: remove blobs no manifest references, safely while the registry serves pushes.

Mark: a blob is live if it is a manifest in some repository, or a child any manifest names
(``manifest_refs``), or it was touched (uploaded, mounted, HEAD/GET) within ``grace`` seconds: a
push uploads its blobs before its manifest, and the grace period keeps those blobs alive until the
manifest arrives. Sweep: each dead blob is re-checked and unlinked inside one metadata write
transaction (``BEGIN IMMEDIATE``, the same lock ``BlobStore.publish`` takes), its bytes are moved to
``trash/`` in that transaction and deleted after it. So a concurrent publish of the same digest
either happens before (and the blob is live again) or after (and puts fresh bytes in place).

Retention (``policy/retention.py``) runs first: the tags repositories' policies let go are removed,
then the manifests that left untagged and unreferenced, with the children and referrers only they
kept (a child another tag still reaches stays).

``delete_untagged`` then removes manifests no tag and no other manifest in the repository names
(repeating, so an untagged index frees its children); referrers (manifests with a ``subject``) stay
while their subject exists.

Before the sweep, links (``repo_blobs``) that no manifest of their repository names and that were not
touched within ``grace`` are dropped: a repository stops serving, and its namespace's quota stops
counting, a layer only a deleted manifest needed, even while another repository still uses the blob.

One gc runs at a time among all processes and replicas (``leases``: a second one is refused with
LeaseHeld); sweeping is safe beside pushes on every replica for the reason above.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from berth.errors import NotFound
from berth.registry import leases
from berth.registry.policy import retention
from berth.registry.service import Registry
from berth.registry.storage import paths

# ``meta`` keys with the totals of every real run, for the registry's /metrics (any replica reads them)
GC_TOTALS = ("gc.runs", "gc.blobs", "gc.manifests", "gc.bytes")
GC_LAST_RUN = "gc.last_run"

# Parameters: the blob digest three times, then the grace cutoff (unix time).
_LIVE_SQL = """
    SELECT 1 FROM manifests WHERE digest = ?
    UNION ALL SELECT 1 FROM manifest_refs WHERE child = ?
    UNION ALL SELECT 1 FROM blobs WHERE digest = ? AND touched >= ?
    LIMIT 1
"""

# ?1 the grace cutoff: links of a repository that none of its manifests name (a manifest's own link
# is live while the manifest exists).
_STALE_LINKS_SQL = """
    SELECT l.repo, l.digest FROM repo_blobs l JOIN blobs b ON b.digest = l.digest WHERE b.touched < ?1
    AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = l.repo AND m.digest = l.digest)
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = l.repo AND r.child = l.digest)
"""
# the same for one link: ?2 its repository, ?3 its digest
_STALE_LINK_SQL = _STALE_LINKS_SQL + " AND l.repo = ?2 AND l.digest = ?3"
# ?1 a repository, ?2 a digest: a manifest of it names that digest (an index its child)
_CHILD_SQL = "SELECT 1 FROM manifest_refs WHERE repo = ?1 AND child = ?2 LIMIT 1"


@dataclass(slots=True)
class GCReport:
    blobs: list[tuple[str, int]] = field(default_factory=list)
    manifests: list[tuple[str, str]] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    tags: list[retention.Expired] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.blobs)

    def render(self, *, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        lines = [f"{verb} tag {t.repo}:{t.tag} ({t.digest}, retention of {t.policy})" for t in self.tags]
        lines += [f"{verb} manifest {repo}@{digest}" for repo, digest in self.manifests]
        lines += [
            f"{verb} link {repo}@{digest} (no manifest of {repo} names it)" for repo, digest in self.links
        ]
        lines += [f"{verb} blob {digest} ({size} bytes)" for digest, size in self.blobs]
        lines += [f"{verb} stale upload {upload_id}" for upload_id in self.uploads]
        tags = f"{len(self.tags)} tags, " if self.tags else ""
        lines.append(
            f"{verb} {tags}{len(self.blobs)} blobs, {len(self.manifests)} manifests, {self.freed} bytes"
        )
        return "\n".join(lines)


def _untagged(registry: Registry) -> list[tuple[str, str]]:
    rows = registry.db.query(
        "SELECT m.repo, m.digest FROM manifests m WHERE "
        "NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest) AND "
        "NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = m.repo AND r.child = m.digest) AND "
        "NOT (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s WHERE s.repo = m.repo "
        "AND s.digest = m.subject))"
    )
    return [(str(r["repo"]), str(r["digest"])) for r in rows]


def _delete_manifest(registry: Registry, repo: str, digest: str) -> None:
    with registry.db.write():
        registry.db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
        registry.db.execute("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, digest))
        registry.db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, digest))


def collect(
    registry: Registry, *, dry_run: bool = False, delete_untagged: bool = False, grace: float = 3600.0
) -> GCReport:
    """Run one mark-and-sweep; with ``dry_run`` nothing changes and the report says what would go.

    A dry run lists the blobs that removing the manifests it lists frees; manifests that only become
    removable once others go (the children of an untagged index) show up on the real run.
    """
    with leases.held(registry.db, "gc") as renew:  # one gc at a time, whichever replica runs it
        return _collect(registry, renew, dry_run=dry_run, delete_untagged=delete_untagged, grace=grace)


def _collect(
    registry: Registry, renew: Callable[[], None], *, dry_run: bool, delete_untagged: bool, grace: float
) -> GCReport:
    report = GCReport()
    _retain(registry, report, dry_run=dry_run)
    if delete_untagged:
        seen: set[tuple[str, str]] = set()
        while True:
            batch = [m for m in _untagged(registry) if m not in seen]
            if not batch:
                break
            for repo, digest in batch:
                if (repo, digest) in report.manifests:
                    continue  # retention removed it already
                seen.add((repo, digest))
                report.manifests.append((repo, digest))
                if not dry_run:
                    _delete_manifest(registry, repo, digest)
            if dry_run:
                break
    doomed = set(report.manifests)
    cutoff = time.time() - grace
    report.links = _drop_stale_links(registry, cutoff, dry_run=dry_run)
    for row in registry.db.query("SELECT digest, size FROM blobs ORDER BY digest"):
        digest, size = str(row["digest"]), int(row["size"])
        renew()
        if dry_run:
            if not _live_without(registry, digest, cutoff, doomed):
                report.blobs.append((digest, size))
            continue
        if _sweep(registry, digest, cutoff):
            report.blobs.append((digest, size))
    stale = time.time() - max(grace, 24 * 3600)
    if dry_run:
        report.uploads = [
            str(r["id"]) for r in registry.db.query("SELECT id FROM uploads WHERE started < ?", (stale,))
        ]
    else:
        report.uploads = registry.uploads.purge(stale)
        _record(registry, report)
    return report


def _retain(registry: Registry, report: GCReport, *, dry_run: bool) -> None:
    """Untag what retention lets go, then remove the manifests that leaves behind (see module doc)."""
    chosen = retention.expired(registry.db, registry.tag_policies, registry.hub.pulls)
    if dry_run:
        report.tags = chosen
        going = {(t.repo, t.tag) for t in chosen}
        rows = registry.db.query("SELECT repo, tag, digest FROM tags")
        tagged = {(str(r["repo"]), str(r["digest"])) for r in rows if (r["repo"], r["tag"]) not in going}
        report.manifests += [
            (repo, digest)
            for repo, digest in sorted({(t.repo, t.digest) for t in chosen} - tagged)
            if registry.db.query_one(_CHILD_SQL, (repo, digest)) is None
        ]
        return
    report.tags = [t for t in chosen if retention.untag(registry.db, registry.manifests.immutable, t)]
    doomed = {(t.repo, t.digest) for t in report.tags}
    while batch := [m for m in _untagged(registry) if m in doomed and m not in report.manifests]:
        for repo, digest in batch:
            children = registry.db.query(
                "SELECT child FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, digest)
            )
            referrers = registry.db.query(
                "SELECT digest FROM manifests WHERE repo = ? AND subject = ?", (repo, digest)
            )
            _delete_manifest(registry, repo, digest)
            report.manifests.append((repo, digest))
            doomed |= {(repo, str(r["child"])) for r in children} | {
                (repo, str(r["digest"])) for r in referrers
            }


def _live_without(registry: Registry, digest: str, cutoff: float, doomed: set[tuple[str, str]]) -> bool:
    """``_LIVE_SQL`` as it will be once the ``doomed`` (repository, manifest) pairs are gone."""
    if registry.db.query_one("SELECT 1 FROM blobs WHERE digest = ? AND touched >= ?", (digest, cutoff)):
        return True
    as_manifest = registry.db.query("SELECT repo FROM manifests WHERE digest = ?", (digest,))
    if any((str(r["repo"]), digest) not in doomed for r in as_manifest):
        return True
    named_by = registry.db.query("SELECT repo, manifest FROM manifest_refs WHERE child = ?", (digest,))
    return any((str(r["repo"]), str(r["manifest"])) not in doomed for r in named_by)


def _drop_stale_links(registry: Registry, cutoff: float, *, dry_run: bool) -> list[tuple[str, str]]:
    stale = [
        (str(r["repo"]), str(r["digest"]))
        for r in registry.db.query(_STALE_LINKS_SQL + " ORDER BY l.repo, l.digest", (cutoff,))
    ]
    if dry_run:
        return stale
    dropped = []
    for repo, digest in stale:
        with registry.db.write():  # re-checked: a manifest pushed since may name it now
            if registry.db.query_one(_STALE_LINK_SQL, (cutoff, repo, digest)) is not None:
                registry.blobs.unlink(repo, digest)
                dropped.append((repo, digest))
    return dropped


def _record(registry: Registry, report: GCReport) -> None:
    """Add this run's removals to the totals in ``meta``."""
    added = dict(zip(GC_TOTALS, (1, len(report.blobs), len(report.manifests), report.freed), strict=True))
    with registry.db.write():
        for key, amount in added.items():
            registry.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, '0') ON CONFLICT DO NOTHING", (key,)
            )
            registry.db.execute(  # BIGINT: freed bytes outgrow 32 bits (PostgreSQL's INTEGER)
                "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE key = ?", (amount, key)
            )
        registry.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (GC_LAST_RUN, repr(time.time())),
        )


def _sweep(registry: Registry, digest: str, cutoff: float) -> bool:
    trash = paths.trash(uuid.uuid4().hex)
    with registry.db.write():
        live = registry.db.query_one(_LIVE_SQL, (digest, digest, digest, cutoff))
        if live is not None:
            return False
        registry.db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
        registry.db.execute("DELETE FROM repo_blobs WHERE digest = ?", (digest,))
        try:
            registry.driver.move(paths.blob_data(digest), trash)
        except NotFound:
            return True  # bytes already gone; the rows were stale
    registry.driver.delete(trash)
    return True
