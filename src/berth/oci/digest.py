"""Content digests (``sha256:<64 hex>``), the identity of every blob, layer and image."""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from berth.errors import InvalidArgument

Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def parse(value: str) -> Digest:
    """Validate a ``sha256:<hex>`` string; anything else is InvalidArgument."""
    if not _DIGEST_RE.match(value):
        raise InvalidArgument(f"invalid digest {value!r}: expected sha256:<64 hex digits>")
    return Digest(value)


def is_digest(value: str) -> bool:
    return bool(_DIGEST_RE.match(value))


def of_bytes(data: bytes) -> Digest:
    """The sha256 digest of ``data``."""
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def hex_of(digest: str) -> str:
    """The hex part of a digest (what short ids and paths use)."""
    return digest.split(":", 1)[1] if ":" in digest else digest
