"""What ``POST /build/prune`` and the build cache's GC delete, as BuildKit decides it (``cache/manager.go``
``prune``): the filters dockerd hands BuildKit, and the size bounds (``reserved-space`` alias
``keep-storage``, ``max-used-space``, ``min-free-space``) folded into one number of bytes to keep.

Filters (dockerd's ``builder-next.toBuildkitPruneInfo``; one value each, else "filters expect only
one value"): ``id`` a regular expression searched in the id; ``type`` and ``description`` equal;
``parent`` a parent's id (cache mounts have none: nothing matches); ``inuse``/``shared``/``private``
booleans (bare, ``true``/``1``, or ``false``/``0`` for the opposite); ``label``/``label!``, which
dockerd accepts and ignores: build cache records have no labels, so ``label`` matches none and
``label!`` all. ``until``/``unused-for`` are the caller's (a time, read with the request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from berth.errors import InvalidArgument

_BOOLEANS = ("inuse", "shared", "private")
_SINGLE = ("id", "parent", "type", "description", *_BOOLEANS)
FILTERS = frozenset({*_SINGLE, "label", "label!"})


class Prunable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def last_used(self) -> float | None: ...
    @property
    def usage_count(self) -> int: ...


Match = Callable[[Prunable, bool], bool]  # (record, in use) → selected


def matcher(filters: Mapping[str, Sequence[str]] | None, record_type: str) -> Match:
    """The filters as one predicate; unknown keys and bad values refused in dockerd's words."""
    checks: list[Match] = []
    for key, values in (filters or {}).items():
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key in _SINGLE and len(values) > 1:
            raise InvalidArgument("filters expect only one value")
        checks.append(_check(key, list(values), record_type))

    def match(record: Prunable, in_use: bool) -> bool:
        return all(check(record, in_use) for check in checks)

    return match


def _check(key: str, values: list[str], record_type: str) -> Match:
    value = values[0] if values else ""
    if key == "id":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise InvalidArgument(f"invalid filter 'id={value}': {exc}") from None
        return lambda record, _: pattern.search(record.id) is not None
    if key == "type":
        return lambda _, __: value == record_type
    if key == "description":
        return lambda record, _: record.description == value
    if key == "parent":
        return lambda _, __: False
    if key == "label":
        return lambda _, __: False
    if key == "label!":
        return lambda _, __: True
    wanted = _boolean(key, value)
    if key == "inuse":
        return lambda _, in_use: in_use == wanted
    return lambda _, __: (key == "private") == wanted  # cache mounts are never shared with an image


def _boolean(key: str, value: str) -> bool:
    if value.lower() in ("", "true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid filter '{key}={value}'")


@dataclass(frozen=True, slots=True)
class SpaceLimits:
    """BuildKit's size bounds of a prune or GC policy, in bytes (0: not set)."""

    reserved: int = 0  # never prune the cache below this (``keep-storage``/``reserved-space``)
    max_used: int = 0  # prune down to this
    min_free: int = 0  # prune until the filesystem has this much free (never below ``reserved``)

    def keep_bytes(self, total: int, free: int) -> int | None:
        """How much of ``total`` to keep with ``free`` bytes free on the disk (BuildKit's
        ``calculateKeepBytes``); ``None`` when no bound is set: every selected cache goes."""
        if not (self.reserved or self.max_used or self.min_free):
            return None
        keep = self.max_used
        excess = self.min_free - free
        if excess > 0:
            keep = total - excess if keep == 0 else min(keep, total - excess)
        elif self.min_free and keep == 0:
            keep = total  # enough free space already: min-free alone deletes nothing
        return max(keep, self.reserved)


R = TypeVar("R", bound=Prunable)


def lru_order(records: list[R]) -> list[R]:
    """Least recently used first (never used before all), then the less used. BuildKit also
    weighs the usage count against the age; plain LRU is easier to predict and to explain."""
    return sorted(records, key=lambda r: (r.last_used or 0.0, r.usage_count, r.id))
