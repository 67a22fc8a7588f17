"""``ImageService``: the local images of one daemon — import, tag, rmi, list, inspect, history, save, load,
prune — with Docker's semantics (moby ``daemon/images``) over Berth's stores.

Storage layout (``root`` is ``<data-root>/image``)::

    <root>/
      metadata.db                       images, refs (tags/digests), layers — berth.store.metadata
      content/                          berth.store.content.LocalContentStore
        blobs/sha256/<hex>              configs, manifests, layer blobs as received
        ingest/<random>                 writes in progress (removed at start)
      overlay/                          berth.store.snapshots.OverlaySnapshotter (naive/ without overlayfs)
        snapshots.db                    snapshot records (key/name, kind, parent)
        l/<LINK> -> ../<sid>/fs         short names for lowerdir=
        <sid>/fs  <sid>/work  <sid>/link
        tmp/export-<random>             export mount points (unmounted at start)

Image ids are the digest of the config JSON; each layer is unpacked once into the committed snapshot
named by its chain id, which ``ImageRecord.top_layer`` names for containers (``snapshotter.prepare``).
Crash safety: blobs are renamed into place only when verified, layers are committed only when fully
unpacked, an image and its tags are recorded in one transaction, and the constructor removes whatever an
interrupted import/load left (ingests, ``extract-`` snapshots, unreferenced layers and blobs).
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine.events import EventBus
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.oci import mediatypes, reference
from berth.oci.digest import Digest, hex_of, of_bytes
from berth.oci.image import (
    Descriptor,
    Manifest,
    apply_changes,
    canonical_json,
    chain_ids,
    diff_ids,
    format_rfc3339,
    now_rfc3339,
    parse_config,
    parse_rfc3339,
)
from berth.store import archive as archive_format
from berth.store.content import LocalContentStore, LocalWriter
from berth.store.metadata import ImageIndex, ImageRow, LayerRow, RefRow
from berth.store.snapshots import EXTRACT_PREFIX, Kind, NaiveSnapshotter, OverlaySnapshotter
from berth.store.unpack import Compression, LayerStats, decompressed

ContainerUse = Callable[[], Mapping[str, Sequence[str]]]

_LAYER_TYPES = {
    Compression.NONE: mediatypes.OCI_LAYER_TAR,
    Compression.GZIP: mediatypes.OCI_LAYER_GZIP,
    Compression.ZSTD: mediatypes.OCI_LAYER_ZSTD,
}
_HEX_RE = re.compile(r"^[0-9a-f]{1,64}$")
_MIN_SHORT_ID = 3
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One local image as the engine sees it (``resolve``)."""

    image_id: str
    config: dict[str, Any]
    repo_tags: list[str]
    repo_digests: list[str]
    created: int
    size: int
    top_layer: str
    manifest_digest: str = ""
    parent: str = ""
    chain_ids: list[str] = field(default_factory=list)
    last_tag_time: float = 0.0

    @property
    def short_id(self) -> str:
        return hex_of(self.image_id)[:12]

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})


