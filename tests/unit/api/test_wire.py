"""Wire helpers shared by client and daemon: stdcopy, filters, X-Registry-Auth, FileMode, versions."""

from __future__ import annotations

import stat

import pytest

from berth.api import auth, filemode, filters, stdcopy, versions


def test_stdcopy_roundtrip_across_split_reads() -> None:
    data = stdcopy.encode_frame(stdcopy.STDOUT, b"hello\n") + stdcopy.encode_frame(stdcopy.STDERR, b"oops")
    decoder = stdcopy.FrameDecoder()
    frames = []
    for i in range(len(data)):  # one byte at a time: headers and payloads split everywhere
        frames += decoder.feed(data[i : i + 1])
    assert frames == [(1, b"hello\n"), (2, b"oops")]
    assert decoder.pending == 0


def test_stdcopy_header_layout() -> None:
    assert stdcopy.encode_frame(2, b"x" * 258)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x02"


def test_stdcopy_rejects_bad_stream_and_truncation() -> None:
    with pytest.raises(stdcopy.StdcopyError):
        stdcopy.FrameDecoder().feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")
    with pytest.raises(stdcopy.StdcopyError):
        stdcopy.decode_all(stdcopy.encode_frame(1, b"abc")[:-1])
    with pytest.raises(ValueError):
        stdcopy.encode_frame(9, b"")


def test_stdcopy_empty_frame() -> None:
    assert stdcopy.decode_all(stdcopy.encode_frame(1, b"")) == [(1, b"")]


def test_filters_encode_decode() -> None:
    wire = filters.encode({"status": ["exited", "created"], "label": ["a=b"]})
    assert wire == '{"status":{"exited":true,"created":true},"label":{"a=b":true}}'
    assert filters.decode(wire) == {"status": ["exited", "created"], "label": ["a=b"]}
    assert filters.decode('{"name":["x"]}') == {"name": ["x"]}
    assert filters.decode("") == {}
    with pytest.raises(ValueError):
        filters.decode("[1]")


def test_filters_parse_cli() -> None:
    assert filters.parse_cli(["label=a=b", "Status=running"]) == {"label": ["a=b"], "status": ["running"]}
    with pytest.raises(ValueError):
        filters.parse_cli(["novalue"])


def test_registry_auth_header_roundtrip() -> None:
    header = auth.encode_header({"username": "u", "password": "p?>", "serveraddress": "localhost:5000"})
    assert "+" not in header and "/" not in header
    assert auth.decode_header(header) == {
        "username": "u",
        "password": "p?>",
        "serveraddress": "localhost:5000",
    }
    assert auth.decode_header(auth.encode_header(None)) == {}
    assert auth.decode_header(header.rstrip("="))["username"] == "u"
    with pytest.raises(ValueError):
        auth.decode_header("!!!")


def test_basic_auth_field() -> None:
    assert auth.encode_basic("user", "pa:ss") == "dXNlcjpwYTpzcw=="
    assert auth.decode_basic("dXNlcjpwYTpzcw==") == ("user", "pa:ss")
    with pytest.raises(ValueError):
        auth.decode_basic("bm9jb2xvbg==")  # "nocolon"


@pytest.mark.parametrize(
    ("st_mode", "go_mode"),
    [
        (stat.S_IFREG | 0o644, 0o644),
        (stat.S_IFDIR | 0o755, (1 << 31) | 0o755),
        (stat.S_IFLNK | 0o777, (1 << 27) | 0o777),
        (stat.S_IFDIR | stat.S_ISVTX | 0o777, (1 << 31) | (1 << 20) | 0o777),
        (stat.S_IFREG | stat.S_ISUID | 0o755, (1 << 23) | 0o755),
        (stat.S_IFCHR | 0o666, (1 << 26) | (1 << 21) | 0o666),
        (stat.S_IFIFO | 0o600, (1 << 25) | 0o600),
    ],
)
def test_filemode_roundtrip(st_mode: int, go_mode: int) -> None:
    assert filemode.from_st_mode(st_mode) == go_mode
    assert filemode.to_st_mode(go_mode) == st_mode


def test_version_negotiation() -> None:
    assert versions.negotiate(None) == "1.24"
    assert versions.negotiate("1.40") == "1.40"
    assert versions.negotiate("1.52") == "1.50"
    assert versions.negotiate("garbage") == "1.24"
    assert versions.compare("1.9", "1.24") == -1
    assert versions.MIN_API_VERSION == "1.24" and versions.CURRENT_API_VERSION == "1.50"
