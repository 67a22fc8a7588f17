"""ManifestService: manifests and indexes (OCI and Docker schema2), tags and referrers of a repository.

A manifest is kept in the exact bytes the client sent (as a blob) plus a row in ``manifests`` and
one ``manifest_refs`` row per descriptor it names. A push is refused with MANIFEST_BLOB_UNKNOWN when
a named blob is not linked to the repository or a named child manifest is not in it; a ``subject``
may name a manifest that does not exist yet (the spec requires accepting that). Immutable tags
(``policy.immutability``) are checked here, inside the write transaction that would change them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from berth.oci import mediatypes as mt
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.blobs import BlobStore
from berth.registry.metadata import MetadataDB
from berth.registry.policy.immutability import ImmutableTags
from berth.registry.policy.rules import TagPolicies

MAX_MANIFEST_BYTES = 8 << 20
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


@dataclass(slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    foreign: bool = False


@dataclass(slots=True)
class ParsedManifest:
    """What the registry needs to know of a manifest's JSON."""

    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_INVALID, message)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: descriptor must be an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str) or not digests.is_valid(digest):
        raise _invalid(f"{where}: descriptor needs a mediaType and a sha256 or sha512 digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: descriptor size must be a non-negative integer")
    platform = value.get("platform")
    return Descriptor(
        media_type, digest, size, platform if isinstance(platform, dict) else None, bool(value.get("urls"))
    )


