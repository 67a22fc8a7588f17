"""``ImageService``: the local images of one daemon — import, tag, rmi, list, inspect, history, save,
load, prune — with Docker's semantics (moby ``daemon/images``) over Berth's stores.

One class per verb group, all over one ``ImageStore`` (its module docstring draws the storage layout):

    image_store.py     ImageStore: recovery, lookups, layers, registration, tags (pull and push use it)
    image_transfer.py  import, commit's new images, save, load
    image_removal.py   rmi, prune
    image_views.py     images, image inspect, history
"""

from __future__ import annotations

from berth.engine.image_removal import ImageDeleteConflict, ImageRemoval
from berth.engine.image_store import ContainerUse, ImageRecord, ImageStore
from berth.engine.image_transfer import ImageTransfer
from berth.engine.image_views import ImageViews


class ImageService(ImageTransfer, ImageRemoval, ImageViews):
    """Local images (module docstring). Methods block: call them through ``asyncio.to_thread``."""


__all__ = ["ContainerUse", "ImageDeleteConflict", "ImageRecord", "ImageService", "ImageStore"]
