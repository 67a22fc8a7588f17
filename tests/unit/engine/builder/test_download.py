"""``ADD --checksum``: where BuildKit allows it, the digest syntax go-digest accepts, and the check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from berth.engine.builder.download import check_checksum_use, parse_checksum, verify_checksum
from berth.errors import InvalidArgument

_DATA = b"linux-0.01\n"


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_a_matching_checksum_passes(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(_DATA)
    verify_checksum(path, f"{algorithm}:{hashlib.new(algorithm, _DATA).hexdigest()}", "https://h/f")


def test_a_mismatch_fails_in_buildkit_words(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(_DATA)
    want = "sha256:" + "0" * 64
    got = "sha256:" + hashlib.sha256(_DATA).hexdigest()
    with pytest.raises(InvalidArgument) as caught:
        verify_checksum(path, want, "https://u:secret@h/linux.tar.gz")
    assert (
        str(caught.value) == f"digest mismatch for https://u:xxxxx@h/linux.tar.gz: {got} (expected: {want})"
    )
    with pytest.raises(InvalidArgument) as caught:
        verify_checksum(path, want)
    assert str(caught.value) == f"digest mismatch: {got} (expected: {want})"


@pytest.mark.parametrize(
    ("checksum", "message"),
    [
        (
            "24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d",
            "invalid checksum digest format",
        ),
        ("sha256:", "invalid checksum digest format"),
        (":abc", "invalid checksum digest format"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm"),
        ("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "unsupported digest algorithm"),
        ("SHA256:" + "0" * 64, "invalid checksum digest format"),
        ("sha256:abc", "invalid checksum digest length"),
        ("sha256:" + "A" * 64, "invalid checksum digest format"),
        ("sha512:" + "0" * 64, "invalid checksum digest length"),
    ],
)
def test_malformed_checksums(checksum: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_checksum(checksum)
    assert str(caught.value) == message


def test_parse_checksum_splits_a_good_one() -> None:
    assert parse_checksum("sha384:" + "a" * 96) == ("sha384", "a" * 96)


@pytest.mark.parametrize(
    ("command", "sources", "message"),
    [
        ("COPY", ["https://h/f"], "checksum can't be specified for COPY"),
        ("ADD", ["https://h/a", "https://h/b"], "checksum can't be specified for multiple sources"),
        ("ADD", ["local.tar.gz"], "checksum requires HTTP(S) or Git sources"),
        ("ADD", ["github.com/moby/buildkit"], "checksum requires HTTP(S) or Git sources"),
        ("ADD", ["https://h/f.tar.gz"], None),
        ("ADD", ["https://github.com/moby/buildkit.git#v0.26.2"], None),
        ("ADD", ["git@github.com:moby/buildkit.git"], None),
    ],
)
def test_where_checksum_is_allowed(command: str, sources: list[str], message: str | None) -> None:
    if message is None:
        check_checksum_use(command, sources)
        return
    with pytest.raises(InvalidArgument) as caught:
        check_checksum_use(command, sources)
    assert str(caught.value) == message
