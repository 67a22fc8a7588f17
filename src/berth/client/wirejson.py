"""JSON without importing ``json`` (and with it ``re``, ``enum``…: ~3-6 ms of start-up).

``loads`` drives the C scanner from ``_json`` directly, which is what ``json.loads`` ends up calling;
``dumps`` drives the C encoder as ``json.dumps`` does (same output). Streaming decoders still use
``json`` (imported where they are needed).

    >>> loads(b'[{"Id": "abc", "Size": 1.5, "Ok": true, "None": null}]')
    [{'Id': 'abc', 'Size': 1.5, 'Ok': True, 'None': None}]
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Context:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scanner: Any = None
_encoder: Any = None


def _unserializable(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """``json.dumps(value).encode()``: ASCII, ``", "`` and ``": "`` separators, NaN allowed."""
    global _encoder
    if _encoder is None:
        import _json

        _encoder = _json.make_encoder(
            None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
    return "".join(_encoder(value, 0)).encode()


def loads(data: bytes | str) -> Any:
    """Decode one JSON document; ValueError (``json.JSONDecodeError`` semantics) if malformed."""
    global _scanner
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        if _scanner is None:
            import _json

            # typeshed types the argument as a JSONDecoder; any object with these attributes works
            _scanner = _json.make_scanner(_Context())  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - CPython always has _json
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scanner(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value
