"""``ImageStore``: the local image store every image verb works on — recovery at start, lookups, layers
and the registration of new images (the verbs themselves: ``transfer``, ``removal``,
``views``; ``ImageService`` in ``engine/images/__init__`` puts them together).

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
interrupted import/load/pull left (ingests, ``extract-`` snapshots, unreferenced layers and blobs).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine.events import EventBus
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.oci import mediatypes, reference
from berth.oci.digest import Digest, hex_of
from berth.oci.image import Descriptor, Manifest, chain_ids, diff_ids, parse_config, parse_rfc3339
from berth.store.content import LocalContentStore, LocalWriter
from berth.store.metadata import ImageIndex, ImageRow, LayerRow
from berth.store.snapshots import EXTRACT_PREFIX, Kind, NaiveSnapshotter, OverlaySnapshotter
from berth.store.unpack import Compression, LayerStats, decompressed
from berth.util.faults import crash_point

ContainerUse = Callable[[], Mapping[str, Sequence[str]]]

_LAYER_TYPES = {
    Compression.NONE: mediatypes.OCI_LAYER_TAR,
    Compression.GZIP: mediatypes.OCI_LAYER_GZIP,
    Compression.ZSTD: mediatypes.OCI_LAYER_ZSTD,
}
_HEX_RE = re.compile(r"^[0-9a-f]{1,64}$")
_MIN_SHORT_ID = 3

log = logging.getLogger("berthd.images")


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


class ImageStore:
    """The store's state and the operations the verbs share. Methods block: call them through
    ``asyncio.to_thread``. ``pull``/``push`` use the public ones (``layer``, ``adopt_layer``,
    ``register``, ``ref``/``set_ref``, ``discard_layers``)."""

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

    def _recover(self) -> None:
        """Remove what a killed daemon left behind; keeps every recorded image intact."""
        self.content.cleanup()
        self.snapshotter.cleanup()
        used = self.used_chains()
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
            if self._index.image(image_id) is not None:  # not kept for an image removed meanwhile
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
        return self._listed(self._index.images())

    def children(self, image_id: str) -> list[ImageRecord]:
        """The images made on top of ``image_id`` (commit, build steps), from the index alone."""
        return self._listed(row for row in self._index.images() if row.parent == image_id)

    def _listed(self, rows: Iterable[ImageRow]) -> list[ImageRecord]:
        """The records of ``rows``, less an image removed while they are read (its row goes before
        its config) and one whose config is gone (``system check`` reports it): a listing is never
        broken by one image."""
        out = []
        for row in rows:
            try:
                out.append(self._record(row.image_id, row))
            except NotFound as exc:
                self._configs.pop(row.image_id, None)
                if self._index.image(row.image_id) is not None:
                    log.warning("image %s left out: %s", row.image_id, exc)
        return out

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
        return self.adopt_layer(key, row)[0]

    def register(
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
        crash_point("image.before-register")
        with self._lock:
            moved = self._index.put_image(row, [(str(ref), "tag") for ref in refs])
        for ref in refs:
            self._events.publish("image", "tag", image_id, {"name": ref.familiar})
        return self._record(image_id), moved

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

    def _drop_layer(self, chain: str) -> bool:
        try:
            self.snapshotter.remove(chain)
        except Conflict:
            return False  # a container (or a forced-away image's container) still sits on it
        self._index.delete_layer(chain)
        return True

    @property
    def index(self) -> ImageIndex:
        """The image index, read by the store check (``engine/check``)."""
        return self._index

    def used_chains(self) -> set[str]:
        """The chain ids of every layer some image stands on."""
        used: set[str] = set()
        for row in self._index.images():
            try:
                used.update(str(c) for c in chain_ids(diff_ids(self._config(row.image_id))))
            except NotFound:
                continue
        return used

    def referenced_blobs(self) -> set[str]:
        """Every blob an image or a layer names: manifests, configs, layers as received."""
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
            return referenced

    def drop_layer(self, chain: str) -> bool:
        """Remove an unused layer's snapshot and record (False: a container still sits on it)."""
        with self._lock:
            return self._drop_layer(chain)

    def _gc_blobs(self, candidates: set[str] | set[Digest] | None) -> None:
        """Delete blobs no image or layer references (only ``candidates``, or every blob if None)."""
        with self._lock:
            referenced = self.referenced_blobs()
            pool = {info.digest for info in self.content.walk()} if candidates is None else set(candidates)
            for digest in pool - referenced:
                self.content.delete(digest)

    # -- for pull and push -----------------------------------------------------------------------------
    def layer(self, chain: str) -> LayerRow | None:
        """The record of the layer committed as snapshot ``chain``, if any."""
        return self._index.layer(chain)

    def adopt_layer(self, key: str, row: LayerRow) -> tuple[LayerRow, bool]:
        """Commit the extract snapshot ``key`` as ``row.chain_id`` and record ``row``; if another import
        committed that chain meanwhile, drop ``key`` instead. (the stored row, whether ``key`` became it)"""
        with self._lock:
            committed = not self.snapshotter.exists(row.chain_id)
            if committed:
                self.snapshotter.commit(row.chain_id, key)
            else:
                self.snapshotter.remove(key)
            crash_point("layer.before-record")
            self._index.add_layer(row)
            return self._index.layer(row.chain_id) or row, committed

    def ref(self, name: str) -> str | None:
        """The image id a full reference (``docker.io/library/busybox:latest``, ``repo@digest``) names."""
        return self._index.ref(name)

    def set_ref(self, name: str, kind: str, image_id: str) -> None:
        """Point reference ``name`` (``kind`` "tag" or "digest") at ``image_id``."""
        with self._lock:
            self._index.set_ref(name, kind, image_id)

    def discard_layers(self, chains: Sequence[str], blobs: set[str]) -> None:
        """Undo what a failed pull added: ``chains`` (newest last) unless an image uses them by now,
        then those of ``blobs`` nothing references."""
        with self._lock:
            used = self.used_chains()
            for chain in reversed(chains):
                if chain not in used:
                    self._drop_layer(chain)
            self._gc_blobs(blobs)


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


def _depth(chain: str, layers: Mapping[str, LayerRow]) -> int:
    depth = 0
    row = layers.get(chain)
    while row is not None and row.parent and depth < 1000:
        depth += 1
        row = layers.get(row.parent)
    return depth
