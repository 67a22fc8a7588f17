"""InMemoryDriver: the StorageDriver in a dict, for unit tests and the conformance suite."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.errors import Internal
from berth.registry.storage.driver import FileInfo, PathNotFound, check_path

_NAME = "inmemory"


class _MemoryWriter:
    def __init__(self, driver: InMemoryDriver, path: str, *, append: bool) -> None:
        self._driver = driver
        self._path = path
        self._closed = False
        if not append:
            driver._set(path, b"")
        else:
            driver._objects.setdefault(path, (bytearray(), time.time()))

    @property
    def size(self) -> int:
        return len(self._driver._objects.get(self._path, (bytearray(), 0.0))[0])

    def write(self, data: bytes) -> int:
        if self._closed:
            raise Internal(f"{_NAME}: write to a closed writer for {self._path}")
        with self._driver._lock:
            buf, _ = self._driver._objects.setdefault(self._path, (bytearray(), time.time()))
            buf += data
            self._driver._objects[self._path] = (buf, time.time())
        return len(data)

    def commit(self) -> None:
        self.close()

    def cancel(self) -> None:
        self.close()
        self._driver._objects.pop(self._path, None)

    def close(self) -> None:
        self._closed = True


class InMemoryDriver:
    """Objects are bytearrays keyed by path; directories are implied by path prefixes."""

    name = _NAME

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytearray, float]] = {}
        self._lock = threading.Lock()

    def _set(self, path: str, data: bytes) -> None:
        with self._lock:
            self._objects[path] = (bytearray(data), time.time())

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [p for p in self._objects if p.startswith(prefix)]

    def get_content(self, path: str) -> bytes:
        check_path(path, _NAME)
        try:
            return bytes(self._objects[path][0])
        except KeyError as exc:
            raise PathNotFound(path, _NAME) from exc

    def put_content(self, path: str, data: bytes) -> None:
        check_path(path, _NAME)
        self._set(path, data)

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        data = self.get_content(path)
        return io.BytesIO(data[offset:] if length is None else data[offset : offset + length])

    def writer(self, path: str, *, append: bool) -> _MemoryWriter:
        check_path(path, _NAME)
        return _MemoryWriter(self, path, append=append)

    def stat(self, path: str) -> FileInfo:
        check_path(path, _NAME)
        if path in self._objects:
            data, mtime = self._objects[path]
            return FileInfo(path, len(data), mtime, False)
        children = self._children(path)
        if not children:
            raise PathNotFound(path, _NAME)
        return FileInfo(path, 0, max(self._objects[c][1] for c in children), True)

    def list(self, path: str) -> list[str]:
        check_path(path, _NAME)
        base = path.rstrip("/")
        children = self._children(path)
        if not children:
            raise PathNotFound(path, _NAME)
        return sorted({f"{base}/{c[len(base) + 1 :].split('/', 1)[0]}" for c in children})

    def move(self, source: str, dest: str) -> None:
        check_path(source, _NAME)
        check_path(dest, _NAME)
        with self._lock:
            try:
                self._objects[dest] = self._objects.pop(source)
            except KeyError as exc:
                raise PathNotFound(source, _NAME) from exc

    def delete(self, path: str) -> None:
        check_path(path, _NAME)
        with self._lock:
            doomed = [path] if path in self._objects else self._children(path)
            if not doomed:
                raise PathNotFound(path, _NAME)
            for p in doomed:
                del self._objects[p]

    def walk(self, path: str) -> Iterator[FileInfo]:
        check_path(path, _NAME)
        if path in self._objects:
            yield self.stat(path)
            return
        for p in sorted(self._children(path)):
            yield self.stat(p)

    def local_path(self, path: str) -> Path | None:
        return None