def parse(data: bytes, content_type: str | None) -> ParsedManifest:
    """Validate manifest bytes; MANIFEST_INVALID names the first problem."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"manifest is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise _invalid("manifest must be a JSON object with schemaVersion 2")
    declared = doc.get("mediaType")
    header = (content_type or "").split(";", 1)[0].strip()
    if header in ("", "application/json", "application/octet-stream"):
        header = ""
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if declared and header and declared != header:
        raise _invalid(f"mediaType {declared!r} does not match Content-Type {header!r}")
    media_type = declared or header or (mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST)
    parsed = ParsedManifest(media_type)
    if media_type in mt.MANIFESTS:
        parsed.blobs.append(_descriptor(doc.get("config"), "config"))
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        parsed.blobs.extend(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers))
    elif media_type in mt.INDEXES:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _invalid("manifests must be a list")
        parsed.children.extend(_descriptor(c, f"manifests[{i}]") for i, c in enumerate(children))
    else:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    if "subject" in doc:
        parsed.subject = _descriptor(doc["subject"], "subject").digest
    artifact_type = doc.get("artifactType")
    if isinstance(artifact_type, str) and artifact_type:
        parsed.artifact_type = artifact_type
    elif media_type in mt.MANIFESTS:
        parsed.artifact_type = parsed.blobs[0].media_type
    annotations = doc.get("annotations")
    if isinstance(annotations, dict):
        parsed.annotations = {str(k): str(v) for k, v in annotations.items()}
    return parsed


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    size: int


class ManifestService:
    """Manifests, tags and referrers over a BlobStore and the metadata tables."""

    def __init__(self, blobs: BlobStore, db: MetadataDB) -> None:
        self._blobs = blobs
        self._db = db
        self.immutable = ImmutableTags(db, TagPolicies(db))

    def resolve(self, repo: str, reference: str) -> StoredManifest:
        """The manifest a tag or digest names in ``repo``; MANIFEST_UNKNOWN if none."""
        if digests.is_reference(reference):
            row = self._db.query_one(
                "SELECT digest, media_type, size FROM manifests WHERE repo = ? AND digest = ?",
                (repo, reference),
            )
        elif TAG_RE.match(reference):
            row = self._db.query_one(
                "SELECT m.digest, m.media_type, m.size FROM tags t JOIN manifests m "
                "ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.tag = ?",
                (repo, reference),
            )
        else:
            raise RegistryError(
                ErrorCode.MANIFEST_INVALID, f"invalid tag or digest {reference!r}", status=400
            )
        if row is None:
            raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"name": repo, "reference": reference})
        return StoredManifest(str(row["digest"]), str(row["media_type"]), int(row["size"]))

    def content(self, manifest: StoredManifest) -> bytes:
        return self._blobs.get_bytes(manifest.digest)

    def put(
        self,
        repo: str,
        reference: str,
        data: bytes,
        content_type: str | None,
        tags: list[str],
        *,
        verify_references: bool = True,
    ) -> str:
        """Store a manifest under a tag or its digest (plus extra ``tags``); returns its digest.

        ``verify_references=False`` is for the pull-through cache, which fetches blobs lazily.
        """
        if len(data) > MAX_MANIFEST_BYTES:
            raise RegistryError(ErrorCode.MANIFEST_INVALID, "manifest too large", status=413)
        by_digest = digests.is_reference(reference)
        # verified with the algorithm the client named it by; a tag push is named by its sha256
        digest = digests.of_bytes_as(data, digests.algorithm_of(reference) if by_digest else "sha256")
        if by_digest:
            if reference != digest:
                raise RegistryError(
                    ErrorCode.DIGEST_INVALID, detail={"expected": reference, "actual": digest}
                )
        elif not TAG_RE.match(reference):
            raise RegistryError(ErrorCode.MANIFEST_INVALID, f"invalid tag {reference!r}")
        else:
            tags = [reference, *tags]
        for tag in tags:
            if not TAG_RE.match(tag):
                raise RegistryError(ErrorCode.MANIFEST_INVALID, f"invalid tag {tag!r}")
        parsed = parse(data, content_type)
        unknown = [
            d.digest
            for d in parsed.blobs
            if not d.foreign and self._blobs.linked_size(repo, d.digest) is None
        ]
        unknown += [d.digest for d in parsed.children if not self._has_manifest(repo, d.digest)]
        if unknown and verify_references:
            raise RegistryError(ErrorCode.MANIFEST_BLOB_UNKNOWN, detail={"digests": unknown})
        now = time.time()
        with self._db.write():
            self.immutable.check_push(repo, tags, digest)  # before anything is stored
            self._blobs.put_bytes(repo, digest, data)
            self._db.execute(
                "INSERT INTO manifests (repo, digest, media_type, size, artifact_type, subject, annotations, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo, digest) DO UPDATE SET "
                "media_type = excluded.media_type, size = excluded.size, artifact_type = excluded.artifact_type, "
                "subject = excluded.subject, annotations = excluded.annotations",
                (
                    repo,
                    digest,
                    parsed.media_type,
                    len(data),
                    parsed.artifact_type,
                    parsed.subject,
                    json.dumps(parsed.annotations),
                    now,
                ),
            )
            for child in [*parsed.blobs, *parsed.children]:
                self._db.execute(
                    "INSERT INTO manifest_refs (repo, manifest, child) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (repo, digest, child.digest),
                )
            for tag in tags:
                self._db.execute(
                    "INSERT INTO tags (repo, tag, digest, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated",
                    (repo, tag, digest, now),
                )
        return digest

    def delete(self, repo: str, reference: str) -> None:
        """Delete a tag, or a manifest by digest (and every tag naming it); MANIFEST_UNKNOWN if absent."""
        if digests.is_reference(reference):
            with self._db.write():
                if not self._has_manifest(repo, reference):
                    raise RegistryError(ErrorCode.MANIFEST_UNKNOWN)
                self.immutable.check_delete(repo, reference)
                self._db.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, reference))
                self._db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, reference))
                self._db.execute(
                    "DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", (repo, reference)
                )
                self._blobs.unlink(repo, reference)
        else:
            with self._db.write():
                self.immutable.check_delete(repo, reference)
                if self._db.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, reference)) == 0:
                    raise RegistryError(ErrorCode.MANIFEST_UNKNOWN)

    def tags(self, repo: str, *, last: str | None = None, limit: int | None = None) -> list[str]:
        """Tags in ASCII order after ``last``; at most ``limit``."""
        sql = "SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag"
        params: tuple[object, ...] = (repo, last or "")
        if limit is not None:
            sql, params = f"{sql} LIMIT ?", (*params, limit)
        rows = self._db.query(sql, params)
        return [str(r["tag"]) for r in rows]

    def tag_details(self, repo: str) -> list[dict[str, Any]]:
        """Tags with their manifests' digest, type and update time (web page, newest first)."""
        rows = self._db.query(
            "SELECT t.tag, t.digest, t.updated, m.media_type, m.size FROM tags t JOIN manifests m "
            "ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? ORDER BY t.updated DESC, t.tag",
            (repo,),
        )
        return [dict(r) for r in rows]

    def image_sizes(self, repo: str) -> dict[str, int]:
        """Manifest digest -> bytes of what it names in ``repo``: config plus layers for an image,
        the sum of its children's for an index (the web page's tag sizes, from metadata alone)."""
        manifests = {
            str(r["digest"]) for r in self._db.query("SELECT digest FROM manifests WHERE repo = ?", (repo,))
        }
        own: dict[str, int] = dict.fromkeys(manifests, 0)
        children: dict[str, list[str]] = {}
        rows = self._db.query(
            "SELECT r.manifest, r.child, b.size FROM manifest_refs r LEFT JOIN blobs b ON b.digest = r.child "
            "WHERE r.repo = ?",
            (repo,),
        )
        for row in rows:
            parent, child = str(row["manifest"]), str(row["child"])
            if child in manifests:
                children.setdefault(parent, []).append(child)
            elif parent in own:
                own[parent] += int(row["size"] or 0)
        return {digest: own[digest] + sum(own.get(c, 0) for c in children.get(digest, [])) for digest in own}

    def referrers_by_subject(self, repo: str) -> dict[str, list[dict[str, Any]]]:
        """Subject digest -> its referrers in ``repo`` (digest, media_type, size, artifact_type)."""
        rows = self._db.query(
            "SELECT subject, digest, media_type, size, artifact_type FROM manifests "
            "WHERE repo = ? AND subject IS NOT NULL ORDER BY digest",
            (repo,),
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            found.setdefault(str(row["subject"]), []).append(dict(row))
        return found

    def referrers(self, repo: str, subject: str, artifact_type: str | None) -> list[dict[str, Any]]:
        """Descriptors of manifests in ``repo`` whose ``subject`` is ``subject``."""
        sql = (
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests "
            "WHERE repo = ? AND subject = ?"
        )
        params: tuple[object, ...] = (repo, subject)
        if artifact_type:
            sql += " AND artifact_type = ?"
            params += (artifact_type,)
        result = []
        for row in self._db.query(sql + " ORDER BY digest", params):
            desc: dict[str, Any] = {
                "mediaType": row["media_type"],
                "digest": row["digest"],
                "size": row["size"],
            }
            if row["artifact_type"]:
                desc["artifactType"] = row["artifact_type"]
            annotations = json.loads(row["annotations"] or "{}")
            if annotations:
                desc["annotations"] = annotations
            result.append(desc)
        return result

    def _has_manifest(self, repo: str, digest: str) -> bool:
        row = self._db.query_one("SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
        return row is not None