class ImageService:
    """Local images (module docstring). Methods block: call them through ``asyncio.to_thread``."""

    def __init__(
        self,
        root: Path,
        *,
        events: EventBus,
        in_use: ContainerUse,
        running: ContainerUse | None = None,
        snapshotter: str = "auto",
    ) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root
        self._events = events
        self._in_use = in_use
        self._running = running
        self._lock = threading.RLock()
        self._configs: dict[str, dict[str, Any]] = {}
        self.content = LocalContentStore(root / "content")
        if snapshotter == "auto":
            snapshotter = "overlay" if _overlay_available() else "naive"
        if snapshotter == "overlay":
            self.snapshotter: OverlaySnapshotter | NaiveSnapshotter = OverlaySnapshotter(root / "overlay")
        elif snapshotter == "naive":
            self.snapshotter = NaiveSnapshotter(root / "naive")
        else:
            raise InvalidArgument(f"unknown snapshotter {snapshotter!r}: expected overlay or naive")
        self.driver = snapshotter
        self._index = ImageIndex(root / "metadata.db")
        self._recover()

    def close(self) -> None:
        self._index.close()
        self.snapshotter.close()

    # -- start-up ----------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Remove what a killed daemon left behind; keeps every recorded image intact."""
        self.content.cleanup()
        self.snapshotter.cleanup()
        used = self._used_chains()
        layers = {row.chain_id: row for row in self._index.layers()}
        for chain in sorted(layers, key=lambda c: -_depth(c, layers)):
            if chain not in used:
                self._drop_layer(chain)
        recorded = {row.chain_id for row in self._index.layers()}
        for info in sorted(self.snapshotter.list(), key=lambda i: -i.created):
            if (
                info.kind is Kind.COMMITTED
                and info.key not in recorded
                and not self.snapshotter.children(info.key)
            ):
                self.snapshotter.remove(info.key)
        self._gc_blobs(None)

    # -- lookup ------------------------------------------------------------------------------------------
    def resolve(self, name_or_id: str) -> ImageRecord:
        """The image a name (any Docker spelling), ``name@digest``, full/short id or ``sha256:`` id names.

        ``NotFound("No such image: NAME")`` otherwise (NAME with ``:latest`` added, as Docker says it).
        """
        return self._record(self._resolve_id(name_or_id))

    def exists(self, name_or_id: str) -> bool:
        try:
            self._resolve_id(name_or_id)
        except NotFound:
            return False
        return True

    def _resolve_id(self, text: str) -> str:
        return self._resolve(text)[0]

    def _resolve(self, text: str) -> tuple[str, bool]:
        """(image id, whether ``text`` named it by id rather than by reference)."""
        if text.startswith("sha256:"):
            hexpart = text[7:]
            if _HEX_RE.match(hexpart):
                found = self._index.find_prefix(hexpart)
                if len(found) == 1:
                    return found[0], True
            raise NotFound(f"No such image: {text}")
        ref = None
        try:
            ref = reference.parse(text)
        except InvalidArgument:
            ref = None
        if ref is not None:
            image_id = self._lookup_ref(ref)
            if image_id is not None:
                return image_id, False
        if _HEX_RE.match(text) and len(text) >= _MIN_SHORT_ID:
            found = self._index.find_prefix(text)
            if len(found) == 1:
                return found[0], True
        raise NotFound(f"No such image: {ref.familiar if ref is not None else text}")

    def _lookup_ref(self, ref: reference.Reference) -> str | None:
        if ref.digest:
            image_id = self._index.ref(f"{ref.repository}@{ref.digest}")
            if image_id is not None:
                return image_id
            for row in self._index.images():
                if row.manifest_digest == ref.digest:
                    return row.image_id
            return None
        return self._index.ref(str(ref))

    def _config(self, image_id: str) -> dict[str, Any]:
        config = self._configs.get(image_id)
        if config is None:
            config = parse_config(self.content.read_bytes(image_id))
            self._configs[image_id] = config
        return config

    def _record(self, image_id: str, row: ImageRow | None = None) -> ImageRecord:
        row = row or self._index.image(image_id)
        if row is None:
            raise NotFound(f"No such image: {image_id}")
        config = self._config(image_id)
        refs = self._index.refs(image_id)
        chains = [str(c) for c in chain_ids(diff_ids(config))]
        size = 0
        for chain in chains:
            layer = self._index.layer(chain)
            size += layer.size if layer else 0
        return ImageRecord(
            image_id=image_id,
            config=config,
            repo_tags=[_familiar(r.name) for r in refs if r.kind == "tag"],
            repo_digests=[_familiar(r.name) for r in refs if r.kind == "digest"],
            created=int(row.created),
            size=size,
            top_layer=row.top_layer,
            manifest_digest=row.manifest_digest,
            parent=row.parent,
            chain_ids=chains,
            last_tag_time=max((r.created for r in refs), default=0.0),
        )

    def records(self) -> list[ImageRecord]:
        return [self._record(row.image_id, row) for row in self._index.images()]

    # -- import ------------------------------------------------------------------------------------------
    def import_image(
        self,
        source: BinaryIO,
        *,
        repo: str = "",
        tag: str = "",
        changes: Sequence[str] = (),
        message: str = "",
        src: str = "-",
        platform_os: str = "linux",
    ) -> ImageRecord:
        """``docker import``: one layer from a rootfs tar (plain/gzip/zstd/bzip2/xz), tagged ``repo:tag``."""
        target = self._target_ref(repo, tag) if repo else None
        container_config = apply_changes({}, list(changes))
        layer, blob = self._unpack_stream(source, "")
        created = now_rfc3339()
        comment = message or f"Imported from {src}"
        config: dict[str, Any] = {
            "architecture": _ARCH.get(os.uname().machine, os.uname().machine),
            "comment": comment,
            "config": container_config,
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": platform_os,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
        record, _ = self._register(canonical_json(config), [layer], None, [target] if target else [])
        self._events.publish("image", "import", record.image_id, {"name": record.image_id})
        self._gc_blobs({blob})
        return record

    def create_image(
        self,
        layer: BinaryIO | None,
        *,
        parent: str = "",
        config: dict[str, Any],
        history: dict[str, Any],
        repo: str = "",
        tag: str = "",
    ) -> ImageRecord:
        """A new image: ``parent``'s layers plus ``layer`` (a tar, e.g. a container's changes; None for
        an empty layer), with the given container ``config`` section and one more ``history`` entry.
        For ``commit`` and the builder."""
        target = self._target_ref(repo, tag) if repo else None
        base = self.resolve(parent) if parent else None
        layers: list[LayerRow] = []
        for chain in base.chain_ids if base else []:
            row = self._index.layer(chain)
            if row is None:
                raise NotFound(f"layer {chain} of image {parent}: not found")
            layers.append(row)
        blob = None
        if layer is not None:
            row, blob = self._unpack_stream(layer, layers[-1].chain_id if layers else "")
            layers.append(row)
        created = now_rfc3339()
        inherited = {k: v for k, v in base.config.items() if k not in ("author", "comment")} if base else {}
        # author and comment describe this step (commit -a/-m), never the parent's import.
        own = {k: history[k] for k in ("author", "comment") if history.get(k)}
        new_config: dict[str, Any] = {
            **inherited,
            **own,
            "architecture": base.config.get("architecture")
            if base
            else _ARCH.get(os.uname().machine, "amd64"),
            "os": "linux",
            "config": config,
            "created": created,
            "history": [
                *(base.config.get("history") or [] if base else []),
                {"created": created, **history, **({} if layer is not None else {"empty_layer": True})},
            ],
            "rootfs": {"type": "layers", "diff_ids": [row.diff_id for row in layers]},
        }
        record, _ = self._register(
            canonical_json(new_config),
            layers,
            None,
            [target] if target else [],
            parent=base.image_id if base else "",
        )
        if blob:
            self._gc_blobs({blob})
        return record

    def _unpack(self, blob: str, parent_chain: str, expected_diff: str | None) -> LayerRow:
        """Unpack stored layer ``blob`` on ``parent_chain`` into a committed snapshot; its layer record."""
        key = EXTRACT_PREFIX + secrets.token_hex(8)
        self.snapshotter.prepare(key, parent_chain)
        try:
            with self.content.open(blob) as reader:
                stats = self.snapshotter.apply_layer(key, reader)
            if expected_diff is not None and stats.diff_id != expected_diff:
                raise InvalidArgument(
                    f"layer {blob} unpacks to {stats.diff_id}, but the image config expects {expected_diff}"
                )
            return self._commit_layer(key, Digest(blob), stats, parent_chain)
        except BaseException:
            self.snapshotter.remove(key)
            raise

    def _unpack_stream(self, source: BinaryIO, parent_chain: str) -> tuple[LayerRow, Digest]:
        """Unpack a layer while storing it (one pass over the bytes); the record and the new blob.

        A failed unpack aborts the ingest too, so nothing of a refused layer stays behind.
        """
        key = EXTRACT_PREFIX + secrets.token_hex(8)
        self.snapshotter.prepare(key, parent_chain)
        try:
            with self.content.writer() as writer:
                tee = _Tee(source, writer)
                stats = self.snapshotter.apply_layer(key, tee)  # type: ignore[arg-type]  # duck-typed
                tee.drain()
                blob = writer.commit()
            return self._commit_layer(key, blob, stats, parent_chain), blob
        except BaseException:
            self.snapshotter.remove(key)
            raise

    def _commit_layer(self, key: str, blob: Digest, stats: LayerStats, parent_chain: str) -> LayerRow:
        blob_digest, media_type = blob, _LAYER_TYPES.get(stats.compression)
        if media_type is None:  # bzip2/xz are not OCI layer types: keep the plain tar instead
            with self.content.open(blob) as raw:
                plain, _ = decompressed(raw)
                blob_digest = self.content.copy_from(plain, stats.diff_id)
            media_type = mediatypes.OCI_LAYER_TAR
        chain = stats.diff_id if not parent_chain else chain_ids([Digest(parent_chain), stats.diff_id])[-1]
        row = LayerRow(
            chain, stats.diff_id, parent_chain, blob_digest, media_type, stats.tar_size, stats.size
        )
        with self._lock:
            if self.snapshotter.exists(chain):
                self.snapshotter.remove(key)
            else:
                self.snapshotter.commit(chain, key)
            self._index.add_layer(row)
            return self._index.layer(chain) or row

    def _register(
        self,
        config_bytes: bytes,
        layers: list[LayerRow],
        manifest_bytes: bytes | None,
        refs: list[reference.Reference],
        *,
        parent: str = "",
    ) -> tuple[ImageRecord, dict[str, str]]:
        config = parse_config(config_bytes)
        image_id = self.content.write_bytes(config_bytes)
        if manifest_bytes is None:
            manifest_bytes = Manifest(
                Descriptor(mediatypes.OCI_CONFIG, image_id, len(config_bytes)),
                tuple(
                    Descriptor(
                        row.media_type, Digest(row.blob_digest), self.content.info(row.blob_digest).size
                    )
                    for row in layers
                ),
            ).to_bytes()
        manifest_digest = self.content.write_bytes(manifest_bytes)
        row = ImageRow(
            image_id,
            manifest_digest,
            parse_rfc3339(config.get("created")),
            layers[-1].chain_id if layers else "",
            parent,
            time.time(),
        )
        with self._lock:
            moved = self._index.put_image(row, [(str(ref), "tag") for ref in refs])
        for ref in refs:
            self._events.publish("image", "tag", image_id, {"name": ref.familiar})
        return self._record(image_id), moved

    # -- tags --------------------------------------------------------------------------------------------
    def _target_ref(self, repo: str, tag: str) -> reference.Reference:
        ref = reference.parse(repo, default_tag=False)
        if ref.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            ref = reference.parse(f"{ref.repository}:{tag}")
        return ref if ref.tag else ref.with_tag(reference.DEFAULT_TAG)

    def tag(self, source: str, repo: str, tag: str = "") -> reference.Reference:
        """``docker tag SOURCE REPO[:TAG]``; returns the new reference."""
        image_id = self._resolve_id(source)
        ref = self._target_ref(repo, tag)
        with self._lock:
            self._index.set_ref(str(ref), "tag", image_id)
        self._events.publish("image", "tag", image_id, {"name": ref.familiar})
        return ref

    # -- delete ------------------------------------------------------------------------------------------
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
                children = [] if force else self._children(image_id)
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
                [] if force else self._children(image_id),
            )
            if conflict:
                if removed_ref:
                    return records
                raise conflict
            for r in refs:
                self._untag(image_id, r.name, records)
            records.extend(self._remove_image(image_id))
            return records

    def _children(self, image_id: str) -> list[str]:
        return [row.image_id for row in self._index.images() if row.parent == image_id]

    def _untag(self, image_id: str, name: str, records: list[dict[str, str]]) -> None:
        self._index.delete_ref(name)
        records.append({"Untagged": _familiar(name)})
        self._events.publish("image", "untag", image_id, {"name": image_id})

    def _remove_image(self, image_id: str) -> list[dict[str, str]]:
        row = self._index.image(image_id)
        config = self._config(image_id)
        chains = [str(c) for c in chain_ids(diff_ids(config))]
        self._index.delete_image(image_id)
        self._configs.pop(image_id, None)
        self._events.publish("image", "delete", image_id, {"name": image_id})
        out = [{"Deleted": image_id}]
        used = self._used_chains()
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

    def _drop_layer(self, chain: str) -> bool:
        try:
            self.snapshotter.remove(chain)
        except Conflict:
            return False  # a container (or a forced-away image's container) still sits on it
        self._index.delete_layer(chain)
        return True

    def _used_chains(self) -> set[str]:
        used: set[str] = set()
        for row in self._index.images():
            try:
                used.update(str(c) for c in chain_ids(diff_ids(self._config(row.image_id))))
            except NotFound:
                continue
        return used

    def _gc_blobs(self, candidates: set[str] | set[Digest] | None) -> None:
        """Delete blobs no image or layer references (only ``candidates``, or every blob if None)."""
        with self._lock:
            referenced: set[str] = set()
            for row in self._index.images():
                referenced.update((row.image_id, row.manifest_digest))
                try:
                    manifest = Manifest.from_bytes(self.content.read_bytes(row.manifest_digest))
                except (NotFound, InvalidArgument):
                    continue
                referenced.update(layer.digest for layer in manifest.layers)
            referenced.update(row.blob_digest for row in self._index.layers())
            pool = {info.digest for info in self.content.walk()} if candidates is None else set(candidates)
            for digest in pool - referenced:
                self.content.delete(digest)

    # -- prune -------------------------------------------------------------------------------------------
    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``docker image prune [-a]``; filters: ``dangling`` (default true), ``label``, ``until``."""
        filters = dict(filters or {})
        dangling_only = not any(v.lower() in ("false", "0") for v in filters.get("dangling", ["true"]))
        until = _until(filters.get("until", []))
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        with self._lock:
            used = set(self._in_use())
            for record in sorted(self.records(), key=lambda r: -r.created):
                if record.image_id in used or (dangling_only and record.repo_tags):
                    continue
                if not _labels_match(record.labels, filters) or (
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

    # -- list / inspect / history ------------------------------------------------------------------------
    def list_images(
        self,
        all_images: bool = False,
        filters: Mapping[str, Sequence[str]] | None = None,
        digests: bool = False,
    ) -> list[dict[str, Any]]:
        """``GET /images/json`` entries (Docker's ImageSummary), newest first."""
        filters = dict(filters or {})
        for key in filters:
            if key not in ("dangling", "label", "label!", "reference", "before", "since", "until"):
                raise InvalidArgument(f"invalid filter '{key}'")
        records = self.records()
        before = [self.resolve(v).created for v in filters.get("before", [])]
        since = [self.resolve(v).created for v in filters.get("since", [])]
        until = _until(filters.get("until", []))
        out = []
        for record in sorted(records, key=lambda r: (-r.created, r.image_id)):
            if "dangling" in filters:
                want = any(v.lower() in ("true", "1") for v in filters["dangling"])
                if want == bool(record.repo_tags):
                    continue
            if not _labels_match(record.labels, filters):
                continue
            if before and not all(record.created < b for b in before):
                continue
            if since and not all(record.created > s for s in since):
                continue
            if until is not None and record.created >= until:
                continue
            tags = record.repo_tags
            if "reference" in filters:
                tags = [t for t in tags if any(_ref_match(p, t) for p in filters["reference"])]
                if not tags:
                    continue
            out.append(self._summary(record, tags))
        return out

    def _summary(self, record: ImageRecord, tags: list[str]) -> dict[str, Any]:
        containers = len(self._in_use().get(record.image_id, ()))
        return {
            "Id": record.image_id,
            "ParentId": record.parent,
            "RepoTags": tags,
            "RepoDigests": record.repo_digests,
            "Created": record.created,
            "Size": record.size,
            "SharedSize": -1,
            "VirtualSize": record.size,
            "Labels": record.labels or {},
            "Containers": containers,
        }

    def inspect(self, name: str) -> dict[str, Any]:
        """``GET /images/{name}/json`` (Docker's ImageInspect)."""
        record = self.resolve(name)
        config = record.config
        container_config = _docker_container_config(config.get("config") or {})
        graph: dict[str, str] = {}
        if record.top_layer:
            fs_dirs = [
                str(self.snapshotter.fs(c)) for c in reversed(record.chain_ids) if self.snapshotter.exists(c)
            ]
            if fs_dirs:
                graph = {"MergedDir": "", "UpperDir": fs_dirs[0], "WorkDir": ""}
                if len(fs_dirs) > 1:
                    graph["LowerDir"] = ":".join(fs_dirs[1:])
        created = config.get("created") or format_rfc3339(record.created)
        return {
            "Id": record.image_id,
            "RepoTags": record.repo_tags,
            "RepoDigests": record.repo_digests,
            "Parent": record.parent,
            "Comment": config.get("comment", ""),
            "Created": created,
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": container_config,
            "Architecture": config.get("architecture", ""),
            **({"Variant": config["variant"]} if config.get("variant") else {}),
            "Os": config.get("os", ""),
            "Size": record.size,
            "VirtualSize": record.size,
            "GraphDriver": {"Name": "overlay2" if self.driver == "overlay" else "vfs", "Data": graph or None},
            "RootFS": {"Type": "layers", "Layers": [str(d) for d in diff_ids(config)]},
            "Metadata": {"LastTagTime": format_rfc3339(record.last_tag_time) if record.last_tag_time else ""},
        }

    def history(self, name: str) -> list[dict[str, Any]]:
        """``docker history``: newest first; the top entry carries the id and tags, the rest ``<missing>``."""
        record = self.resolve(name)
        entries = list(record.config.get("history") or [])
        sizes = [row.size if (row := self._index.layer(c)) else 0 for c in record.chain_ids]
        out: list[dict[str, Any]] = []
        layer = 0
        for entry in entries:
            size = 0
            if not entry.get("empty_layer") and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            out.append(
                {
                    "Id": "<missing>",
                    "Created": int(parse_rfc3339(entry.get("created"))),
                    "CreatedBy": entry.get("created_by", ""),
                    "Tags": None,
                    "Size": size,
                    "Comment": entry.get("comment", ""),
                }
            )
        out.reverse()
        if out:
            out[0]["Id"] = record.image_id
            out[0]["Tags"] = record.repo_tags or None
        return out

    # -- save / load -------------------------------------------------------------------------------------
    def plan_save(self, names: Sequence[str]) -> list[archive_format.SavedImage]:
        """Resolve ``docker save`` names (a bare repository means all its tags); NotFound before output."""
        chosen: dict[str, list[str]] = {}
        for name in names:
            ref = None
            try:
                ref = reference.parse(name, default_tag=False)
            except InvalidArgument:
                ref = None
            if ref is not None and ref.tag is None and ref.digest is None:
                tagged = [
                    r for r in self._index.refs() if r.kind == "tag" and _repo(r.name) == ref.repository
                ]
                if tagged:
                    for r in tagged:
                        chosen.setdefault(r.image_id, [])
                        if r.name not in chosen[r.image_id]:
                            chosen[r.image_id].append(r.name)
                    continue
            image_id, by_id = self._resolve(name)
            names_for = chosen.setdefault(image_id, [])
            if ref is not None and not by_id and not ref.digest:
                full = str(ref if ref.tag else ref.with_tag(reference.DEFAULT_TAG))
                if full not in names_for:
                    names_for.append(full)
        out = []
        for image_id, full_names in chosen.items():
            record = self._record(image_id)
            layers = []
            for chain in record.chain_ids:
                row = self._index.layer(chain)
                if row is None:
                    raise NotFound(f"layer {chain} of image {record.short_id}: not found")
                layers.append(
                    archive_format.SavedLayer(Digest(row.diff_id), row.tar_size, self._layer_opener(row))
                )
            out.append(
                archive_format.SavedImage(
                    self.content.read_bytes(image_id),
                    tuple(layers),
                    tuple(_familiar(n) for n in full_names),
                    tuple(full_names),
                )
            )
        return out

    def _layer_opener(self, row: LayerRow) -> Callable[[], BinaryIO]:
        def open_layer() -> BinaryIO:
            raw = self.content.open(row.blob_digest)
            reader, _ = decompressed(raw)
            return _Closing(reader, raw)  # type: ignore[return-value]

        return open_layer

    def save(self, names: Sequence[str], out: BinaryIO) -> None:
        """``docker save``: Docker's archive format (OCI layout + manifest.json) for ``names`` to ``out``."""
        images = self.plan_save(names)
        self.write_save(images, out)

    def write_save(self, images: list[archive_format.SavedImage], out: BinaryIO) -> None:
        archive_format.write_archive(out, images)
        for image in images:
            image_id = of_bytes(image.config)
            self._events.publish("image", "save", image_id, {"name": image_id})

    def load(self, stream: BinaryIO) -> list[str]:
        """``docker load``: Docker (any vintage) or OCI archives; returns the "Loaded image…" lines."""
        archive = archive_format.read_archive(stream, self.content)
        messages: list[str] = []
        try:
            for image in archive_format.images_in(archive, self.content):
                config_bytes = self.content.read_bytes(image.config)
                config = parse_config(config_bytes)
                diffs = diff_ids(config)
                if len(diffs) != len(image.layers):
                    raise InvalidArgument(
                        f"invalid archive: image has {len(image.layers)} layers "
                        f"but its config lists {len(diffs)}"
                    )
                rows: list[LayerRow] = []
                parent = ""
                for blob, diff, chain in zip(image.layers, diffs, chain_ids(diffs), strict=True):
                    row = self._index.layer(chain)
                    if row is None or not self.snapshotter.exists(chain):
                        row = self._unpack(blob, parent, diff)
                    rows.append(row)
                    parent = chain
                refs = [reference.parse(t) for t in image.repo_tags]
                manifest = self.content.read_bytes(image.manifest) if image.manifest else None
                record, moved = self._register(config_bytes, rows, manifest, refs)
                for ref in refs:
                    if str(ref) in moved:
                        messages.append(
                            f"The image {ref.familiar} already exists, renaming the old one with ID "
                            f"{moved[str(ref)]} to empty string"
                        )
                    messages.append(f"Loaded image: {ref.familiar}")
                if not refs:
                    messages.append(f"Loaded image ID: {record.image_id}")
                self._events.publish("image", "load", record.image_id, {"name": record.image_id})
        finally:
            self._gc_blobs(set(archive.written))
        return messages


class _Tee:
    """Hands a stream to the unpacker while writing every byte to a content-store ingest."""

    def __init__(self, source: BinaryIO, writer: LocalWriter) -> None:
        self._source = source
        self._writer = writer

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._writer.write(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _Closing:
    """A reader that also closes the raw blob reader under a decompressor."""

    def __init__(self, reader: Any, raw: BinaryIO) -> None:
        self._reader = reader
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._reader.read(size)
        return data

    def close(self) -> None:
        try:
            if hasattr(self._reader, "close") and self._reader is not self._raw:
                self._reader.close()
        finally:
            self._raw.close()


def _overlay_available() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def _familiar(name: str) -> str:
    try:
        return reference.parse(name).familiar
    except InvalidArgument:
        return name


def _repo(name: str) -> str:
    try:
        return reference.parse(name).repository
    except InvalidArgument:
        return name


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


def _labels_match(labels: Mapping[str, str], filters: Mapping[str, Sequence[str]]) -> bool:
    for wanted in filters.get("label", []):
        key, sep, value = wanted.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    for unwanted in filters.get("label!", []):
        key, sep, value = unwanted.partition("=")
        if key in labels and (not sep or labels[key] == value):
            return False
    return True


def _ref_match(pattern: str, familiar_tag: str) -> bool:
    """Docker's ``reference`` filter: a glob on the familiar name, with or without the tag."""
    name = familiar_tag.rpartition(":")[0] if ":" in familiar_tag.rpartition("/")[2] else familiar_tag
    if ":" in pattern.rpartition("/")[2]:
        return fnmatch.fnmatchcase(familiar_tag, pattern)
    return fnmatch.fnmatchcase(name, pattern)


def _until(values: Sequence[str]) -> float | None:
    if not values:
        return None
    value = values[-1]
    try:
        return float(value)
    except ValueError:
        pass
    seconds = parse_rfc3339(value)
    if seconds:
        return seconds
    match = re.fullmatch(r"(\d+)([smh])", value)
    if match:
        return time.time() - int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    raise InvalidArgument(f"invalid filter 'until={value}'")


def _depth(chain: str, layers: Mapping[str, LayerRow]) -> int:
    depth = 0
    row = layers.get(chain)
    while row is not None and row.parent and depth < 1000:
        depth += 1
        row = layers.get(row.parent)
    return depth


def _docker_container_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The image's ``config`` section with the keys Docker always shows (null when unset)."""
    out: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    out.update(config)
    return out
