"""Checking a stored record's shape when it is read and before it is written: a record with a field
of the wrong type is refused whole (``ValueError`` naming the field), so that one bad file is skipped
with a warning instead of breaking every listing that formats it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Shape = Mapping[str, type | tuple[type, ...]]  # field → the type(s) its value may have


def require(raw: object, shape: Shape, *, optional: Shape | None = None) -> dict[str, Any]:
    """``raw`` as a dict whose ``shape`` fields are present with those types and whose ``optional``
    ones, when present and not null, have theirs; ``ValueError`` otherwise."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    for key, kinds in shape.items():
        if key not in raw:
            raise ValueError(f"field {key} is missing")
        _check(key, raw[key], kinds)
    for key, kinds in (optional or {}).items():
        if raw.get(key) is not None:
            _check(key, raw[key], kinds)
    return raw


def _check(key: str, value: object, kinds: type | tuple[type, ...]) -> None:
    # bool is an int to isinstance: a count or a pid given as true/false is still refused
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ValueError(f"field {key}: expected {_names(kinds)}, got bool")
    if not isinstance(value, kinds):
        raise ValueError(f"field {key}: expected {_names(kinds)}, got {type(value).__name__}")


def _names(kinds: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
