"""Unpack a filesystem tar (a container's ``export``) into a host directory, never writing outside it:
``berth build --output type=local``.

* Every entry is created relative to a directory fd reached component by component with ``O_NOFOLLOW``,
  so no ``..``, absolute name, or symlinked parent — one the tar made, or one already in the
  directory — leads outside: such an entry is refused (CLIError naming it) before anything is written
  for it. Leading ``/`` are dropped (the names are relative to the directory).
* A final component is never opened through what is already there: the old file, link or tree is
  removed, then the entry created with ``O_EXCL``/``symlink``/``mkfifo``; a directory that exists is
  kept (the tar's entries merge into it, as BuildKit's local exporter does).
* Symlinks are written as they are (their targets are only text); hard links resolve inside the
  directory with ``linkat`` (no symlink following); device nodes are skipped.
* Files belong to the user running the CLI (BuildKit's local exporter does the same); modes are kept
  without setuid/setgid bits; mtimes are kept (directories' last, deepest first); xattrs are not copied.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
from dataclasses import dataclass, field

from berth.cli.command import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_MODE_BITS = 0o1777  # permissions and sticky; never setuid/setgid on the host


@dataclass
class Stats:
    """What ``extract`` wrote: entries created and device nodes skipped."""

    entries: int = 0
    skipped_devices: int = 0


def extract(stream: IO[bytes], dest: str) -> Stats:
    """Unpack the tar read from ``stream`` into ``dest`` (created if missing, with its parents)."""
    try:
        os.makedirs(dest, exist_ok=True)
        root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the user's own path: followed
    except OSError as exc:
        raise CLIError(f"failed to create {dest}: {exc.strerror}") from exc
    unpacker = _Unpacker(root, dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            while (member := tar.next()) is not None:
                unpacker.add(tar, member)
                tar.members = []  # type: ignore[attr-defined]  # stream mode: keep no headers
        unpacker.finish()
    except tarfile.TarError as exc:
        raise CLIError(f"invalid filesystem archive: {exc}") from exc
    finally:
        unpacker.close()
        os.close(root)
    return unpacker.stats


def split_name(name: str) -> tuple[str, ...]:
    """A tar name's components under the directory; ``..`` is refused."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise CLIError(f"refusing to extract {name!r}: it has a '..' component")
    return parts


@dataclass
class _Unpacker:
    root: int
    dest: str
    stats: Stats = field(default_factory=Stats)
    fds: dict[tuple[str, ...], int] = field(default_factory=dict)
    dirs: dict[tuple[str, ...], tuple[int, float]] = field(default_factory=dict)  # mode, mtime

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def dir_fd(self, parts: tuple[str, ...], entry: str, *, create: bool = True) -> int:
        """An fd of directory ``parts``, walked with O_NOFOLLOW from the root (missing ones made)."""
        if not parts:
            return self.root
        cached = self.fds.get(parts)
        if cached is not None:
            return cached
        parent = self.dir_fd(parts[:-1], entry, create=create)
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise CLIError(f"refusing to extract {entry!r}: {'/'.join(parts)} does not exist") from None
            os.mkdir(parts[-1], 0o755, dir_fd=parent)
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a symlink, or a file
                raise CLIError(
                    f"refusing to extract {entry!r}: {'/'.join(parts)} in {self.dest} is not a directory "
                    "(a symlink would lead the write elsewhere)"
                ) from None
            raise
        self.fds[parts] = fd
        return fd

    def _forget(self, parts: tuple[str, ...]) -> None:
        for key in [k for k in self.fds if k[: len(parts)] == parts]:
            os.close(self.fds.pop(key))

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = split_name(member.name)
        if not parts:
            return  # the root entry: the user's directory keeps its own owner and mode
        if member.ischr() or member.isblk():
            self.stats.skipped_devices += 1
            return
        try:
            self._add(tar, member, parts)
        except OSError as exc:
            raise CLIError(f"failed to write {os.path.join(self.dest, *parts)}: {exc.strerror}") from exc
        self.stats.entries += 1

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        parent, base = self.dir_fd(parts[:-1], member.name), parts[-1]
        if member.isdir():
            self._clear(parent, parts, keep_dir=True)
            with contextlib.suppress(FileExistsError):  # one already there: the entries merge into it
                os.mkdir(base, 0o700, dir_fd=parent)
            self.dirs[parts] = (member.mode & _MODE_BITS, member.mtime)
            return
        self._clear(parent, parts, keep_dir=False)
        if member.isreg():
            self._regular(tar, member, parent, base)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            os.utime(base, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            self._hardlink(member, parent, base)
        elif member.isfifo():
            os.mkfifo(base, member.mode & _MODE_BITS, dir_fd=parent)
        else:
            raise CLIError(f"refusing to extract {member.name!r}: unsupported tar entry type {member.type!r}")

    def _clear(self, parent: int, parts: tuple[str, ...], *, keep_dir: bool) -> None:
        """Remove what is at ``parts`` (a directory stays when ``keep_dir``)."""
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if keep_dir and stat.S_ISDIR(st.st_mode):
            return
        self._forget(parts)
        self.dirs = {k: v for k, v in self.dirs.items() if k[: len(parts)] != parts}
        _remove_at(parent, parts[-1])

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, base: str) -> None:
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            source = tar.extractfile(member)
            remaining = member.size
            while remaining > 0 and source is not None:
                chunk = source.read(min(_CHUNK, remaining))
                if not chunk:
                    raise CLIError(f"invalid filesystem archive: {member.name!r} is truncated")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                remaining -= len(chunk)
            os.fchmod(fd, member.mode & _MODE_BITS)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def _hardlink(self, member: tarfile.TarInfo, parent: int, base: str) -> None:
        target = split_name(member.linkname)
        if not target:
            raise CLIError(f"refusing to extract {member.name!r}: a hard link to the directory itself")
        source = self.dir_fd(target[:-1], member.name, create=False)
        os.link(target[-1], base, src_dir_fd=source, dst_dir_fd=parent, follow_symlinks=False)

    def finish(self) -> None:
        """Directory modes and mtimes, deepest first (writing their entries changed the mtimes)."""
        for parts in sorted(self.dirs, key=len, reverse=True):
            mode, mtime = self.dirs[parts]
            fd = self.dir_fd(parts, "/".join(parts), create=False)
            os.fchmod(fd, mode)
            os.utime(fd, (mtime, mtime))


def _remove_at(parent: int, name: str) -> None:
    """Remove ``name`` under the directory fd ``parent``, a whole tree if it is one (no link followed)."""
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
