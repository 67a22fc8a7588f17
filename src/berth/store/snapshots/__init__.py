"""Snapshotters: layered filesystems for image layers and container root filesystems (containerd's model).

Vocabulary (containerd ``core/snapshots/snapshotter.go``):

* a **committed** snapshot has a ``name`` (Berth uses the layer's chain id) and is immutable;
* an **active** snapshot has a ``key``; it is writable and sits on top of a committed ``parent``
  (or on nothing);
* a **view** is a read-only active snapshot.

Importing a layer::

    snap.prepare("extract-<random>", parent_chain_id)     # an empty, writable layer
    stats = snap.apply_layer("extract-<random>", tar)     # safe unpack (berth.store.unpack)
    snap.commit(chain_id, "extract-<random>")            # now a committed lower layer
    # on any error: snap.remove("extract-<random>") — nothing is left behind

Running a container::

    mounts = snap.prepare(container_id, image.top_layer)  # [Mount(overlay, …)] or [Mount(bind, …)]
    # the runtime mounts these inside the container's mount namespace
    snap.changes(container_id); snap.usage(container_id); snap.export(container_id, out)
    snap.diff(container_id, out)                          # the layer tar ``docker commit`` stores
    snap.remove(container_id)                             # idempotent

Committed snapshots with children cannot be removed (``Conflict``). ``cleanup()`` at daemon start drops
leftovers of a crash (directories without a record, unfinished ``extract-`` snapshots).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from berth.oci.mount import Mount
from berth.store.unpack import LayerStats
from berth.util.idshift import IdShift

EXTRACT_PREFIX = "extract-"

# Docker's change kinds (GET /containers/{id}/changes).
CHANGE_MODIFIED = 0
CHANGE_ADDED = 1
CHANGE_DELETED = 2


class Kind(enum.StrEnum):
    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True)
class Info:
    """A snapshot's record: its key or name, kind, parent name ("" for none) and creation time."""

    key: str
    kind: Kind
    parent: str
    created: float


class Snapshotter(Protocol):
    """Layered filesystems addressed by key (active) or name (committed); see the package docstring."""

    def prepare(self, key: str, parent: str = "") -> list[Mount]:
        """A new active, writable snapshot on ``parent`` (a committed name, or "" for none).

        ``AlreadyExists`` if ``key`` is taken, ``NotFound`` if ``parent`` is not committed.
        """
        ...

    def view(self, key: str, parent: str) -> list[Mount]:
        """A read-only snapshot of ``parent``."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or view; ``NotFound`` if absent."""
        ...

    def commit(self, name: str, key: str) -> None:
        """Turn active ``key`` into committed ``name``; ``AlreadyExists`` if ``name`` exists."""
        ...

    def remove(self, key: str) -> None:
        """Remove a snapshot; idempotent. ``Conflict`` if a committed snapshot still has children."""
        ...

    def stat(self, key: str) -> Info:
        """The record of ``key``; ``NotFound`` if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def apply_layer(self, key: str, stream: BinaryIO) -> LayerStats:
        """Unpack a layer tar into active ``key`` in this snapshotter's whiteout form."""
        ...

    def usage(self, key: str) -> int:
        """Bytes of regular files this snapshot adds (the upper dir); hard links counted once."""
        ...

    def changes(self, key: str) -> list[tuple[str, int]]:
        """(path, kind) for what ``key`` changed against its parent, sorted by path."""
        ...

    def export(self, key: str, out: BinaryIO, shift: IdShift | None = None) -> None:
        """Write a tar of the merged filesystem of ``key`` to ``out`` (owners shifted by ``shift``)."""
        ...

    def diff(self, key: str, out: BinaryIO, shift: IdShift | None = None) -> None:
        """Write ``key``'s ``changes`` as an OCI layer tar (``.wh.`` whiteouts, opaque markers) to
        ``out``: what ``commit`` stores as the new image's top layer."""
        ...

    def cleanup(self) -> int:
        """Remove crash leftovers; call only at daemon start. Returns how many were removed."""
        ...

    def list(self) -> list[Info]:  # last: below it, ``list`` would name this method
        """Every snapshot's record."""
        ...


from berth.store.snapshots.naive import NaiveSnapshotter  # noqa: E402
from berth.store.snapshots.overlay import OverlaySnapshotter  # noqa: E402

__all__ = [
    "CHANGE_ADDED",
    "CHANGE_DELETED",
    "CHANGE_MODIFIED",
    "EXTRACT_PREFIX",
    "Info",
    "Kind",
    "NaiveSnapshotter",
    "OverlaySnapshotter",
    "Snapshotter",
]
