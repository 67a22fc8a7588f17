"""Docker's ``reference`` filter on tags and on digests (``docker images warm`` shows only warm's rows)."""

from __future__ import annotations

from berth.engine.images.filters import reference_match

DIGEST = "busybox@sha256:" + "a" * 64


def test_a_digest_matches_by_its_name_and_not_by_another_one() -> None:
    assert reference_match("busybox", DIGEST)
    assert reference_match("busy*", DIGEST)
    assert not reference_match("warm", DIGEST)
    assert not reference_match("busybox:latest", DIGEST)  # a tagged pattern names a tag


def test_tags_match_with_and_without_their_tag() -> None:
    assert reference_match("warm", "warm:latest") and reference_match("warm:latest", "warm:latest")
    assert reference_match("localhost:5000/app", "localhost:5000/app:1")
    assert not reference_match("warm:2", "warm:latest")
