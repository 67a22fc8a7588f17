"""Docker's ``filters`` query parameter: JSON ``{"key": {"value": true}}`` or ``{"key": ["value"]}``."""

from __future__ import annotations

import json

from berth.errors import InvalidArgument


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, wanted in value.items():
        if isinstance(wanted, dict):
            out[str(key)] = [str(k) for k, v in wanted.items() if v]
        elif isinstance(wanted, list):
            out[str(key)] = [str(v) for v in wanted]
        else:
            raise InvalidArgument(f"invalid filter {key!r}")
    return out
