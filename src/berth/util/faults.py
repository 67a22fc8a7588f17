"""Named crash points for the crash tests: ``BERTH_CRASH_AT=point[,point…]`` in berthd's environment
makes the daemon SIGKILL itself when it reaches one of them — the moment a power cut or the OOM killer
would pick, but at a place a test can name and then check the store after.

Off (the variable unset, as always outside tests) a point costs one frozenset lookup. The names are
``verb.moment``; ``POINTS`` lists them, so a test can go through every one.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "layer.before-record",  # a layer's snapshot committed, its row not yet in the index
    "image.before-register",  # every blob and layer of an image in, the image not yet recorded
    "rmi.before-layers",  # an image and its tags gone from the index, its layers not yet
    "container.before-record",  # a container's directory and snapshot made, no record yet
    "container.rm-before-record",  # a container's snapshot removed, its record not yet
    "volume.before-record",  # a volume's directory made, no record yet
    "network.before-firewall",  # a network recorded, its nftables rules not yet made
    "pull.mid-blob",  # a pulled layer's first bytes in an ingest and its extract snapshot, the rest not
    "push.before-manifest",  # every blob of an image in the registry, its manifest not yet put
    "build.step-committed",  # a RUN step's image recorded, its container not yet removed
    "container.start-before-record",  # a container's process started, its record still says created
    "volume.mid-copy",  # the first file of an image's content copied into a volume, the others not
    "network.connect-before-record",  # a running container plugged into a network, not yet recorded
)

_ARMED = frozenset(filter(None, os.environ.get("BERTH_CRASH_AT", "").split(",")))


def crash_point(name: str) -> None:
    """SIGKILL this process when the tests armed ``name``; nothing otherwise."""
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
