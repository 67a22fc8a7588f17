"""Content digests (``sha256:<64 hex>``), the identity of every blob, layer and image.

``parse``/``is_digest``/``of_bytes`` are sha256 only: image ids, diff ids and the engine's content store
are sha256 by definition. The registry stores whatever the OCI Distribution spec lets a client name,
so it uses ``is_supported``/``of_bytes_as``/``hasher``, which also take sha512 (the spec's two
registered algorithms); any other algorithm is refused.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, NewType

from berth.errors import InvalidArgument

if TYPE_CHECKING:
    from hashlib import _Hash

Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
#: The algorithms the registry accepts, with the length of their lowercase hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_SUPPORTED_RE = re.compile(r"^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
# The OCI image spec's digest grammar: what a client means as a digest (a tag never holds ':').
_ANY_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


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


def is_supported(value: str) -> bool:
    """Whether ``value`` is a sha256 or sha512 digest in canonical (lowercase hex) form."""
    return bool(_SUPPORTED_RE.match(value))


def looks_like_digest(value: str) -> bool:
    """Whether ``value`` is written as a digest (``algorithm:encoded``), supported or not."""
    return bool(_ANY_DIGEST_RE.match(value))


def algorithm_of(digest: str) -> str:
    """The algorithm part of a digest (``sha512`` of ``sha512:ab…``)."""
    return digest.split(":", 1)[0]


def hasher(algorithm: str) -> _Hash:
    """A fresh hash object of a supported ``algorithm``; InvalidArgument for any other."""
    if algorithm not in ALGORITHMS:
        raise InvalidArgument(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def of_bytes_as(data: bytes, algorithm: str) -> Digest:
    """The ``algorithm`` digest of ``data`` (``of_bytes`` is this with sha256)."""
    h = hasher(algorithm)
    h.update(data)
    return Digest(f"{algorithm}:{h.hexdigest()}")
