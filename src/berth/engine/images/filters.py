"""Docker's image filters (``label``/``label!``, ``reference``, ``until``), shared by ``images`` and
``image prune``."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Mapping, Sequence

from berth.errors import InvalidArgument
from berth.oci.image import parse_rfc3339


def labels_match(labels: Mapping[str, str], filters: Mapping[str, Sequence[str]]) -> bool:
    for wanted in filters.get("label", []):
        key, sep, value = wanted.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    for unwanted in filters.get("label!", []):
        key, sep, value = unwanted.partition("=")
        if key in labels and (not sep or labels[key] == value):
            return False
    return True


def reference_match(pattern: str, familiar_tag: str) -> bool:
    """Docker's ``reference`` filter: a glob on the familiar name, with or without the tag (or the
    digest: ``name@sha256:…`` matches by its name)."""
    if "@" in familiar_tag:
        named = familiar_tag.partition("@")[0]
        return fnmatch.fnmatchcase(familiar_tag if ":" in pattern.rpartition("/")[2] else named, pattern)
    name = familiar_tag.rpartition(":")[0] if ":" in familiar_tag.rpartition("/")[2] else familiar_tag
    if ":" in pattern.rpartition("/")[2]:
        return fnmatch.fnmatchcase(familiar_tag, pattern)
    return fnmatch.fnmatchcase(name, pattern)


def until_time(values: Sequence[str]) -> float | None:
    if not values:
        return None
    value = values[-1]
    try:
        return float(value)
    except ValueError:
        pass
    seconds = parse_rfc3339(value)
    if seconds:
        return seconds
    match = re.fullmatch(r"(\d+)([smh])", value)
    if match:
        return time.time() - int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    raise InvalidArgument(f"invalid filter 'until={value}'")
