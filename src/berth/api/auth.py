"""``X-Registry-Auth`` / ``X-Registry-Config`` headers and config.json ``auth`` fields.

The header is base64url (with padding, as Go's ``base64.URLEncoding``) of a JSON object
``{"username","password","serveraddress"}`` or ``{"identitytoken"}``; ``{}`` when not logged in.
"""

from __future__ import annotations

import base64
import json

TYPE_CHECKING = False  # typing is imported for the checker only: the CLI's start-up time
if TYPE_CHECKING:
    from typing import Any


def encode_header(auth: dict[str, Any] | None) -> str:
    """The X-Registry-Auth value for ``auth`` (None or empty -> ``{}`` encoded)."""
    payload = json.dumps(auth or {}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode("ascii")


def decode_header(value: str) -> dict[str, Any]:
    """Inverse of ``encode_header``; tolerates missing padding and standard base64. ValueError if bad."""
    text = value.strip()
    if not text:
        return {}
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid X-Registry-Auth header") from exc
    if not isinstance(data, dict):
        raise ValueError("invalid X-Registry-Auth header")
    return data


def encode_basic(username: str, password: str) -> str:
    """config.json ``auths[REG].auth``: standard base64 of ``user:password``."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def decode_basic(value: str) -> tuple[str, str]:
    """Inverse of ``encode_basic``; ValueError if it is not ``user:password``."""
    try:
        user, sep, password = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid auth field") from exc
    if not sep:
        raise ValueError("invalid auth field")
    return user, password
