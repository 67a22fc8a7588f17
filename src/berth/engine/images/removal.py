"""``rmi`` and ``image prune`` with moby's semantics (``daemon/images/image_delete.go``): which
references go, when an image itself goes, and the conflicts that stop it (``ImageDeleteConflict``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.engine.images.filters import labels_match, until_time
from berth.engine.images.store import ImageStore, _familiar, _repo
from berth.errors import Conflict
from berth.oci import reference
from berth.oci.digest import hex_of
from berth.oci.image import chain_ids, diff_ids
from berth.store.metadata import RefRow
from berth.util.faults import crash_point


class ImageRemoval(ImageStore):
    """``delete`` (rmi) and ``prune``."""

    def delete(self, name: str, *, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
        """``docker rmi``: moby's ImageDelete. Returns the ``[{"Untagged"|"Deleted": …}]`` records."""
        with self._lock:
            image_id, by_id = self._resolve(name)
            users = list(self._in_use().get(image_id, ()))
            running = list((self._running() if self._running else {}).get(image_id, ()))
            stopped = [c for c in users if c not in running]
            refs = self._index.refs(image_id)
            records: list[dict[str, str]] = []
            removed_ref = False
            if not by_id:
                ref = reference.parse(name)
                if not force and _single_reference(refs) and users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{name}" (must force) - container '
                        f"{users[0][:12]} is using its referenced image {hex_of(image_id)[:12]}"
                    )
                ref_name = _stored_name(ref, refs)
                self._untag(image_id, ref_name, records)
                refs = self._index.refs(image_id)
                if not ref.digest and not any(
                    r.kind == "tag" and _repo(r.name) == ref.repository for r in refs
                ):
                    for r in refs:
                        if r.kind == "digest" and _repo(r.name) == ref.repository:
                            self._untag(image_id, r.name, records)
                    refs = self._index.refs(image_id)
                if refs:
                    return records
                removed_ref = True
            elif _single_reference(refs):
                children = [] if force else self._child_ids(image_id)
                conflict = _conflict(image_id, running, stopped if not force else [], [], children)
                if conflict:
                    raise conflict
                for r in refs:
                    self._untag(image_id, r.name, records)
                refs = []
            conflict = _conflict(
                image_id,
                running,
                [] if force else stopped,
                [] if force else refs,
                [] if force else self._child_ids(image_id),
            )
            if conflict:
                if removed_ref:
                    return records
                raise conflict
            for r in refs:
                self._untag(image_id, r.name, records)
            row = self._index.image(image_id)
            records.extend(self._remove_image(image_id))
            if prune and row is not None:
                self._prune_parents(row.parent, records)
            return records

    def _child_ids(self, image_id: str) -> list[str]:
        return [row.image_id for row in self._index.images() if row.parent == image_id]

    def _prune_parents(self, parent: str, records: list[dict[str, str]]) -> None:
        """Delete the untagged, unused parents left childless (a build's steps), as moby's rmi does."""
        while parent:
            row = self._index.image(parent)
            if (
                row is None
                or self._index.refs(parent)
                or self._child_ids(parent)
                or self._in_use().get(parent)
            ):
                return
            records.extend(self._remove_image(parent))
            parent = row.parent

    def _untag(self, image_id: str, name: str, records: list[dict[str, str]]) -> None:
        self._index.delete_ref(name)
        records.append({"Untagged": _familiar(name)})
        self._events.publish("image", "untag", image_id, {"name": image_id})

    def _remove_image(self, image_id: str) -> list[dict[str, str]]:
        row = self._index.image(image_id)
        config = self._config(image_id)
        chains = [str(c) for c in chain_ids(diff_ids(config))]
        self._index.delete_image(image_id)
        crash_point("rmi.before-layers")
        self._configs.pop(image_id, None)
        self._events.publish("image", "delete", image_id, {"name": image_id})
        out = [{"Deleted": image_id}]
        used = self.used_chains()
        candidates: set[str] = {image_id, row.manifest_digest if row else ""}
        for chain in reversed(chains):
            if chain in used:
                break
            layer = self._index.layer(chain)
            if not self._drop_layer(chain):
                break
            if layer:
                candidates.add(layer.blob_digest)
            out.append({"Deleted": chain})
        self._gc_blobs(candidates - {""})
        return out

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``docker image prune [-a]``; filters: ``dangling`` (default true), ``label``, ``until``."""
        filters = dict(filters or {})
        dangling_only = not any(v.lower() in ("false", "0") for v in filters.get("dangling", ["true"]))
        until = until_time(filters.get("until", []))
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        with self._lock:
            used = set(self._in_use())
            for record in sorted(self.records(), key=lambda r: -r.created):
                if record.image_id in used or (dangling_only and record.repo_tags):
                    continue
                if not labels_match(record.labels, filters) or (
                    until is not None and record.created >= until
                ):
                    continue
                before = {r.chain_id: r.size for r in self._index.layers()}
                for r in self._index.refs(record.image_id):
                    self._untag(record.image_id, r.name, deleted)
                removed = self._remove_image(record.image_id)
                deleted.extend(removed)
                reclaimed += sum(before.get(r["Deleted"], 0) for r in removed)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _stored_name(ref: reference.Reference, refs: list[RefRow]) -> str:
    if ref.digest:
        wanted = f"{ref.repository}@{ref.digest}"
        return next((r.name for r in refs if r.name == wanted), wanted)
    return str(ref)


def _single_reference(refs: list[RefRow]) -> bool:
    """moby's isSingleReference: one tag (plus digests of that same repository), or one digest."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if r.kind == "tag"]
    if len(tags) > 1:
        return False
    digest_repos = {_repo(r.name) for r in refs if r.kind == "digest"}
    single = tags[0] if tags else refs[0]
    return len(digest_repos) == 1 and _repo(single.name) in digest_repos


class ImageDeleteConflict(Conflict):
    """An image cannot be deleted: containers use it or references remain (the caller may force soft ones)."""

    def __init__(self, image_id: str, hard: bool, message: str) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {hex_of(image_id)[:12]} ({force}) - {message}")
        self.image_id = image_id
        self.hard = hard


def _conflict(
    image_id: str, running: list[str], stopped: list[str], refs: list[RefRow], children: list[str]
) -> ImageDeleteConflict | None:
    """moby's checkImageDeleteConflict, in its order (callers leave out what ``force`` overrides)."""
    if children:
        return ImageDeleteConflict(image_id, False, "image has dependent child images")
    if running:
        return ImageDeleteConflict(
            image_id, True, f"image is being used by running container {running[0][:12]}"
        )
    if refs:
        return ImageDeleteConflict(image_id, False, "image is referenced in one or more repositories")
    if stopped:
        return ImageDeleteConflict(
            image_id, False, f"image is being used by stopped container {stopped[0][:12]}"
        )
    return None
