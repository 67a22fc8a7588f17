"""wirejson: the CLI's json without importing ``json`` must say exactly what ``json`` says."""

from __future__ import annotations

import json

import pytest

from berth.client.wirejson import dumps, loads

VALUES = [
    {"Cmd": ["sh", "-c", 'echo "hi"'], "Env": None, "Tty": False, "Size": 1.5},
    {"nested": {"list": [1, -2, 3.25e10, None, True]}, "unicode": "é ✓ \u2028", "ctl": "\x00\n\t"},
    [],
    {},
    "text",
    42,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_is_json_dumps(value: object) -> None:
    assert dumps(value) == json.dumps(value).encode()
    assert loads(dumps(value)) == value


def test_dumps_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": object()})


def test_loads_errors() -> None:
    with pytest.raises(ValueError):
        loads(b'{"a": ')
    with pytest.raises(ValueError):
        loads(b"[1] [2]")
