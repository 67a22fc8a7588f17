"""The classic builder's cache probe: which existing image a build step can reuse.

Local images: a child of the current image made by the same step (same last history line — for
COPY/ADD it holds a digest of the files, for RUN the command and build args — and the same config).
With ``--cache-from`` (dockerd's ``imageCache``), only the listed images and their ancestors may serve:
a local hit counts when it is an ancestor of one of them; otherwise a listed image whose history
starts with the current image's history and whose next line is this step's serves (pulled or
loaded images have no parent chain, only history). When it has more steps than that, the image for
this step is rebuilt from its layers and history (``restore``), and only that listed image is
considered from then on, as dockerd does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine.images import ImageRecord, ImageService
from berth.errors import NotFound
from berth.oci.image import canonical_json


@dataclass
class CacheSources:
    """The ``--cache-from`` images that exist locally (missing ones are skipped, as dockerd does)."""

    images: list[ImageRecord] = field(default_factory=list)
    ancestors: set[str] = field(default_factory=set)  # of the images: local hits must be among them

    @classmethod
    def of(cls, store: ImageService, names: list[str]) -> CacheSources | None:
        if not names:
            return None
        sources = cls()
        for name in names:
            try:
                record = store.resolve(name)
            except NotFound:
                continue
            sources.images.append(record)
            parent = record.parent
            while parent and parent not in sources.ancestors:
                sources.ancestors.add(parent)
                try:
                    parent = store.resolve(parent).parent
                except NotFound:
                    break
        return sources


def local_child(
    store: ImageService, parent: str, created_by: str, config: Mapping[str, Any]
) -> ImageRecord | None:
    """The newest image made on ``parent`` by this step, or None. On scratch (``parent`` is ``""``)
    only images of one history line qualify: those a first step made on nothing."""
    for record in sorted(store.children(parent), key=lambda r: -r.created):
        history = record.config.get("history") or []
        if (
            (parent or len(history) == 1)
            and history
            and history[-1].get("created_by") == created_by
            and (record.config.get("config") or {}) == config
        ):
            return record
    return None


def probe(
    store: ImageService,
    sources: CacheSources | None,
    parent: str,
    created_by: str,
    config: Mapping[str, Any],
) -> ImageRecord | None:
    """The image this step can reuse on ``parent`` (``""``: scratch), or None."""
    hit = local_child(store, parent, created_by, config)
    if sources is None:
        return hit
    if hit is not None and hit.image_id in sources.ancestors:
        return hit
    base = store.resolve(parent) if parent else None
    base_history = list(base.config.get("history") or []) if base else []
    base_diffs = list((base.config.get("rootfs") or {}).get("diff_ids") or []) if base else []
    for target in sources.images:
        history = list(target.config.get("history") or [])
        diffs = list((target.config.get("rootfs") or {}).get("diff_ids") or [])
        if len(history) <= len(base_history) or history[: len(base_history)] != base_history:
            continue
        if (
            diffs[: len(base_diffs)] != base_diffs
            or history[len(base_history)].get("created_by") != created_by
        ):
            continue
        if len(history) == len(base_history) + 1:
            return target
        sources.images = [target]  # do not jump to another image half-way (dockerd)
        return _restore(store, base, target, len(base_history), config)
    return None


def _restore(
    store: ImageService,
    base: ImageRecord | None,
    target: ImageRecord,
    step: int,
    config: Mapping[str, Any],
) -> ImageRecord:
    """The image of ``target``'s history line ``step`` on ``base``: its layers up to that line."""
    history = list(target.config.get("history") or [])[: step + 1]
    layer_count = sum(1 for entry in history if not entry.get("empty_layer"))
    diffs = list((target.config.get("rootfs") or {}).get("diff_ids") or [])[:layer_count]
    layers = []
    for chain in target.chain_ids[:layer_count]:
        row = store.layer(chain)
        if row is None:
            raise NotFound(f"layer {chain} of cache image {target.image_id}: not found")
        layers.append(row)
    image_config = {
        "architecture": target.config.get("architecture"),
        "os": target.config.get("os") or "linux",
        "config": dict(config),
        "created": history[-1].get("created"),
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diffs},
    }
    record, _ = store.register(
        canonical_json(image_config), layers, None, [], parent=base.image_id if base else ""
    )
    return record
