"""The build context as the client sent it: the request body spooled to a file as it comes, the
Dockerfile read straight from the tar, and the files unpacked only when a step first needs them
(COPY, ADD, ``RUN --mount=type=bind``). A context no step reads costs its upload and nothing more,
as with BuildKit, which asks the client for the files a step uses (moby#26816, moby#23470).

Unpacking is GNU tar's (about 7× Python's ``tarfile`` on 20,000 small files), scoped to the context
directory: it refuses ``..`` names and hard links that leave it, makes the symlinks that point out
(absolute, or through ``..``) only after every file is in place, so that nothing is written through
them, and it runs without CAP_MKNOD (no device files get in). The directory is a tmpfs when the
context fits in memory. Without GNU tar, Python's extraction (``archive``) does the same, slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.engine.builder.ignore import remove_build_files
from berth.engine.containers import archive
from berth.errors import InvalidArgument
from berth.runtime.linux import syscalls

_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 0x2, 0x4, 0x2
_BLOCK = 512
_REGULAR = (b"0", b"\0", b"7")  # tar's type flags of a regular file


async def spool(stream: BinaryIO, path: Path) -> int:
    """The client's context tar as it comes, into ``path``; its size. A request body with its own
    ``copy_to`` (the daemon's ``BodyReader``) is written from the event loop's reads."""
    copy_to = getattr(stream, "copy_to", None)
    if copy_to is not None:
        return int(await copy_to(path))
    return await asyncio.to_thread(_copy_file, stream, path)


def _copy_file(stream: BinaryIO, path: Path) -> int:
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
        return out.tell()


class ContextTar:
    """One build's context: the spooled tar and the directory its files are unpacked into, once."""

    def __init__(self, spooled: Path, directory: Path) -> None:
        self.spooled = spooled
        self.directory = directory  # empty until ``files``
        self.dockerfile = ""  # once read: removed from the files when .dockerignore names it
        self._unpacked: asyncio.Task[Path] | None = None
        self._in_memory = False

    def read_file(self, name: str) -> bytes | None:
        """The contents of regular file ``name`` (relative to the context) read from the tar, or None
        when the tar cannot answer (compressed, the file missing, a link): then unpack and look."""
        with open(self.spooled, "rb") as stream:
            fd = stream.fileno()
            for member, kind, offset, size in _members(fd):
                if member == name:
                    if kind not in _REGULAR:
                        return None
                    return os.pread(fd, size, offset) if size else b""
        return None

    async def files(self) -> Path:
        """The unpacked context (unpacked on the first call; the others wait for it)."""
        if self._unpacked is None:
            self._unpacked = asyncio.ensure_future(asyncio.to_thread(self._unpack))
        return await asyncio.shield(self._unpacked)

    def _unpack(self) -> Path:
        self._in_memory = unpack_context(self.spooled, self.directory)
        with contextlib.suppress(FileNotFoundError):
            self.spooled.unlink()
        if self.dockerfile:
            remove_build_files(self.directory, self.dockerfile)
        return self.directory

    async def close(self) -> None:
        """Wait for an unpacking under way, then detach the context's tmpfs."""
        if self._unpacked is not None:
            with contextlib.suppress(Exception):
                await self._unpacked
        if self._in_memory:
            with contextlib.suppress(OSError):
                syscalls.umount2(str(self.directory), _MNT_DETACH)


def memory_budget() -> int:
    """How much of a context may be held in memory (a tmpfs): a quarter of what the host has free.
    Files are made ~20× faster there than on a VM's disk, and a context lives only as long as
    its build."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 4
    except (OSError, ValueError, IndexError):
        pass
    return 0


def unpack_context(spooled: Path, directory: Path) -> bool:
    """Unpack the spooled context into ``directory``: on a tmpfs when it fits (True: the caller
    detaches it after the build), else on disk."""
    budget = memory_budget()
    if spooled.stat().st_size * 2 < budget:  # room for a compressed context to grow
        syscalls.mount("tmpfs", str(directory), "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={budget},mode=0700")
        try:
            unpack(spooled, directory)
            return True
        except OSError as exc:
            syscalls.umount2(str(directory), _MNT_DETACH)
            if exc.errno != errno.ENOSPC:
                raise
        except BaseException:
            syscalls.umount2(str(directory), _MNT_DETACH)
            raise
    unpack(spooled, directory)  # too big for memory (or it grew past it): on disk
    return False


def unpack(spooled: Path, directory: Path) -> None:
    """Extract the context tar (plain or compressed) into ``directory``, scoped to it."""
    if _gnu_tar():
        _gnu_unpack(spooled, directory)
        return
    fd = os.open(directory, _DIR_PATH)
    try:
        with open(spooled, "rb") as stream:
            archive.extract_archive(fd, "/", stream, no_overwrite_dir_non_dir=False, owner=None)
    finally:
        os.close(fd)


@functools.cache
def _gnu_tar() -> bool:
    if shutil.which("tar") is None or shutil.which("setpriv") is None:
        return False
    try:
        version = subprocess.run(["tar", "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return "GNU tar" in version


def _gnu_unpack(spooled: Path, directory: Path) -> None:
    # the owners are root's, as the docker CLI sends them (the build sets a copy's owner)
    argv = ["setpriv", "--bounding-set", "-mknod", "--", "tar", "--extract", "--no-same-owner"]
    done = subprocess.run(
        [*argv, "--file", str(spooled), "--directory", str(directory)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode == 0:
        return
    said = [
        line.removeprefix("tar: ")
        for line in done.stderr.splitlines()
        if line and "Removing leading" not in line and "Exiting with failure status" not in line
    ]
    if any("No space left on device" in line for line in said):
        raise OSError(errno.ENOSPC, "No space left on device (unpacking the build context)")
    raise InvalidArgument(f"Error processing tar file: {said[0] if said else 'tar failed'}")


def _members(fd: int) -> Iterator[tuple[str, bytes, int, int]]:
    """(name, type flag, data offset, size) of each entry of an uncompressed tar, names as the
    context knows them (no ``./``); nothing for a tar it cannot read (compressed, damaged).
    Reads only the headers, by hand rather than with ``tarfile``: 20,000 headers take 0.27 s here
    against tarfile's 0.99 s (measured on this VM), and reading the Dockerfile is on every build."""
    offset, long_name, pax_path, pax_size = 0, "", "", -1
    while len(header := os.pread(fd, _BLOCK, offset)) == _BLOCK and header.count(0) != _BLOCK:
        if sum(header) - sum(header[148:156]) + 8 * 32 != _number(header[148:156]):
            return  # not a tar header: a compressed or damaged context
        size = pax_size if pax_size >= 0 else _number(header[124:136])
        kind, data = header[156:157], offset + _BLOCK
        offset = data + (size + _BLOCK - 1) // _BLOCK * _BLOCK
        if kind == b"L":  # GNU: the next entry's long name
            long_name = _text(os.pread(fd, size, data))
        elif kind == b"x":  # POSIX: the next entry's extended header
            records = _pax(os.pread(fd, size, data))
            pax_path = records.get("path", "")
            pax_size = int(records["size"]) if records.get("size", "").isdigit() else -1
        elif kind not in (b"g", b"K"):
            name = pax_path or long_name or _ustar_name(header)
            yield os.path.normpath("/" + name).lstrip("/"), kind, data, size
            long_name, pax_path, pax_size = "", "", -1


def _ustar_name(header: bytes) -> str:
    name = _text(header[:100])
    prefix = _text(header[345:500]) if header[257:262] == b"ustar" else ""
    return f"{prefix}/{name}" if prefix else name


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int:
    if field[0] & 0x80:  # base-256 (GNU, for sizes of 8 GB and more)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        return -1


def _pax(data: bytes) -> dict[str, str]:
    """An extended header's records ("LEN key=value\\n" each)."""
    records: dict[str, str] = {}
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        if space < 0:
            break
        try:
            length = int(data[at:space])
        except ValueError:
            break
        if length <= 0:
            break
        key, _, value = data[space + 1 : at + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        at += length
    return records
