"""Digests: sha256 only for the engine's helpers, sha256 and sha512 for the registry's."""

from __future__ import annotations

import hashlib

import pytest

from berth.errors import InvalidArgument
from berth.oci import digest

SHA256 = "sha256:" + hashlib.sha256(b"x").hexdigest()
SHA512 = "sha512:" + hashlib.sha512(b"x").hexdigest()


def test_engine_helpers_stay_sha256_only() -> None:
    assert digest.is_digest(SHA256) and not digest.is_digest(SHA512)
    with pytest.raises(InvalidArgument):
        digest.parse(SHA512)
    assert digest.of_bytes(b"x") == SHA256


@pytest.mark.parametrize(
    ("value", "supported", "looks"),
    [
        (SHA256, True, True),
        (SHA512, True, True),
        ("sha384:" + hashlib.sha384(b"x").hexdigest(), False, True),
        ("sha512:" + hashlib.sha256(b"x").hexdigest(), False, True),  # wrong length for its algorithm
        ("sha256:" + hashlib.sha512(b"x").hexdigest(), False, True),
        (SHA512.upper().replace("SHA512", "sha512"), False, True),  # hex must be lowercase
        ("latest", False, False),
        ("sha512", False, False),
    ],
)
def test_supported_and_digest_shaped(value: str, supported: bool, looks: bool) -> None:
    assert digest.is_supported(value) is supported
    assert digest.looks_like_digest(value) is looks


def test_hashing_by_algorithm() -> None:
    assert digest.of_bytes_as(b"x", "sha512") == SHA512
    assert digest.of_bytes_as(b"x", "sha256") == SHA256
    assert digest.algorithm_of(SHA512) == "sha512"
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm 'md5'"):
        digest.hasher("md5")
