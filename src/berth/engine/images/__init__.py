"""``ImageService``: the local images of one daemon — import, tag, rmi, list, inspect, history, save,
load, prune — with Docker's semantics (moby ``daemon/images``) over Berth's stores.

One class per verb group, all over one ``ImageStore`` (its module docstring draws the storage layout):

    store.py      ImageStore: recovery, lookups, layers, registration, tags (pull and push use it)
    transfer.py   import, commit's new images, save, load
    removal.py    rmi, prune
    views.py      images, image inspect, history
    filters.py    the ``images``/``prune`` filters
    pull.py       PullService: registry → store;  push.py  PushService: store → registry
"""

from __future__ import annotations

from berth.engine.images.removal import ImageDeleteConflict, ImageRemoval
from berth.engine.images.store import ContainerUse, ImageRecord, ImageStore
from berth.engine.images.transfer import ImageTransfer
from berth.engine.images.views import ImageViews


class ImageService(ImageTransfer, ImageRemoval, ImageViews):
    """Local images (module docstring). Methods block: call them through ``asyncio.to_thread``."""


__all__ = ["ContainerUse", "ImageDeleteConflict", "ImageRecord", "ImageService", "ImageStore"]
