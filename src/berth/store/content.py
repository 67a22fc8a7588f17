"""Content-addressed blob storage (containerd's content store, reduced to what Berth needs).

Overall content lifecycle (as containerd's ``content.Store``):

1. ``writer()`` opens an ingest: bytes go to a temp file under ``ingest/`` while being hashed.
2. ``Writer.commit(expected)`` fsyncs, compares the digest and renames the file into ``blobs/``. A
   mismatch raises ``DigestMismatch`` and removes the temp file. ``commit`` always closes the writer,
   even on error; committing content that already exists just drops the temp file (idempotent).
3. ``open()``/``read_bytes()`` provide it back, verifying the digest again as it is read: a reader that
   reaches EOF on bytes that do not hash to the digest raises ``DigestMismatch`` (disk corruption).

Layout (``LocalContentStore``)::

    <root>/
      blobs/sha256/<hex>      committed blobs, read-only (0444), named by their digest
      ingest/<random>         in-progress writes; removed by ``cleanup()`` at daemon start

Example::

    with store.writer() as w:
        w.write(b"hello")
        digest = w.commit()           # sha256:2cf24d…
    assert store.read_bytes(digest) == b"hello"
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

from berth.errors import InvalidArgument, NotFound
from berth.oci.digest import Digest, hex_of, is_digest
from berth.util.atomic import fsync_dir

_CHUNK = 1 << 20


class DigestMismatch(InvalidArgument):
    """Content did not hash to the digest it was stored or announced under (corrupt or forged data)."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class BlobUnknown(NotFound):
    """The content store has no blob with this digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"content {digest}: not found")
        self.digest = digest


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int


class Writer(Protocol):
    """An open ingest. Use as a context manager: leaving without ``commit`` aborts it."""

    def write(self, data: bytes) -> int: ...

    @property
    def offset(self) -> int: ...

    def commit(self, expected: str | None = None) -> Digest:
        """Verify against ``expected`` (if given), then move into the store. Always closes the writer."""
        ...

    def abort(self) -> None:
        """Drop the temp file; idempotent."""
        ...

    def __enter__(self) -> Writer: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ContentStore(Protocol):
    """Blobs addressed by sha256 digest; verified on write and on read."""

    def writer(self) -> Writer:
        """Start an ingest."""
        ...

    def info(self, digest: str) -> BlobInfo:
        """Size of a blob; ``BlobUnknown`` if absent."""
        ...

    def exists(self, digest: str) -> bool: ...

    def open(self, digest: str) -> BinaryIO:
        """A reader that raises ``DigestMismatch`` at EOF if the bytes are not the digest's."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """The whole blob, verified."""
        ...

    def write_bytes(self, data: bytes, expected: str | None = None) -> Digest:
        """Ingest and commit ``data`` in one call; idempotent."""
        ...

    def delete(self, digest: str) -> None:
        """Remove a blob; idempotent (absent is fine)."""
        ...

    def walk(self) -> Iterator[BlobInfo]:
        """Every committed blob."""
        ...


class _VerifyingReader:
    """A read-only binary file that hashes what it returns and checks the digest at EOF."""

    def __init__(self, path: Path, digest: Digest) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        self._hash = hashlib.sha256()
        self._digest = digest
        self._checked = False

    def read(self, size: int | None = -1) -> bytes:
        data = self._file.read(size)
        if data:
            self._hash.update(data)
        if size != 0 and (not data or size is None or size < 0):
            self._verify()
        return data

    def _verify(self) -> None:
        if self._checked:
            return
        self._checked = True
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._digest:
            raise DigestMismatch(self._digest, actual)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> _VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalWriter:
    """An ingest into ``LocalContentStore``: a temp file hashed as it is written."""

    def __init__(self, store: LocalContentStore) -> None:
        self._store = store
        self._path = store.root / "ingest" / secrets.token_hex(16)
        self._fd: int | None = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self._hash = hashlib.sha256()
        self._offset = 0

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes) -> int:
        if self._fd is None:
            raise InvalidArgument("write to a closed content writer")
        view = memoryview(data)
        self._hash.update(view)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._offset += len(data)
        return len(data)

    def commit(self, expected: str | None = None) -> Digest:
        try:
            if self._fd is None:
                raise InvalidArgument("commit of a closed content writer")
            actual = Digest("sha256:" + self._hash.hexdigest())
            if expected is not None and expected != actual:
                raise DigestMismatch(expected, actual)
            os.fsync(self._fd)
            os.fchmod(self._fd, 0o444)
            os.close(self._fd)
            self._fd = None
            target = self._store.blob_path(actual)
            if target.exists():
                self._path.unlink(missing_ok=True)
            else:
                os.replace(self._path, target)
                fsync_dir(target.parent)
            return actual
        finally:
            self.abort()

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()


class LocalContentStore:
    """``ContentStore`` on a local directory (layout in the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "ingest").mkdir(parents=True, exist_ok=True)

    def cleanup(self) -> int:
        """Remove leftover ingests (a daemon killed mid-write); returns how many. Call only at start."""
        count = 0
        for entry in (self.root / "ingest").iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            count += 1
        return count

    def blob_path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise InvalidArgument(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
        return self.root / "blobs" / "sha256" / hex_of(digest)

    def writer(self) -> LocalWriter:
        return LocalWriter(self)

    def info(self, digest: str) -> BlobInfo:
        try:
            return BlobInfo(Digest(digest), self.blob_path(digest).stat().st_size)
        except FileNotFoundError as exc:
            raise BlobUnknown(digest) from exc

    def exists(self, digest: str) -> bool:
        return is_digest(digest) and self.blob_path(digest).exists()

    def open(self, digest: str) -> BinaryIO:
        path = self.blob_path(digest)
        try:
            reader = _VerifyingReader(path, Digest(digest))
        except FileNotFoundError as exc:
            raise BlobUnknown(digest) from exc
        return reader  # type: ignore[return-value]  # duck-typed read-only BinaryIO

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as reader:
            return reader.read()

    def write_bytes(self, data: bytes, expected: str | None = None) -> Digest:
        with self.writer() as w:
            w.write(data)
            return w.commit(expected)

    def copy_from(self, source: BinaryIO, expected: str | None = None) -> Digest:
        """Ingest everything ``source`` yields; returns the digest."""
        with self.writer() as w:
            while chunk := source.read(_CHUNK):
                w.write(chunk)
            return w.commit(expected)

    def delete(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    def walk(self) -> Iterator[BlobInfo]:
        for entry in os.scandir(self.root / "blobs" / "sha256"):
            digest = "sha256:" + entry.name
            if is_digest(digest):
                yield BlobInfo(Digest(digest), entry.stat().st_size)
