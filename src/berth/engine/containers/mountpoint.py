"""A container's mount point (Docker's ``volume/mounts.MountPoint``) and the checks every way of
asking for one shares, with Docker's messages. ``mounts.py`` and ``mount_specs.py`` build them.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine import volumes
from berth.errors import InvalidArgument

DEFAULT_PROPAGATION = "rprivate"
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
RW_MODES = {"ro", "rw"}
LABEL_MODES = {"z", "Z"}  # SELinux relabelling: a no-op on hosts without SELinux, as in Docker
COPY_MODES = {"nocopy"}
CONSISTENCY_MODES = {"consistent", "cached", "delegated"}  # macOS only: Docker ignores them on Linux


@dataclass(frozen=True, slots=True)
class MountPoint:
    """One mount of a container (Docker's ``volume/mounts.MountPoint``).

    ``source``: the host path of a bind, the image reference of an image mount ("" for volumes,
    which live in the volume's directory, and tmpfs). ``anonymous``: a volume made for this container
    (``rm -v`` removes it). ``explicit_propagation``: the user chose ``propagation``.
    """

    type: str
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    anonymous: bool = False
    copy_data: bool = True
    subpath: str = ""
    non_recursive: bool = False
    readonly_non_recursive: bool = False
    readonly_force_recursive: bool = False
    create_source: bool = False
    explicit_propagation: bool = False
    tmpfs_options: tuple[str, ...] = ()
    image_key: str = ""  # the snapshot that holds an image mount's view
    image_id: str = ""  # the image it shows (in use while the container exists)
    driver_opts: dict[str, str] | None = field(default=None, compare=False)
    labels: dict[str, str] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MountPoint:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["tmpfs_options"] = tuple(values.get("tmpfs_options") or ())
        return cls(**values)


# -------------------------------------------------------------------- validation (Docker's words)


def clean_path(path: str) -> str:
    cleaned = posixpath.normpath(path) if path else path
    return "/" + cleaned.lstrip("/") if cleaned.startswith("/") else cleaned


def mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def valid_mode(mode: str) -> bool:
    """Docker's ``linuxValidMountMode``: comma-separated, at most one of each kind."""
    if mode == "":
        return True
    counts = [0, 0, 0, 0, 0]
    for option in mode.split(","):
        for index, kind in enumerate(
            (RW_MODES, LABEL_MODES, set(PROPAGATIONS), COPY_MODES, CONSISTENCY_MODES)
        ):
            if option in kind:
                counts[index] += 1
                break
        else:
            return False
    return max(counts) <= 1


def target_problem(target: str) -> str | None:
    if not target:
        return "field Target must not be empty"
    if clean_path(target) == "/":
        return "invalid specification: destination can't be '/'"
    if not target.startswith("/"):
        return f"invalid mount path: '{target}' mount path must be absolute"
    return None


def check_driver(name: str) -> str:
    """Only Docker's ``local`` driver exists here; any other is a plugin that is not installed."""
    if name in ("", volumes.DRIVER):
        return volumes.DRIVER
    raise InvalidArgument(f'error looking up volume plugin {name}: plugin "{name}" not found')
