"""The ``filters`` query parameter: JSON ``{"key": {"value": true, ...}}`` (Docker's filters.Args).

>>> encode({"label": ["a=b"], "status": ["running"]})
'{"label":{"a=b":true},"status":{"running":true}}'
>>> parse_cli(["status=exited", "label=a=b"])
{'status': ['exited'], 'label': ['a=b']}
"""

from __future__ import annotations

# json and typing are imported where needed: the CLI's ``images``/``ps`` start-up pays for every module.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def encode(filters: dict[str, list[str]]) -> str:
    """The wire form of ``filters`` (empty dict -> ``{}``)."""
    import json

    return json.dumps(
        {key: dict.fromkeys(values, True) for key, values in filters.items()}, separators=(",", ":")
    )


def decode(text: str) -> dict[str, list[str]]:
    """Parse the wire form, accepting the legacy ``{"key": ["v"]}`` shape too. ValueError if malformed."""
    if not text.strip():
        return {}
    import json

    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("invalid filters: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in data.items():
        if isinstance(values, dict):
            out[str(key)] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list):
            out[str(key)] = [str(v) for v in values]
        else:
            raise ValueError(f"invalid filter {key!r}")
    return out


def parse_cli(args: list[str]) -> dict[str, list[str]]:
    """``--filter key=value`` arguments -> filters; ValueError names a malformed one."""
    out: dict[str, list[str]] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ValueError(f"bad format of filter (expected name=value): {arg}")
        out.setdefault(key, []).append(value)
    return out
