"""Container filesystem access for ``cp`` (the ``/containers/{id}/archive`` endpoints).

Every path is resolved inside the container's root, never the host's: directories are opened with
``openat2(RESOLVE_IN_ROOT)`` from a file descriptor of the container root, so ``..`` and symlinks
(absolute or relative) stay inside it, as if chrooted; final components are handled with ``*at`` calls
that do not follow symlinks.

Where the root comes from (``container_root``):

* running or paused: ``/proc/<pid>/root`` — the rootfs as the container's mount namespace shows it,
  volumes and ``/etc/hosts`` binds included;
* created or stopped: the snapshot's mounts, mounted on a private ``cp-<random>`` directory in the
  container's directory for the duration of the call (stale ones are removed first). The caller holds
  the container's lock so the container cannot start meanwhile.

``stat_path`` answers ``HEAD`` (Docker's ``ContainerPathStat``), ``write_archive`` ``GET`` (a tar whose
entries start with the path's base name, symlinks kept as links, numeric owners) and ``extract_archive``
``PUT`` (a tar unpacked into a directory, refusing devices, absolute or ``..`` names).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import secrets
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from berth.api.filemode import from_st_mode
from berth.errors import Conflict, InvalidArgument
from berth.oci.mount import Mount
from berth.runtime.linux import syscalls
from berth.store.unpack import split_path, stream_members, write_member_data
from berth.util.idshift import IdShift, shifting

_SYS_OPENAT2 = 437  # the same number on every architecture (unified syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_MS_BIND, _MS_REC, _MS_RDONLY, _MS_REMOUNT, _MNT_DETACH = 4096, 16384, 1, 32, 2
_MAX_LINKS = 255
_CHUNK = 1 << 20
_PSEUDO_MOUNTS = {"/proc", "/sys", "/dev"}
_libc = ctypes.CDLL(None, use_errno=True)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_in_root(root_fd: int, path: str, flags: int = _DIR_PATH) -> int:
    """``openat2(root_fd, path, RESOLVE_IN_ROOT)``: ``path`` resolved as if ``root_fd`` were ``/``."""
    if "\x00" in path:
        raise InvalidArgument("invalid path: contains a NUL byte")
    how = _OpenHow(flags, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(root_fd),
        ctypes.c_char_p(os.fsencode(path or "/")),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


# -- the root -----------------------------------------------------------------------------------------


def _mount_all(mounts: list[Mount], target: Path) -> None:
    for mount in mounts:
        if mount.type == "bind":
            flags = _MS_BIND | (_MS_REC if "rbind" in mount.options else 0)
            syscalls.mount(mount.source, str(target), None, flags)
            if "ro" in mount.options:
                syscalls.mount(None, str(target), None, _MS_BIND | _MS_RDONLY | _MS_REMOUNT)
        else:
            flags = _MS_RDONLY if "ro" in mount.options else 0
            data = ",".join(o for o in mount.options if o not in ("ro", "rw"))
            syscalls.mount(mount.source, str(target), mount.type, flags, data)


def _unmount(target: Path) -> None:
    """Lazily unmount ``target`` and what is mounted below it; already gone (a concurrent
    ``cleanup_stale`` detached it, and open fds keep working) is fine."""
    try:
        syscalls.umount2(str(target), _MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise


def cleanup_stale(directory: Path) -> None:
    """Unmount and remove ``cp-*`` mount points a killed daemon left in a container's directory."""
    for entry in directory.glob("cp-*"):
        with contextlib.suppress(OSError):
            syscalls.umount2(str(entry), _MNT_DETACH)
        with contextlib.suppress(OSError):
            entry.rmdir()


