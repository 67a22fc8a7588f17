"""The image store's consistency: its content store (blobs, ingests), the index (images, tags, layers)
and the snapshots under them. Each check yields ``Finding``s; the fixes remove only what nothing can
use (a corrupt or unreferenced blob, a tag of a missing image, a snapshot no layer or container
names) or an image whose own blobs are gone (it cannot be run or pushed; pull or build it again).

Work in progress elsewhere is not a finding: an ingest, a blob, a snapshot younger than ``SETTLE``
belongs to a pull, build or commit under way (the index records an image only once its blobs and
layers are in).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from berth.engine.check.findings import Finding
from berth.engine.images import ImageService
from berth.store.snapshots import EXTRACT_PREFIX, Kind

SETTLE = 600.0  # seconds: younger than this, a leftover may still be someone's write in progress
_CHUNK = 1 << 20


def check_images(images: ImageService, container_snapshots: set[str], *, verify: bool) -> Iterator[Finding]:
    """Every inconsistency of the image store (``container_snapshots``: the keys containers use)."""
    yield from _ingests(images.content.root / "ingest")
    yield from _blobs(images, verify=verify)
    yield from _index(images)
    yield from _snapshots(images, container_snapshots)


def _old(path: Path, now: float) -> bool:
    try:
        return now - path.lstat().st_mtime > SETTLE
    except FileNotFoundError:
        return False


def _ingests(ingest: Path) -> Iterator[Finding]:
    now = time.time()
    for entry in sorted(ingest.iterdir()):
        if _old(entry, now):
            yield Finding(
                "content", f"ingest/{entry.name}", "half-written blob left by an interrupted write",
                "removed", fix=partial(_remove, entry),
            )  # fmt: skip


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _blobs(images: ImageService, *, verify: bool) -> Iterator[Finding]:
    content = images.content
    referenced = images.referenced_blobs()
    now = time.time()
    root = content.root / "blobs" / "sha256"
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        digest = "sha256:" + entry.name
        path = Path(entry.path)
        if not content.exists(digest):
            yield Finding("content", f"blobs/sha256/{entry.name}", "not a blob's name", "removed",
                          fix=partial(_remove, path))  # fmt: skip
            continue
        if verify and _sha256(path) != entry.name:
            yield Finding("content", digest, "bytes do not match the digest (corrupt)",
                          "removed (pull the image again)", fix=partial(content.delete, digest))  # fmt: skip
            continue
        if digest not in referenced and _old(path, now):
            yield Finding("content", digest, "no image needs this blob", "removed",
                          fix=partial(content.delete, digest))  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as blob:
        while chunk := blob.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _index(images: ImageService) -> Iterator[Finding]:
    index, content, snapshotter = images.index, images.content, images.snapshotter
    image_rows = {row.image_id: row for row in index.images()}
    for ref in index.refs():
        if ref.image_id not in image_rows:
            yield Finding("images", ref.name, f"names image {ref.image_id}, which is not there", "removed",
                          fix=partial(index.delete_ref, ref.name))  # fmt: skip
    layers = {row.chain_id: row for row in index.layers()}
    for row in image_rows.values():
        missing = [what for what, digest in (("config", row.image_id), ("manifest", row.manifest_digest))
                   if not content.exists(digest)]  # fmt: skip
        if row.top_layer and row.top_layer not in layers:
            missing.append(f"layer {row.top_layer}")
        if missing:
            yield Finding(
                "images", row.image_id, f"its {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing",
                "removed with its tags (pull or build it again)",
                fix=partial(_forget_image, images, row.image_id),
            )  # fmt: skip
    used = images.used_chains()
    for chain, layer in layers.items():
        if not snapshotter.exists(chain):
            yield Finding("layers", chain, "its snapshot is missing", "removed the layer's record",
                          fix=partial(index.delete_layer, chain))  # fmt: skip
        elif layer.parent and layer.parent not in layers:
            yield Finding("layers", chain, f"its parent layer {layer.parent} is not recorded")
        elif chain not in used and not snapshotter.children(chain):
            yield Finding("layers", chain, "no image uses this layer", "removed",
                          fix=partial(_drop, images, chain))  # fmt: skip


def _forget_image(images: ImageService, image_id: str) -> None:
    images.index.delete_image(image_id)  # its tags with it, in one transaction


def _drop(images: ImageService, chain: str) -> None:
    if not images.drop_layer(chain):
        raise OSError(f"layer {chain} is in use by a container")


def _snapshots(images: ImageService, container_snapshots: set[str]) -> Iterator[Finding]:
    snapshotter = images.snapshotter
    recorded = {row.chain_id for row in images.index.layers()}
    now = time.time()
    for info in sorted(snapshotter.list(), key=lambda i: -i.created):
        owner = info.key.partition("-image-")[0]  # a container's key, or one of its image mounts'
        if now - info.created < SETTLE or owner in container_snapshots:
            continue
        if info.kind is Kind.COMMITTED and info.key not in recorded and not snapshotter.children(info.key):
            problem = "a committed snapshot no layer records (an import that did not finish)"
        elif info.kind is not Kind.COMMITTED and not info.key.startswith(EXTRACT_PREFIX):
            problem = "no container uses this snapshot"
        else:
            continue
        yield Finding("snapshots", info.key, problem, "removed",
                      fix=partial(snapshotter.remove, info.key))  # fmt: skip
