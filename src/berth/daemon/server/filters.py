"""Query values: Docker's ``filters`` (``{"key": {"value": true}}`` or ``{"key": ["value"]}``), other JSON
objects, and boolean flags."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from berth.errors import InvalidArgument


def json_object(raw: str | bytes | None, what: str) -> dict[str, Any]:
    """A JSON object from a query value or body (empty → ``{}``); 400 naming ``what`` otherwise."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {what}: expected a JSON object")
    return value


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    value = json_object(raw, "filter")
    out: dict[str, list[str]] = {}
    for key, wanted in value.items():
        if isinstance(wanted, dict):
            out[str(key)] = [str(k) for k, v in wanted.items() if v]
        elif isinstance(wanted, list):
            out[str(key)] = [str(v) for v in wanted]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return out


def matches(pattern: str, value: str) -> bool:
    """Docker's ``filters.Match``: ``pattern`` is a regular expression found anywhere in ``value``
    (``name=^web`` is a prefix, ``name=web`` a substring); an invalid one matches nothing."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def query_bool(request: web.Request, key: str) -> bool:
    """A boolean query flag as dockerd reads one: absent, ``0``, ``false``, ``no`` or ``off`` is false."""
    return request.query.get(key, "").strip().lower() not in ("", "0", "false", "no", "off")