def _bind_volumes(root_fd: int, binds: list[dict[str, object]]) -> None:
    """Bind the binds and volumes of the container's last start (its bundle's OCI mounts) on the
    mounted rootfs, so cp reaches them as in a running container. Missing mount points are skipped
    (cp does not create them); destinations resolve inside the root."""
    for bind in binds:
        options = bind.get("options") or []
        if bind.get("type") != "bind" or not isinstance(options, list):
            continue
        try:
            fd = open_in_root(root_fd, str(bind.get("destination") or ""), os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            target = f"/proc/self/fd/{fd}"
            syscalls.mount(str(bind.get("source")), target, None, _MS_BIND | _MS_REC)
            if "ro" in options:
                syscalls.mount(None, target, None, _MS_BIND | _MS_RDONLY | _MS_REMOUNT)
        except OSError:
            continue  # a source that went away: cp sees the rootfs below, as a restart would fail
        finally:
            os.close(fd)


def bundle_binds(bundle: Path) -> list[dict[str, object]]:
    """The bind mounts of the OCI spec in ``bundle`` (written at the container's last start)."""
    import json

    try:
        mounts = json.loads((bundle / "config.json").read_text()).get("mounts") or []
    except (OSError, ValueError):
        return []
    return [m for m in mounts if isinstance(m, dict) and m.get("type") == "bind"]


def _check_owner(pid: int, root_fd: int, container_id: str) -> None:
    """Refuse a ``pid`` that is no longer the container's (reused): it must sit in the container's
    cgroup (checked after opening its root, so the root was the container's) and not see the host's /."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            cgroups = f.read()
    except OSError:
        cgroups = ""
    host = os.stat("/")
    root = os.fstat(root_fd)
    if container_id not in cgroups or (root.st_dev, root.st_ino) == (host.st_dev, host.st_ino):
        raise Conflict(f"container {container_id[:12]} is not running")


@contextlib.contextmanager
def container_root(
    pid: int, mounts: list[Mount] | None, directory: Path, binds: list[dict[str, object]] | None = None
) -> Iterator[int]:
    """A directory fd of the container's root: ``/proc/<pid>/root`` when ``pid`` (running), else
    ``mounts`` mounted on a temporary point under ``directory`` with ``binds`` on it (all unmounted
    on exit)."""
    if pid:
        fd = os.open(f"/proc/{pid}/root", _DIR_PATH)
        try:
            _check_owner(pid, fd, directory.name)
            yield fd
        finally:
            os.close(fd)
        return
    cleanup_stale(directory)
    target = directory / f"cp-{secrets.token_hex(6)}"
    target.mkdir(mode=0o700)
    try:
        _mount_all(mounts or [], target)
        try:
            fd = os.open(target, _DIR_PATH)
            try:
                _bind_volumes(fd, binds or [])
                yield fd
            finally:
                os.close(fd)
        finally:
            _unmount(target)
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()


# -- locating a path -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Located:
    """Where a requested path is: ``name`` inside the directory fd ``parent`` (``"."`` for the directory
    itself), the cleaned absolute path, and the base name the archive uses."""

    parent: int
    name: str
    clean: str
    base: str


def _specifies_dir(path: str) -> bool:
    return path in ("", ".", "/") or path.endswith(("/", "/."))


@contextlib.contextmanager
def locate(root_fd: int, path: str) -> Iterator[Located]:
    """Resolve ``path`` (Docker's ``ResolvePath``): every component but the last is followed inside the
    root; the last is not, unless the path ends with ``/`` or ``/.``. FileNotFoundError if missing."""
    clean = posixpath.normpath("/" + path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    base = "." if path.endswith("/.") or path == "." else posixpath.basename(clean) or "/"
    if _specifies_dir(path) or clean == "/":
        fd = open_in_root(root_fd, clean)
        name = "."
    else:
        fd = open_in_root(root_fd, posixpath.dirname(clean))
        name = posixpath.basename(clean)
    try:
        yield Located(fd, name, clean, base)
    finally:
        os.close(fd)


def make_dirs(root_fd: int, path: str) -> None:
    """``mkdir -p path`` inside the root (each component resolved in it, never outside)."""
    current = "/"
    for part in [p for p in path.split("/") if p]:
        parent = open_in_root(root_fd, current)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=parent)
        finally:
            os.close(parent)
        current = f"{current.rstrip('/')}/{part}"


def _scoped_realpath(root_fd: int, path: str) -> str:
    """``path`` with every symlink evaluated inside the root (Go's ``FollowSymlinkInScope``)."""
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        try:
            fd = open_in_root(root_fd, "/" + "/".join(done))
        except OSError:
            done.append(part)
            continue
        try:
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(part, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
        except OSError:
            target = None
        finally:
            os.close(fd)
        if target is None:
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise InvalidArgument(f"too many symlinks in {path}")
        if target.startswith("/"):
            done = []
        todo = [p for p in target.split("/") if p not in ("", ".")] + todo
    return "/" + "/".join(done)


# -- stat ----------------------------------------------------------------------------------------------


def _rfc3339(ns: int) -> str:
    """Go's ``time.Time`` JSON form (RFC 3339, nanoseconds without trailing zeros, UTC)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def stat_path(root_fd: int, path: str) -> dict[str, object]:
    """Docker's ``ContainerPathStat`` of ``path`` (``mode`` is a Go FileMode)."""
    with locate(root_fd, path) as where:
        st = os.stat(where.name, dir_fd=where.parent, follow_symlinks=False)
        link_target = ""
        if stat.S_ISLNK(st.st_mode):
            link_target = _scoped_realpath(root_fd, where.clean)
        return {
            "name": where.base,
            "size": st.st_size,
            "mode": from_st_mode(st.st_mode),
            "mtime": _rfc3339(st.st_mtime_ns),
            "linkTarget": link_target,
        }


# -- archive (GET) -------------------------------------------------------------------------------------


class _Exactly:
    """Reads ``size`` bytes from an fd: short files (changed while read) are padded with zeros."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._left = size

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        if want <= 0:
            return b""
        data = os.read(self._fd, min(want, _CHUNK))
        if not data:
            data = bytes(min(want, _CHUNK))
        self._left -= len(data)
        return data


class _Archiver:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.inodes: dict[tuple[int, int], str] = {}

    def _info(self, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
        return info

    def _xattrs(self, info: tarfile.TarInfo, fd: int) -> None:
        try:
            names = os.listxattr(fd)
        except OSError:
            return
        pax: dict[str, str] = {}
        for name in names:
            if name.startswith("trusted.overlay."):
                continue
            with contextlib.suppress(OSError):
                value = os.getxattr(fd, name)
                pax["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
        info.pax_headers = pax

    def add(self, parent: int, name: str, arcname: str, cpath: str, parent_dev: int | None) -> None:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        info = self._info(arcname, st)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                info.type = tarfile.DIRTYPE
                self._xattrs(info, fd)
                self.tar.addfile(info)
                if parent_dev is not None and st.st_dev != parent_dev and cpath in _PSEUDO_MOUNTS:
                    return  # /proc, /sys, /dev of a running container: not its files
                for child in sorted(os.listdir(fd)):
                    child_arc = f"{arcname.rstrip('/')}/{child}" if arcname != "." else f"./{child}"
                    self.add(fd, child, child_arc, posixpath.join(cpath, child), st.st_dev)
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.inodes:
                info.type = tarfile.LNKTYPE
                info.linkname = self.inodes[key]
                self.tar.addfile(info)
                return
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
            try:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode):
                    return  # replaced while we looked
                info = self._info(arcname, now)
                info.size = now.st_size
                self._xattrs(info, fd)
                self.tar.addfile(info, cast(BinaryIO, _Exactly(fd, now.st_size)))
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                self.inodes[key] = arcname
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(name, dir_fd=parent)
            self.tar.addfile(info)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
            self.tar.addfile(info)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)
        # sockets are skipped, as Docker does


def write_archive(root_fd: int, path: str, out: BinaryIO, shift: IdShift | None = None) -> None:
    """A tar of ``path`` (recursively) to ``out``; entries start with the path's base name; owners
    in a remapped container's ids (``shift``)."""
    with locate(root_fd, path) as where:
        os.stat(where.name, dir_fd=where.parent, follow_symlinks=False)  # FileNotFoundError first
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as raw:
            tar = shifting(raw, shift)
            parent = open_in_root(root_fd, posixpath.dirname(where.clean))
            try:
                parent_dev = os.fstat(parent).st_dev
            finally:
                os.close(parent)
            # the root's entries start with "/", which the docker CLI's rebase expects
            _Archiver(tar).add(where.parent, where.name, where.base, where.clean, parent_dev)


# -- extract (PUT) -------------------------------------------------------------------------------------


def _remove_at(parent: int, name: str) -> None:
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            _remove_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


class _Extractor:
    def __init__(
        self,
        root_fd: int,
        dest: str,
        no_overwrite: bool,
        owner: tuple[int, int] | None,
        shift: IdShift | None = None,
    ) -> None:
        self.shift = shift
        self.root_fd = root_fd
        self.dest = dest
        self.no_overwrite = no_overwrite
        self.owner = owner
        self.dir_times: dict[tuple[str, ...], float] = {}

    def _cpath(self, parts: tuple[str, ...]) -> str:
        return posixpath.join(self.dest, *parts) if parts else self.dest

    def dir_fd(self, parts: tuple[str, ...]) -> int:
        """An O_PATH fd of directory dest/parts (resolved in the root), creating missing ones (0755)."""
        try:
            return open_in_root(self.root_fd, self._cpath(parts))
        except FileNotFoundError:
            if not parts:
                raise
        parent = self.dir_fd(parts[:-1])
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
        finally:
            os.close(parent)
        return open_in_root(self.root_fd, self._cpath(parts))

    def _owner(self, member: tarfile.TarInfo) -> tuple[int, int]:
        uid, gid = self.owner if self.owner is not None else (member.uid, member.gid)
        return self.shift.to_host(uid, gid) if self.shift is not None else (uid, gid)

    def apply(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = split_path(member.name)
        if member.ischr() or member.isblk():
            raise InvalidArgument(f"invalid tar: entry {member.name!r} is a device file (not allowed)")
        if not member.isdir() and not parts:
            raise InvalidArgument(f"invalid tar: entry {member.name!r} replaces the destination directory")
        if not (member.isdir() or member.isreg() or member.issym() or member.islnk() or member.isfifo()):
            raise InvalidArgument(f"invalid tar: entry {member.name!r} has unsupported type {member.type!r}")
        if not parts:
            fd = self.dir_fd(())
            try:
                self._attrs(fd, ".", member)
            finally:
                os.close(fd)
            self.dir_times[()] = member.mtime
            return
        parent = self.dir_fd(parts[:-1])
        try:
            self._entry(tar, member, parts, parent, parts[-1])
        finally:
            os.close(parent)

    def _entry(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: tuple[str, ...], parent: int, name: str
    ) -> None:
        try:
            existing: os.stat_result | None = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            is_dir = stat.S_ISDIR(existing.st_mode)
            where = self._cpath(parts)
            if self.no_overwrite and is_dir and not member.isdir():
                raise InvalidArgument(f'cannot overwrite directory "{where}" with non-directory "{where}"')
            if self.no_overwrite and not is_dir and member.isdir():
                raise InvalidArgument(f'cannot overwrite non-directory "{where}" with directory "{where}"')
            if not (is_dir and member.isdir()):
                _remove_at(parent, name)
                existing = None
        if member.isdir():
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=parent)
            self._attrs(parent, name, member)
            self.dir_times[parts] = member.mtime
        elif member.isreg():
            self._regular(tar, member, parent, name)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            uid, gid = self._owner(member)
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        elif member.islnk():
            target = split_path(member.linkname, what="hard link target")
            if not target:
                raise InvalidArgument(f"invalid tar: entry {member.name!r} is a hard link to the destination")
            tparent = open_in_root(self.root_fd, self._cpath(target[:-1]))
            try:
                os.link(target[-1], name, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(tparent)
        else:
            os.mkfifo(name, 0o600, dir_fd=parent)
            self._attrs(parent, name, member)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)

    def _attrs(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        """Owner and mode of the directory or FIFO just made, through an fd of it (never a symlink a
        container process may have swapped in, which chmod would follow on the host)."""
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise InvalidArgument(f"invalid tar: entry {member.name!r} was replaced by a symlink")
            uid, gid = self._owner(member)
            os.chown(f"/proc/self/fd/{fd}", uid, gid)
            os.chmod(f"/proc/self/fd/{fd}", member.mode & 0o7777)  # after chown, which clears setuid
        finally:
            os.close(fd)

    def _regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        try:
            try:
                write_member_data(tar, member, fd)
            except BaseException:  # a full disk, a cut stream: no half-written file stays behind
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=parent)
                raise
            uid, gid = self._owner(member)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, member.mode & 0o7777)
            for key, value in member.pax_headers.items():
                if key.startswith("SCHILY.xattr.") and not key.startswith("SCHILY.xattr.trusted.overlay."):
                    with contextlib.suppress(OSError):
                        os.setxattr(fd, key[13:], value.encode("utf-8", "surrogateescape"))
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        for parts in sorted(self.dir_times, key=len, reverse=True):
            with contextlib.suppress(OSError):
                fd = open_in_root(
                    self.root_fd, self._cpath(parts), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                )
                try:
                    os.utime(fd, (self.dir_times[parts], self.dir_times[parts]))
                finally:
                    os.close(fd)


def extract_archive(
    root_fd: int,
    path: str,
    stream: BinaryIO,
    *,
    no_overwrite_dir_non_dir: bool = False,
    owner: tuple[int, int] | None = None,
    shift: IdShift | None = None,
) -> None:
    """Unpack the tar read from ``stream`` into directory ``path`` (its last symlink followed); a
    remapped container's files get its host ids (``shift``).

    FileNotFoundError when ``path`` is missing; InvalidArgument when it is not a directory or the tar
    is hostile (absolute or ``..`` names, device files) or would replace a directory with a file (or the
    reverse) under ``no_overwrite_dir_non_dir``. ``owner`` overrides the tar's uid/gid (``copyUIDGID``).
    """
    clean = _scoped_realpath(root_fd, posixpath.normpath("/" + path))
    try:
        fd = open_in_root(root_fd, clean)
    except NotADirectoryError:
        raise InvalidArgument("extraction point is not a directory") from None
    os.close(fd)
    extractor = _Extractor(root_fd, clean, no_overwrite_dir_non_dir, owner, shift)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in stream_members(tar):
                try:
                    extractor.apply(tar, member)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.ELOOP, errno.EISDIR):
                        raise InvalidArgument(f"invalid tar: entry {member.name!r}: {exc.strerror}") from exc
                    raise
        extractor.finish()
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid tar: {exc}") from exc


def container_user(root_fd: int, spec: str) -> tuple[int, int]:
    """uid and gid of Docker ``User`` ``spec`` from the container's own /etc/passwd and /etc/group."""
    from berth.runtime.linux.user import resolve

    fds: list[int] = []
    try:
        paths = []
        for name in ("/etc/passwd", "/etc/group"):
            try:
                fd = open_in_root(root_fd, name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                paths.append(Path("/nonexistent"))
                continue
            fds.append(fd)
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block the reader forever
                paths.append(Path("/nonexistent"))
                continue
            paths.append(Path(f"/proc/self/fd/{fd}"))
        user = resolve(spec, paths[0], paths[1])
        return user.uid, user.gid
    finally:
        for fd in fds:
            os.close(fd)
