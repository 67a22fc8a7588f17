"""One suite for every ContentStore implementation (containerd's content testsuite)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.oci.digest import of_bytes
from berth.store.content import BlobUnknown, ContentStore, DigestMismatch, LocalContentStore

StoreFactory = Callable[[Path], ContentStore]


@pytest.fixture(params=["local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    factories: dict[str, StoreFactory] = {"local": lambda root: LocalContentStore(root / "content")}
    return factories[request.param](tmp_path)


def test_write_commit_read(store: ContentStore) -> None:
    with store.writer() as writer:
        writer.write(b"hello ")
        writer.write(b"world")
        assert writer.offset == 11
        digest = writer.commit()
    assert digest == of_bytes(b"hello world")
    assert store.read_bytes(digest) == b"hello world"
    assert store.info(digest).size == 11
    assert store.exists(digest)
    assert digest in {info.digest for info in store.walk()}


def test_commit_with_wrong_expected_digest_leaves_nothing(store: ContentStore, tmp_path: Path) -> None:
    with store.writer() as writer:
        writer.write(b"data")
        with pytest.raises(DigestMismatch):
            writer.commit(of_bytes(b"other"))
    assert not store.exists(of_bytes(b"data"))
    assert list(store.walk()) == []
    assert os.listdir(tmp_path / "content" / "ingest") == []


def test_commit_is_idempotent(store: ContentStore) -> None:
    first = store.write_bytes(b"same")
    second = store.write_bytes(b"same", of_bytes(b"same"))
    assert first == second
    assert len(list(store.walk())) == 1


def test_abort_on_exception(store: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), store.writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("client went away")
    assert os.listdir(tmp_path / "content" / "ingest") == []
    assert list(store.walk()) == []


def test_missing_blob_is_not_found(store: ContentStore) -> None:
    digest = of_bytes(b"absent")
    with pytest.raises(BlobUnknown):
        store.read_bytes(digest)
    with pytest.raises(BlobUnknown):
        store.info(digest)
    assert not store.exists(digest)
    store.delete(digest)  # idempotent


def test_corruption_is_detected_when_read(store: ContentStore, tmp_path: Path) -> None:
    digest = store.write_bytes(b"precious bytes")
    path = tmp_path / "content" / "blobs" / "sha256" / digest.split(":")[1]
    os.chmod(path, 0o644)
    path.write_bytes(b"precious bytez")
    with pytest.raises(DigestMismatch):
        store.read_bytes(digest)
    with store.open(digest) as reader, pytest.raises(DigestMismatch):
        while reader.read(4):
            pass


def test_large_blob_streams(store: ContentStore) -> None:
    data = os.urandom(3 << 20)
    with store.writer() as writer:
        for i in range(0, len(data), 65536):
            writer.write(data[i : i + 65536])
        digest = writer.commit(of_bytes(data))
    with store.open(digest) as reader:
        assert reader.read() == data


def test_delete(store: ContentStore) -> None:
    digest = store.write_bytes(b"gone soon")
    store.delete(digest)
    assert not store.exists(digest)
