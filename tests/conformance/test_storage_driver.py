"""One suite for every StorageDriver implementation (distribution's testsuites.Driver)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.registry.storage.driver import InvalidPath, PathNotFound, StorageDriver
from berth.registry.storage.filesystem import FilesystemDriver
from berth.registry.storage.inmemory import InMemoryDriver
from berth.registry.storage.s3 import S3Driver
from berth.testing.ceph import CephCluster, s3_settings

DriverFactory = Callable[[Path], StorageDriver]
_SMALL_PART = 5 << 20  # S3's smallest part: multipart paths run with a few MiB of test data


@pytest.fixture(params=["filesystem", "inmemory", "s3"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    if request.param == "s3":  # the real radosgw of the session's one-node Ceph
        ceph: CephCluster = request.getfixturevalue("ceph")
        bucket: str = request.getfixturevalue("s3_bucket")
        s3 = S3Driver(s3_settings(ceph, bucket, part_size=_SMALL_PART))
        yield s3
        s3.close()
        return
    factories: dict[str, DriverFactory] = {
        "filesystem": lambda root: FilesystemDriver(root / "storage"),
        "inmemory": lambda root: InMemoryDriver(),
    }
    yield factories[request.param](tmp_path)


def test_put_get_and_replace(driver: StorageDriver) -> None:
    driver.put_content("/a/b/c", b"one")
    assert driver.get_content("/a/b/c") == b"one"
    driver.put_content("/a/b/c", b"two!")
    assert driver.get_content("/a/b/c") == b"two!"
    assert driver.stat("/a/b/c").size == 4
    assert not driver.stat("/a/b/c").is_dir
    assert driver.stat("/a/b").is_dir


def test_missing_paths(driver: StorageDriver) -> None:
    for call in (
        lambda: driver.get_content("/nope"),
        lambda: driver.stat("/nope"),
        lambda: driver.list("/nope"),
        lambda: driver.delete("/nope"),
        lambda: driver.move("/nope", "/other"),
        lambda: driver.reader("/nope"),
    ):
        with pytest.raises(PathNotFound) as info:
            call()
        assert info.value.driver == driver.name


@pytest.mark.parametrize("bad", ["relative", "/a/../b", "/a//b", "/a/./b"])
def test_invalid_paths(driver: StorageDriver, bad: str) -> None:
    with pytest.raises(InvalidPath):
        driver.put_content(bad, b"x")


def test_writer_append_resume_commit_and_cancel(driver: StorageDriver) -> None:
    w = driver.writer("/up/1/data", append=False)
    w.write(b"hello ")
    w.close()
    w = driver.writer("/up/1/data", append=True)
    assert w.size == 6
    w.write(b"world")
    assert w.size == 11
    w.commit()
    assert driver.get_content("/up/1/data") == b"hello world"
    w = driver.writer("/up/2/data", append=False)
    w.write(b"gone")
    w.cancel()
    with pytest.raises(PathNotFound):
        driver.get_content("/up/2/data")
    w = driver.writer("/up/1/data", append=False)
    assert w.size == 0
    w.close()


def test_reader_offset(driver: StorageDriver) -> None:
    driver.put_content("/r", b"0123456789")
    with driver.reader("/r", 4) as f:
        assert f.read() == b"456789"


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 3, b"012"),
        (4, 2, b"45"),
        (9, 1, b"9"),
        (8, 100, b"89"),
        (3, 0, b""),
        (10, 5, b""),
        (0, None, b"0123456789"),
    ],
)
def test_reader_offset_and_length(
    driver: StorageDriver, offset: int, length: int | None, expected: bytes
) -> None:
    driver.put_content("/r", b"0123456789")
    with driver.reader("/r", offset, length) as f:
        assert f.read() == expected
        assert f.read() == b""
    with pytest.raises(PathNotFound):
        driver.reader("/nope", offset, length)


def test_s3_reader_fetches_only_the_range(driver: StorageDriver) -> None:
    if not isinstance(driver, S3Driver):
        pytest.skip("the Range GET is the S3 driver's")
    driver.put_content("/big", bytes(range(256)) * 4096)  # 1 MiB
    with driver.reader("/big", 1000, 10) as f:
        body = f.raw._body  # type: ignore[attr-defined]  # botocore's StreamingBody of the GetObject
        assert int(body._content_length) == 10  # what radosgw sent: the range, not the rest
        assert f.read() == (bytes(range(256)) * 4096)[1000:1010]


def test_list_move_delete_walk(driver: StorageDriver) -> None:
    driver.put_content("/d/x/1", b"1")
    driver.put_content("/d/x/2", b"22")
    driver.put_content("/d/y", b"333")
    assert driver.list("/d") == ["/d/x", "/d/y"]
    assert driver.list("/d/x") == ["/d/x/1", "/d/x/2"]
    assert [(i.path, i.size) for i in driver.walk("/d")] == [("/d/x/1", 1), ("/d/x/2", 2), ("/d/y", 3)]
    assert list(driver.walk("/absent")) == []
    driver.move("/d/y", "/e/z")
    assert driver.get_content("/e/z") == b"333"
    with pytest.raises(PathNotFound):
        driver.stat("/d/y")
    driver.put_content("/e/w", b"w")
    driver.move("/e/w", "/e/z")  # replaces
    assert driver.get_content("/e/z") == b"w"
    driver.delete("/d")
    with pytest.raises(PathNotFound):
        driver.list("/d")
    assert driver.list("/") == ["/e"]


def test_local_path_matches_content(driver: StorageDriver) -> None:
    driver.put_content("/blob", b"bytes")
    local = driver.local_path("/blob")
    if local is not None:
        assert local.read_bytes() == b"bytes"


def _pattern(size: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(256)) * (size // 256) + bytes(size % 256)


def test_large_writer_in_parts_resumed_by_a_new_writer(driver: StorageDriver) -> None:
    # Over S3's 5 MiB part minimum: the S3 driver sends parts and continues by UploadPartCopy.
    first, second, tail = _pattern(7 << 20, 1), _pattern(6 << 20, 2), b"tail"
    w = driver.writer("/up/big/data", append=False)
    for start in range(0, len(first), 1 << 20):
        w.write(first[start : start + (1 << 20)])
    w.close()
    assert driver.stat("/up/big/data").size == len(first)
    w = driver.writer("/up/big/data", append=True)
    assert w.size == len(first)
    w.write(second)
    w.close()
    w = driver.writer("/up/big/data", append=True)
    w.write(tail)
    w.commit()
    whole = first + second + tail
    assert driver.get_content("/up/big/data") == whole
    with driver.reader("/up/big/data", len(first) - 3) as f:
        assert f.read(10) == whole[len(first) - 3 : len(first) + 7]
    with driver.reader("/up/big/data", len(whole)) as f:
        assert f.read() == b""
    driver.move("/up/big/data", "/blobs/big")
    assert driver.stat("/blobs/big").size == len(whole)


def test_consecutive_large_writers_keep_their_own_bytes(driver: StorageDriver) -> None:
    # The S3 driver reuses part buffers between writers: a later, shorter upload must not carry any
    # byte of an earlier one (full parts, a short last part, pieces across part boundaries).
    first, second = _pattern(16 << 20, 3), _pattern((11 << 20) + 12345, 4)
    for path, data, piece in (("/up/a/data", first, 3 << 20), ("/up/b/data", second, 777_777)):
        w = driver.writer(path, append=False)
        for start in range(0, len(data), piece):
            w.write(data[start : start + piece])
        w.close()
    assert driver.get_content("/up/a/data") == first
    assert driver.get_content("/up/b/data") == second


def test_small_pieces_then_a_large_one(driver: StorageDriver) -> None:
    # Small PATCHes below any part size, each in a new writer, then one over it: nothing is lost.
    expected = b""
    for i in range(3):
        w = driver.writer("/up/s/data", append=True)
        piece = _pattern(1000 + i, i)
        w.write(piece)
        w.close()
        expected += piece
    w = driver.writer("/up/s/data", append=True)
    big = _pattern(6 << 20, 9)
    w.write(big)
    w.close()
    assert driver.get_content("/up/s/data") == expected + big


def test_listing_and_walk_across_pages(driver: StorageDriver) -> None:
    if hasattr(driver, "page_size"):
        driver.page_size = 2  # see ListObjectsV2 continuation on a few keys
    names = [f"/many/{i:02d}" for i in range(5)] + ["/many/sub/x", "/many/sub/y", "/many/sub2/z"]
    for name in names:
        driver.put_content(name, b"n")
    assert driver.list("/many") == sorted(
        [n for n in names if n.count("/") == 2] + ["/many/sub", "/many/sub2"]
    )
    assert [i.path for i in driver.walk("/many")] == sorted(names)
    driver.delete("/many")
    assert list(driver.walk("/many")) == []
