"""Safe application of a layer changeset (tar, tar+gzip, tar+zstd, …) to a directory.

``apply_layer(target, stream, whiteouts=…)`` streams the tar once and never writes outside ``target``:

* every entry is created relative to a directory fd reached component by component with ``O_NOFOLLOW``,
  so no ``..``, absolute path, or symlinked parent (even one this same tar made) can lead outside;
  such entries raise ``HostileLayer`` (an ``InvalidArgument``) naming the entry and the reason;
* final components are created with ``O_EXCL``/``mknod``/``symlink`` semantics, never opened through
  an existing symlink; hard links resolve inside ``target`` with ``linkat`` (no symlink following);
* device nodes are refused, except the 0:0 character device, which is an overlay whiteout;
* the same path twice in one layer is refused (a duplicate entry).

Whiteouts (image-spec layer.md) are written in one of two forms:

* ``Whiteouts.OVERLAY``: ``.wh.NAME`` becomes a 0:0 character device ``NAME`` and ``.wh..wh..opq`` the
  ``trusted.overlay.opaque=y`` xattr on its directory — the form overlayfs reads in a lower dir.
* ``Whiteouts.DELETE``: ``target`` already holds the parent layers (naive snapshots); whiteouts delete.

Ownership, modes (after chown, so setuid bits stay), mtimes (directories last), xattrs (PAX
``SCHILY.xattr.*``, except ``trusted.overlay.*`` which a layer must not forge) are applied as root.
The caller removes ``target`` when this raises; nothing is written anywhere else.
"""

from __future__ import annotations

import bz2
import enum
import errno
import gzip
import hashlib
import lzma
import os
import queue
import stat
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from berth.errors import BerthError, Internal, InvalidArgument, is_disk_full
from berth.oci.digest import Digest

_CHUNK = 1 << 20
_WH_PREFIX = ".wh."
_WH_OPAQUE = ".wh..wh..opq"
_OPAQUE_XATTR = "trusted.overlay.opaque"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 64
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Whiteouts(enum.StrEnum):
    OVERLAY = "overlay"
    DELETE = "delete"


class Compression(enum.StrEnum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


class HostileLayer(InvalidArgument):
    """A layer tar tried to write outside its directory or holds forbidden entries (the sender's fault)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"invalid layer tar: entry {path!r} {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LayerStats:
    """What applying a layer measured: ``diff_id`` (sha256 of the uncompressed tar), its byte length,
    the bytes of regular files it created, and the compression it arrived in."""

    diff_id: Digest
    tar_size: int
    size: int
    compression: Compression


class _Prefixed:
    """A reader that replays bytes already peeked from ``inner``."""

    def __init__(self, prefix: bytes, inner: BinaryIO) -> None:
        self._prefix = prefix
        self._inner = inner

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._inner.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._inner.read(size - len(data))
            return data
        return self._inner.read(size)

    def readable(self) -> bool:
        return True


class _Hashing:
    """Counts and hashes what passes through (the uncompressed tar, for the diff_id)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


class _Prefetch:
    """Reads ``inner`` on a helper thread, so decompression and hashing (C code that drops the GIL)
    overlap with file creation. Short reads; exceptions of the reader surface in ``read``."""

    _DEPTH = 8

    def __init__(self, inner: BinaryIO | _Hashing) -> None:
        self._inner = inner
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(self._DEPTH)
        self._stop = threading.Event()
        self._chunk = b""
        self._offset = 0
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="berth-unpack-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._inner.read(_CHUNK)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._chunk):
            if self._eof:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            if not item:
                self._eof = True
                return b""
            self._chunk, self._offset = item, 0
        end = len(self._chunk) if size is None or size < 0 else self._offset + size
        data = self._chunk[self._offset : end]
        self._offset += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def detect(head: bytes) -> Compression:
    """The compression of a stream from its first bytes."""
    if head.startswith(b"\x1f\x8b"):
        return Compression.GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Compression.ZSTD
    if head.startswith(b"BZh"):
        return Compression.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Compression.XZ
    return Compression.NONE


def decompressed(stream: BinaryIO) -> tuple[BinaryIO, Compression]:
    """A reader of ``stream``'s uncompressed bytes, and the compression found."""
    head = stream.read(6)
    kind = detect(head)
    raw = cast(BinaryIO, _Prefixed(head, stream))  # duck-typed: read() is all the decompressors use
    if kind is Compression.GZIP:
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), kind
    if kind is Compression.ZSTD:
        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)), kind
    if kind is Compression.BZIP2:
        return cast(BinaryIO, bz2.BZ2File(raw, "rb")), kind
    if kind is Compression.XZ:
        return cast(BinaryIO, lzma.LZMAFile(raw, "rb")), kind
    return raw, kind


