"""Digests as the registry takes them: sha256 or sha512 (the OCI spec's registered algorithms).

Anything written as a digest with another algorithm, or in a non-canonical encoding, is refused with
DIGEST_INVALID (400), as distribution does, rather than taken for a tag or a missing blob.
"""

from __future__ import annotations

from berth.oci import digest as oci_digest
from berth.registry.api.errors import ErrorCode, RegistryError

algorithm_of = oci_digest.algorithm_of
hasher = oci_digest.hasher
of_bytes_as = oci_digest.of_bytes_as


def require(value: str) -> str:
    """``value`` if the registry takes it as a digest; DIGEST_INVALID otherwise."""
    if oci_digest.is_supported(value):
        return value
    algorithm = oci_digest.algorithm_of(value)
    if oci_digest.looks_like_digest(value) and algorithm not in oci_digest.ALGORITHMS:
        raise RegistryError(ErrorCode.DIGEST_INVALID, f"unsupported digest algorithm {algorithm!r}")
    raise RegistryError(ErrorCode.DIGEST_INVALID, f"invalid digest {value!r}")


def is_reference(reference: str) -> bool:
    """Whether a manifest reference is a digest (True) or a tag (False); DIGEST_INVALID when it is
    written as a digest the registry does not take (a tag never holds ':')."""
    if ":" not in reference:
        return False
    require(reference)
    return True


def is_valid(value: str) -> bool:
    """Whether ``value`` is a digest the registry takes (no error: for data already stored)."""
    return oci_digest.is_supported(value)
