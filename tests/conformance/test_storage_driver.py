"""One suite for every StorageDriver implementation (distribution's testsuites.Driver)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from berth.registry.storage.driver import InvalidPath, PathNotFound, StorageDriver
from berth.registry.storage.filesystem import FilesystemDriver
from berth.registry.storage.inmemory import InMemoryDriver

DriverFactory = Callable[[Path], StorageDriver]


@pytest.fixture(params=["filesystem", "inmemory"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    factories: dict[str, DriverFactory] = {
        "filesystem": lambda root: FilesystemDriver(root / "storage"),
        "inmemory": lambda root: InMemoryDriver(),
    }
    return factories[request.param](tmp_path)


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
