"""daemon.json's ``builder`` object, as dockerd reads it: the build cache's garbage collection.

    {"builder": {"gc": {"enabled": true, "defaultKeepStorage": "10GB"}}}

- ``enabled`` (default true): after every build, the least recently used unused cache mounts are
  deleted until the cache fits; false: it grows until ``docker builder prune``.
- ``defaultKeepStorage``, or Docker 28's name ``defaultReservedSpace`` (which wins): the size the GC
  keeps the cache within. ``defaultMaxUsedSpace``, ``defaultMinFreeSpace``: Docker 28's other bounds
  (BuildKit's: prune down to that size; prune until the disk has that much free, never below the
  reserved space). With none of the three, the reserved space is 10% of the data root's filesystem.
- Sizes are go-units' ``RAMInBytes``, as dockerd's: ``"10GB"`` is 10 GiB, ``"512MB"``, ``"1073741824"``
  (a JSON number of bytes is taken too).
- ``policy`` (BuildKit's list of rules with filters) is refused: this daemon has one rule; so are the
  ``builder`` keys it has nothing for (``entitlements``, ``history``, ``proxy-network``).

Keys match without regard to case, as Go's JSON does.
"""

from __future__ import annotations

import re
from typing import Any

from berth.errors import InvalidArgument

FIELDS = frozenset(
    {"builder_gc", "builder_gc_reserved_space", "builder_gc_max_used_space", "builder_gc_min_free_space"}
)
_SIZES = {
    "defaultreservedspace": "builder_gc_reserved_space",
    "defaultmaxusedspace": "builder_gc_max_used_space",
    "defaultminfreespace": "builder_gc_min_free_space",
}
_SIZE = re.compile(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")  # go-units' sizeRegex
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse(value: object, where: str) -> dict[str, Any]:
    """``builder``'s value → DaemonConfig fields (``FIELDS``); a malformed one is refused, naming it."""
    builder = _object(value, where, "builder")
    out: dict[str, Any] = {}
    for key, item in builder.items():
        if key.lower() != "gc":
            raise InvalidArgument(
                f"{where}: builder.{key} is not supported by this daemon (only builder.gc is)"
            )
        out.update(_gc(_object(item, where, "builder.gc"), where))
    return out


def _gc(gc: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    keep_storage = None
    for key, item in gc.items():
        lower = key.lower()
        if lower == "enabled":
            if not isinstance(item, bool):
                raise InvalidArgument(f"{where}: builder.gc.{key} must be true or false, not {item!r}")
            out["builder_gc"] = item
        elif lower == "defaultkeepstorage":
            keep_storage = _size(item, where, f"builder.gc.{key}")
        elif lower in _SIZES:
            out[_SIZES[lower]] = _size(item, where, f"builder.gc.{key}")
        elif lower == "policy":
            raise InvalidArgument(
                f"{where}: builder.gc.{key} is not supported by this daemon: its GC has one rule, "
                "bounded by builder.gc.defaultKeepStorage (or defaultReservedSpace, defaultMaxUsedSpace, "
                "defaultMinFreeSpace)"
            )
        else:
            raise InvalidArgument(f"{where}: unknown key builder.gc.{key}")
    if keep_storage is not None and not out.get("builder_gc_reserved_space"):
        out["builder_gc_reserved_space"] = keep_storage  # the deprecated name, as dockerd: the new wins
    return out


def _object(value: object, where: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: {name} must be a JSON object")
    return value


def _size(value: object, where: str, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(f"invalid size: {value!r}")
        return size(value)
    except ValueError as exc:
        raise InvalidArgument(f"{where}: {name}: {exc}") from None


def size(text: str) -> int:
    """go-units ``RAMInBytes``: a number with an optional binary unit (``10GB``, ``1.5g``, ``512 MiB``)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid size: '{text}'")
    number = float(match.group(1)) if match.group(1).count(".") <= 1 else None
    if number is None:
        raise ValueError(f"invalid size: '{text}'")
    return int(number * _BINARY.get((match.group(2) or "").lower(), 1))
