"""The StorageDriver Protocol: a filesystem-like byte store that knows nothing about registries.

Terms: a *path* is an absolute, ``/``-separated key (``/blobs/sha256/ab/ab…/data``); directories exist
implicitly while they hold files. Everything about manifests, tags and links lives above this layer
(``berth.registry.blobs`` and ``berth.registry.metadata``).

Lifecycle of a large object (an upload)::

    w = driver.writer("/uploads/u1/data", append=False)   # create or truncate
    w.write(chunk); w.write(chunk)                         # bytes land in the object as they come
    w.close()                                              # keep what was written (resumable)
    w = driver.writer("/uploads/u1/data", append=True)     # a later PATCH continues at w.size
    w.commit()                                             # durable; then driver.move(...) publishes it

``move`` is atomic per path (a reader sees the old object or the new one, never a torn one), so
publishing a verified blob is a single ``move``. ``local_path`` lets the HTTP layer use sendfile when
the object is a real file; object-store drivers return None and are streamed through ``reader``.
Every write (``writer``, ``write``, ``commit``, ``put_content``, ``move``) raises ``StorageFull`` when
the storage has no room left.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from berth.errors import Internal, InvalidArgument, NotFound


class PathNotFound(NotFound):
    """The driver has no object or directory at ``path``. The caller named a missing path."""

    def __init__(self, path: str, driver: str) -> None:
        super().__init__(f"{driver}: path not found: {path}")
        self.path = path
        self.driver = driver


class InvalidPath(InvalidArgument):
    """``path`` is not absolute, or contains ``..`` or empty components. A bug in the caller."""

    def __init__(self, path: str, driver: str) -> None:
        super().__init__(f"{driver}: invalid path: {path!r}")
        self.path = path
        self.driver = driver


class StorageFull(Internal):
    """The storage refused a write at ``path``: its filesystem is full or over quota. Nobody's request
    is wrong: the operator must free space or grow it, and then the same request succeeds. The API
    answers 507 Insufficient Storage, the status the Docker clients print."""

    http_status = 507

    def __init__(self, path: str, driver: str) -> None:
        super().__init__(f"{driver}: writing {path}: no space left on device")
        self.path = path
        self.driver = driver


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What ``stat`` and ``walk`` report about one path."""

    path: str
    size: int
    mtime: float
    is_dir: bool


class FileWriter(Protocol):
    """An open, append-only object. ``close`` keeps the bytes (resumable); ``cancel`` removes them."""

    @property
    def size(self) -> int:
        """Bytes in the object so far, including those written before this writer was opened."""
        ...

    def write(self, data: bytes) -> int:
        """Append all of ``data``; ``StorageFull`` when the storage cannot take it (some of it may
        be in the object then: ``cancel`` removes it)."""
        ...

    def commit(self) -> None:
        """Make the written bytes durable and close. Always closes, even on error."""
        ...

    def cancel(self) -> None:
        """Close and delete the object. Idempotent."""
        ...

    def close(self) -> None:
        """Close, keeping what was written. Idempotent."""
        ...


class StorageDriver(Protocol):
    """A byte store addressed by absolute paths (distribution's ``storagedriver.StorageDriver``)."""

    name: str

    def get_content(self, path: str) -> bytes:
        """The whole object; PathNotFound if absent."""
        ...

    def put_content(self, path: str, data: bytes) -> None:
        """Replace the object atomically (readers never see a partial write)."""
        ...

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """A binary stream of the object's bytes from ``offset``, at most ``length`` of them (None: to
        the end; nothing past it is fetched); empty at or past the end; PathNotFound if absent. The
        caller closes it."""
        ...

    def writer(self, path: str, *, append: bool) -> FileWriter:
        """Open for writing; ``append=False`` creates or truncates, ``append=True`` continues (creates
        if missing)."""
        ...

    def stat(self, path: str) -> FileInfo:
        """Size and kind of an object or directory; PathNotFound if absent."""
        ...

    def list(self, path: str) -> list[str]:
        """Full paths of the direct children of directory ``path``, sorted; PathNotFound if absent."""
        ...

    def move(self, source: str, dest: str) -> None:
        """Atomically replace ``dest`` with ``source``; PathNotFound if ``source`` is absent."""
        ...

    def delete(self, path: str) -> None:
        """Remove an object or a whole directory tree; PathNotFound if absent."""
        ...

    def walk(self, path: str) -> Iterator[FileInfo]:
        """Every object (not directory) under ``path``, sorted by path; nothing if ``path`` is absent."""
        ...

    def local_path(self, path: str) -> Path | None:
        """The real file behind an object, for sendfile; None if the driver has none."""
        ...


class _Limited(io.RawIOBase):
    """At most ``length`` bytes of ``stream`` (which it closes)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def limited(stream: BinaryIO, length: int | None) -> BinaryIO:
    """``stream`` cut after ``length`` bytes (as it is when ``length`` is None): ``reader``'s length."""
    if length is None:
        return stream
    return io.BufferedReader(_Limited(stream, length))


def check_path(path: str, driver: str) -> None:
    """Raise InvalidPath unless ``path`` is ``/``-rooted with no empty, ``.`` or ``..`` components."""
    if not path.startswith("/"):
        raise InvalidPath(path, driver)
    if path == "/":
        return
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            raise InvalidPath(path, driver)
