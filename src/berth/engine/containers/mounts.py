"""The mounts of a container's OCI spec: binds (``-v /host:/ctr``), volumes (named and anonymous,
``engine/volumes.py``) and tmpfs mounts, in the order Docker mounts them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.engine import volumes
from berth.engine.containers.container import Container
from berth.errors import InvalidArgument


def bind_mounts(binds: list[str]) -> list[dict[str, Any]]:
    mounts = []
    for bind in binds:
        parts = bind.split(":")
        if len(parts) == 1 and bind.startswith("/"):
            continue  # "/path" alone: an anonymous volume, volume_mounts below mounts it
        if len(parts) < 2:
            raise InvalidArgument(f"invalid volume specification: '{bind}'")
        if not parts[0].startswith("/"):
            continue  # a named volume (name:/path): volume_mounts below mounts it
        source, destination, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"
        if not destination.startswith("/"):
            raise InvalidArgument(f"invalid volume specification: '{bind}': mount path must be absolute")
        flags = set(mode.split(","))
        mounts.append({
            "destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "ro" if "ro" in flags else "rw", "rprivate"],
        })  # fmt: skip
    return mounts


def volume_mounts(container: Container, mountpoint: Callable[[str], Path]) -> list[dict[str, Any]]:
    """Named and anonymous volumes (engine/volumes.py): a bind of the volume's ``_data`` directory."""
    return [
        {"destination": m.destination, "type": "bind", "source": str(mountpoint(m.name)),
         "options": ["rbind", "rw" if m.rw else "ro", "rprivate"]}
        for m in volumes.volume_mounts(container.container_id, container.config, container.host_config)
    ]  # fmt: skip


def tmpfs_mounts(tmpfs: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"destination": path, "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", *[o for o in options.split(",") if o]]}
        for path, options in tmpfs.items()
    ]  # fmt: skip