def stream_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a stream-mode tar, one by one, without keeping them all in memory."""
    while (member := tar.next()) is not None:
        yield member
        tar.members = []  # type: ignore[attr-defined]  # tarfile keeps every header otherwise


def split_path(name: str, *, what: str = "entry") -> tuple[str, ...]:
    """Normalise a tar path to its components; absolute or ``..`` paths are hostile."""
    if name.startswith("/"):
        raise HostileLayer(name, "is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise HostileLayer(name, f"has a '..' component ({what})")
    return parts


def write_member_data(tar: tarfile.TarFile, member: tarfile.TarInfo, fd: int, *, what: str = "tar") -> None:
    """Copy a regular file member's bytes to ``fd``; InvalidArgument if the archive ends early."""
    source = tar.extractfile(member)
    remaining = member.size
    while remaining > 0 and source is not None:
        chunk = source.read(min(_CHUNK, remaining))
        if not chunk:
            raise InvalidArgument(f"invalid {what}: entry {member.name!r} is truncated")
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
        remaining -= len(chunk)


def _file_attrs(fd: int, member: tarfile.TarInfo) -> None:
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid/setgid
    for key, value in _xattrs(member):
        _setxattr(fd, key, value)
    mtime = _mtime_ns(member)
    os.utime(fd, ns=(mtime, mtime))


