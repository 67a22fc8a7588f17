"""FilesystemDriver: the StorageDriver over a local directory (the embedded default, under --root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from berth.errors import Internal, is_disk_full
from berth.registry.storage.driver import FileInfo, PathNotFound, StorageFull, check_path, limited

_NAME = "filesystem"
_T = TypeVar("_T")


@contextlib.contextmanager
def _full_as_storage_full(path: str) -> Iterator[None]:
    """A write the filesystem refuses for want of space (ENOSPC, EDQUOT) as ``StorageFull(path)``."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise StorageFull(path, _NAME) from exc
        raise


def _retry_missing_parent(target: Path, action: Callable[[], _T]) -> _T:
    """Make ``target``'s parent and run ``action``, again if a concurrent prune removed the parent."""
    for _ in range(3):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return action()
        except FileNotFoundError:
            if target.parent.exists():
                raise  # the parent is there: what is missing is the source
    return action()


class _FileWriter:
    """Appends to one file with plain ``os.write`` (no Python-level buffering: chunks are already large)."""

    def __init__(self, real: Path, path: str, *, append: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        self._real = real
        self._path = path
        with _full_as_storage_full(path):
            self._fd: int | None = _retry_missing_parent(real, lambda: os.open(real, flags, 0o644))
        self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        if self._fd is None:
            raise Internal(f"{_NAME}: write to a closed writer for {self._real}")
        view = memoryview(data)
        total = 0
        try:
            with _full_as_storage_full(self._path):
                while total < len(view):
                    total += os.write(self._fd, view[total:])
        finally:
            self._size += total
        return total

    def commit(self) -> None:
        try:
            if self._fd is not None:
                with _full_as_storage_full(self._path):
                    os.fsync(self._fd)
        finally:
            self.close()

    def cancel(self) -> None:
        self.close()
        self._real.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class FilesystemDriver:
    """Objects are files under ``root``; ``move`` is ``rename(2)``, so publishing is atomic."""

    name = _NAME

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def _real(self, path: str) -> Path:
        check_path(path, _NAME)
        return self._root / path.lstrip("/")

    def get_content(self, path: str) -> bytes:
        try:
            return self._real(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise PathNotFound(path, _NAME) from exc

    def put_content(self, path: str, data: bytes) -> None:
        real = self._real(path)
        tmp = real.with_name(f".{real.name}.{uuid.uuid4().hex}.tmp")
        try:
            with _full_as_storage_full(path):
                real.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, real)
        finally:
            tmp.unlink(missing_ok=True)

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        try:
            f = open(self._real(path), "rb")  # noqa: SIM115 - returned to the caller, who closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise PathNotFound(path, _NAME) from exc
        if offset:
            f.seek(offset)
        return limited(f, length)

    def writer(self, path: str, *, append: bool) -> _FileWriter:
        return _FileWriter(self._real(path), path, append=append)

    def stat(self, path: str) -> FileInfo:
        try:
            st = self._real(path).stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path, _NAME) from exc
        is_dir = os.path.isdir(self._real(path))
        return FileInfo(path, 0 if is_dir else st.st_size, st.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        real = self._real(path)
        try:
            names = sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFound(path, _NAME) from exc
        base = path.rstrip("/")
        return [f"{base}/{n}" for n in names]

    def move(self, source: str, dest: str) -> None:
        src, dst = self._real(source), self._real(dest)
        try:
            with _full_as_storage_full(dest):  # its new directories may need room
                _retry_missing_parent(dst, lambda: os.replace(src, dst))
        except FileNotFoundError as exc:
            if not src.exists():
                raise PathNotFound(source, _NAME) from exc
            raise
        self._prune(src.parent)

    def delete(self, path: str) -> None:
        real = self._real(path)
        try:
            if real.is_dir() and not real.is_symlink():
                shutil.rmtree(real)
            else:
                real.unlink()
        except FileNotFoundError as exc:
            raise PathNotFound(path, _NAME) from exc
        self._prune(real.parent)

    def _prune(self, directory: Path) -> None:
        """Drop now-empty parents: directories exist only while they hold files (as in the Protocol)."""
        while directory != self._root:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def walk(self, path: str) -> Iterator[FileInfo]:
        real = self._real(path)
        if not real.is_dir():
            if real.is_file():
                st = real.stat()
                yield FileInfo(path, st.st_size, st.st_mtime, False)
            return
        base = path.rstrip("/")
        found = []
        for dirpath, _dirnames, filenames in os.walk(real):
            rel = os.path.relpath(dirpath, real)
            prefix = base if rel == "." else f"{base}/{rel}"
            for name in filenames:
                st = os.stat(os.path.join(dirpath, name))
                found.append(FileInfo(f"{prefix}/{name}", st.st_size, st.st_mtime, False))
        yield from sorted(found, key=lambda info: info.path)

    def local_path(self, path: str) -> Path | None:
        return self._real(path)
