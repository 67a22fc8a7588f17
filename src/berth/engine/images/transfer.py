"""Images in and out as files: ``import`` (a rootfs tar), ``commit``'s new images (``create_image``),
``save`` (Docker's archive format with an OCI layout) and ``load`` (Docker or OCI archives)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from berth.engine.images.store import ImageRecord, ImageStore, _familiar, _repo
from berth.errors import InvalidArgument, NotFound
from berth.oci import reference
from berth.oci.digest import Digest, of_bytes
from berth.oci.image import apply_changes, canonical_json, chain_ids, diff_ids, now_rfc3339, parse_config
from berth.store import archive as archive_format
from berth.store.metadata import LayerRow
from berth.store.unpack import decompressed

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


class ImageTransfer(ImageStore):
    """``import_image``, ``create_image``, ``save`` and ``load``."""

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
        record, _ = self.register(canonical_json(config), [layer], None, [target] if target else [])
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
        record, _ = self.register(
            canonical_json(new_config),
            layers,
            None,
            [target] if target else [],
            parent=base.image_id if base else "",
        )
        if blob:
            self._gc_blobs({blob})
        return record

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
                record, moved = self.register(config_bytes, rows, manifest, refs)
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