class _Applier:
    def __init__(self, root_fd: int, whiteouts: Whiteouts) -> None:
        self.root_fd = root_fd
        self.whiteouts = whiteouts
        self.seen: set[tuple[str, ...]] = set()
        self.implicit: set[tuple[str, ...]] = set()
        self.dir_times: dict[tuple[str, ...], int] = {}
        self.fds: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self.size = 0

    # -- directory fds -------------------------------------------------------------------------------
    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def _forget_under(self, parts: tuple[str, ...], *, keep_self: bool = False) -> None:
        """Drop cached fds of ``parts`` and below (they are about to be deleted)."""
        for cached in [k for k in self.fds if k[: len(parts)] == parts and (k != parts or not keep_self)]:
            os.close(self.fds.pop(cached))

    def dir_fd(self, parts: tuple[str, ...], entry: str, *, create: bool) -> int:
        """An fd for directory ``parts`` under the root, walking with O_NOFOLLOW; cached."""
        if not parts:
            return self.root_fd
        cached = self.fds.get(parts)
        if cached is not None:
            self.fds.move_to_end(parts)
            return cached
        parent = self.dir_fd(parts[:-1], entry, create=create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise HostileLayer(entry, f"refers to missing directory {'/'.join(parts)!r}") from None
            os.mkdir(name, 0o755, dir_fd=parent)
            self.implicit.add(parts)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise HostileLayer(
                    entry, f"passes through {'/'.join(parts)!r}, which is not a directory"
                ) from None
            raise
        self.fds[parts] = fd
        if len(self.fds) > _FD_CACHE:
            _, old = self.fds.popitem(last=False)
            os.close(old)
        return fd

    # -- entries -------------------------------------------------------------------------------------
    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = split_path(member.name)
        if not parts:
            if member.isdir():
                self._attrs_fd(self.root_fd, member)
                self.dir_times[()] = _mtime_ns(member)
                return
            raise HostileLayer(member.name, "replaces the layer root with a non-directory")
        base = parts[-1]
        if base.startswith(_WH_PREFIX):
            self._whiteout(member, parts)
            return
        if member.ischr() and member.devmajor == 0 and member.devminor == 0:
            self._whiteout_name(member, parts[:-1], base)
            return
        if parts in self.seen:
            raise HostileLayer(member.name, "appears twice in the layer (duplicate entry)")
        self.seen.add(parts)
        parent = self.dir_fd(parts[:-1], member.name, create=True)
        if member.isdir():
            self._directory(member, parts, parent, base)
            return
        if parts in self.implicit:
            raise HostileLayer(member.name, "replaces a directory this layer created")
        self._clear_lower(parent, parts)
        if member.isreg():
            self._regular(tar, member, parent, base)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            self._xattrs_path(member, parent, base)
            mtime = _mtime_ns(member)
            os.utime(base, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            self._hardlink(member, parent, base)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
            fd = os.open(base, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                self._attrs_fd(fd, member)
                mtime = _mtime_ns(member)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
        elif member.ischr() or member.isblk():
            raise HostileLayer(member.name, "is a device file (not allowed in a layer)")
        else:
            raise HostileLayer(member.name, f"has an unsupported tar entry type {member.type!r}")

    def _directory(self, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int, base: str) -> None:
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self._clear_lower(parent, parts)
            st = None
        if st is None:
            os.mkdir(base, 0o700, dir_fd=parent)
        self.implicit.discard(parts)
        fd = self.dir_fd(parts, member.name, create=False)
        self._attrs_fd(fd, member)
        self.dir_times[parts] = _mtime_ns(member)

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, base: str) -> None:
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            write_member_data(tar, member, fd, what="layer tar")
            _file_attrs(fd, member)
        finally:
            os.close(fd)
        self.size += member.size

    def _hardlink(self, member: tarfile.TarInfo, parent: int, base: str) -> None:
        target = split_path(member.linkname, what="hard link target")
        if not target:
            raise HostileLayer(member.name, "is a hard link to the layer root")
        target_parent = self.dir_fd(target[:-1], member.name, create=False)
        try:
            st = os.stat(target[-1], dir_fd=target_parent, follow_symlinks=False)
        except FileNotFoundError:
            raise HostileLayer(member.name, f"is a hard link to missing {member.linkname!r}") from None
        if stat.S_ISDIR(st.st_mode):
            raise HostileLayer(member.name, "is a hard link to a directory")
        os.link(target[-1], base, src_dir_fd=target_parent, dst_dir_fd=parent, follow_symlinks=False)

    def _whiteout(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        base = parts[-1]
        if base == _WH_OPAQUE:
            self._opaque(member, parts[:-1])
            return
        if base.startswith(_WH_PREFIX + _WH_PREFIX):
            return  # aufs metadata (.wh..wh.plnk, .wh..wh.aufs): ignored, as Docker does
        name = base[len(_WH_PREFIX) :]
        if not name:
            raise HostileLayer(member.name, "is an empty whiteout")
        self._whiteout_name(member, parts[:-1], name)

    def _whiteout_name(self, member: tarfile.TarInfo, dir_parts: tuple[str, ...], name: str) -> None:
        parts = (*dir_parts, name)
        if parts in self.seen or parts in self.implicit:
            raise HostileLayer(member.name, "whites out a path this same layer writes (duplicate entry)")
        self.seen.add(parts)
        parent = self.dir_fd(dir_parts, member.name, create=True)
        if self.whiteouts is Whiteouts.OVERLAY:
            os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
        else:
            self._clear_lower(parent, parts)

    def _opaque(self, member: tarfile.TarInfo, dir_parts: tuple[str, ...]) -> None:
        fd = self.dir_fd(dir_parts, member.name, create=True)
        if self.whiteouts is Whiteouts.OVERLAY:
            os.setxattr(fd, _OPAQUE_XATTR, b"y")
            return
        self._forget_under(dir_parts, keep_self=True)
        self._remove_lower_children(fd, dir_parts)

    def _remove_lower_children(self, fd: int, dir_parts: tuple[str, ...]) -> None:
        for name in os.listdir(fd):
            parts = (*dir_parts, name)
            if parts in self.seen or parts in self.implicit:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    try:
                        self._remove_lower_children(child, parts)
                    finally:
                        os.close(child)
                continue
            _remove_at(fd, name)

    def _clear_lower(self, parent: int, parts: tuple[str, ...]) -> None:
        """Remove what a lower layer left at ``parts`` (DELETE mode only; OVERLAY targets start empty)."""
        if self.whiteouts is Whiteouts.OVERLAY:
            return
        try:
            os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        self._forget_under(parts)
        _remove_at(parent, parts[-1])

    # -- attributes ----------------------------------------------------------------------------------
    def _attrs_fd(self, fd: int, member: tarfile.TarInfo) -> None:
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid/setgid
        for key, value in _xattrs(member):
            _setxattr(fd, key, value)

    def _xattrs_path(self, member: tarfile.TarInfo, parent: int, base: str) -> None:
        path = f"/proc/self/fd/{parent}/{base}"  # the dir fd is already resolved; base is not followed
        for key, value in _xattrs(member):
            _setxattr(path, key, value)

    def finish(self) -> None:
        """Set directory mtimes, deepest first (creating children changed them)."""
        for parts in sorted(self.dir_times, key=len, reverse=True):
            fd = self.dir_fd(parts, "/".join(parts), create=False)
            mtime = self.dir_times[parts]
            os.utime(fd, ns=(mtime, mtime))


def _setxattr(target: int | str, key: str, value: bytes) -> None:
    """Set an xattr on an fd or (without following a final symlink) a path; unsupported ones are skipped."""
    try:
        os.setxattr(target, key, value, follow_symlinks=isinstance(target, int))
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def _xattrs(member: tarfile.TarInfo) -> Iterator[tuple[str, bytes]]:
    for key, value in member.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr.") :]
        if name.startswith("trusted.overlay."):
            continue  # overlay metadata is Berth's to write, never a layer's
        yield name, value.encode("utf-8", "surrogateescape")


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return int(member.mtime * 1_000_000_000)


def _remove_at(parent: int, name: str) -> None:
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            _remove_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


@contextmanager
def _map_errors(current: list[str]) -> Iterator[None]:
    try:
        yield
    except (tarfile.TarError, EOFError, zstandard.ZstdError, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise InvalidArgument(f"invalid layer tar: {exc}") from exc
    except OSError as exc:
        raise _os_error(exc, current[0] if current else "") from exc


def _os_error(exc: OSError, entry: str) -> BerthError:
    """An OSError while applying ``entry``: the archive's fault for name clashes, ours otherwise."""
    where = f" at entry {entry!r}" if entry else ""
    if exc.errno in (errno.ENAMETOOLONG, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
        return InvalidArgument(f"invalid layer tar{where}: {exc.strerror}")
    if is_disk_full(exc):  # the machine's state, one line (no "[Errno 28]")
        return Internal(f"unpacking layer{where}: no space left on device")
    return Internal(f"unpacking layer{where}: {exc}")


def apply_layer(target: Path, stream: BinaryIO, *, whiteouts: Whiteouts) -> LayerStats:
    """Apply the layer tar read from ``stream`` (any supported compression) onto directory ``target``.

    Reads ``stream`` to its end (trailing bytes count in the diff_id). Raises ``HostileLayer`` or
    ``InvalidArgument`` for bad archives, ``Internal`` for I/O failures; ``target`` may then hold a partial
    layer, which the caller removes.
    """
    current: list[str] = []
    with _map_errors(current):
        reader, compression = decompressed(stream)
        hashing = _Hashing(reader)
        root_fd = os.open(target, _DIR_FLAGS)
        applier = _Applier(root_fd, whiteouts)
        prefetch = _Prefetch(hashing)
        try:
            with tarfile.open(fileobj=cast(BinaryIO, prefetch), mode="r|", bufsize=_CHUNK) as tar:
                for member in stream_members(tar):
                    current[:] = [member.name]
                    applier.apply(tar, member)
            current.clear()
            applier.finish()
            prefetch.drain()  # the rest of the stream still counts in the diff_id
        finally:
            prefetch.close()
            applier.close()
            os.close(root_fd)
    return LayerStats(Digest("sha256:" + hashing.hash.hexdigest()), hashing.count, applier.size, compression)


def digest_uncompressed(stream: BinaryIO) -> tuple[Digest, int, Compression]:
    """The diff_id and length of ``stream``'s uncompressed bytes, without unpacking."""
    with _map_errors([]):
        reader, compression = decompressed(stream)
        hashing = _Hashing(reader)
        hashing.drain()
    return Digest("sha256:" + hashing.hash.hexdigest()), hashing.count, compression
