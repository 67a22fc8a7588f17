"""User namespaces for containers: the id maps, a namespace made only to carry them, and idmapped mounts.

A remapped container's root is an unprivileged host uid (``uidMappings``: container 0 → host START).
Its image layers stay as they are on disk (owned by host 0, shared with every other container):
each lower layer is seen through an *idmapped* mount (``mount_setattr(MOUNT_ATTR_IDMAP)``, with a
user namespace that has the container's maps), so on-disk 0 reads as host START and the container's
root owns its files; what it writes lands in its own upper layer as host START. Binds and volumes get
the same idmapped view. The namespace for ``MOUNT_ATTR_IDMAP`` is made by a short-lived child (any
namespace with the same maps will do), before the container's own, which its init makes last.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berth.runtime.linux import syscalls as sc

_SYS_MOUNT_SETATTR = 442
_MOUNT_ATTR_IDMAP = 0x00100000
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_libc = ctypes.CDLL(None, use_errno=True)

IdMap = Mapping[str, object]  # one OCI LinuxIDMapping: containerID, hostID, size


@dataclass(frozen=True, slots=True)
class Remapping:
    """A remapped container's maps as its init needs them: the namespace fd for idmapped mounts and
    the host ids of the container's root."""

    fd: int
    root_uid: int
    root_gid: int
    uid_mappings: Sequence[IdMap]
    gid_mappings: Sequence[IdMap]

    @classmethod
    def of(cls, linux: Mapping[str, object]) -> Remapping | None:
        """For a spec's ``linux`` with a user namespace and maps (None otherwise); makes the namespace."""
        namespaces = linux.get("namespaces")
        wanted = isinstance(namespaces, list) and any(
            isinstance(ns, dict) and ns.get("type") == "user" and not ns.get("path") for ns in namespaces
        )
        uids, gids = linux.get("uidMappings"), linux.get("gidMappings")
        if not wanted or not isinstance(uids, list) or not isinstance(gids, list) or not uids or not gids:
            return None
        return cls(namespace_fd(uids, gids), host_id(uids), host_id(gids), uids, gids)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def map_text(mappings: Sequence[IdMap]) -> str:
    """The contents of /proc/PID/uid_map (or gid_map) for OCI mappings."""
    return "".join(
        f"{int(str(m['containerID']))} {int(str(m['hostID']))} {int(str(m['size']))}\n" for m in mappings
    )


def host_id(mappings: Sequence[IdMap], container_id: int = 0) -> int:
    """The host id that ``container_id`` maps to (-1: unmapped)."""
    for m in mappings:
        start, host, size = int(str(m["containerID"])), int(str(m["hostID"])), int(str(m["size"]))
        if start <= container_id < start + size:
            return host + container_id - start
    return -1


def write_maps(pid: int, uid_mappings: Sequence[IdMap], gid_mappings: Sequence[IdMap]) -> None:
    """Write ``pid``'s maps (it has just unshared its user namespace; we hold CAP_SETUID above it)."""
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(map_text(uid_mappings))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(map_text(gid_mappings))


def namespace_fd(uid_mappings: Sequence[IdMap], gid_mappings: Sequence[IdMap]) -> int:
    """An fd of a user namespace with these maps (its maker is gone: the fd keeps it alive)."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"u")
            os.read(hold_r, 1)  # until the parent has opened our namespace
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise OSError("the user namespace helper failed")
        write_maps(pid, uid_mappings, gid_mappings)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)  # the helper exits
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def idmapped_bind(source: str, target: str, userns_fd: int, *, recursive: bool = True) -> None:
    """Bind ``source`` (``recursive``: and the mounts below it) on ``target``, seen through
    ``userns_fd``'s maps. OSError (EINVAL for a filesystem that cannot be idmapped) leaves nothing
    mounted."""
    tree = sc.open_tree_clone(source, recursive=recursive)
    try:
        attr = _MountAttr(_MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        flags = _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0)
        if _libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", flags, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"idmapping {source}: {os.strerror(err)}")
        sc.move_mount(tree, target)
    finally:
        os.close(tree)


def shifted_copy(layer: str, remap: Remapping) -> str:
    """The chown-copy fallback for kernels without idmapped overlay layers: a copy of ``layer`` beside
    it (inside its snapshot directory, so removing the snapshot removes it) with every owner shifted
    into the container's range; made once per range (atomically: a copy being made is never used)."""
    layer = os.path.realpath(layer)  # a short link (overlay/l/ID): the copy goes beside the layer itself
    dest = f"{layer.rstrip('/')}.remap-{remap.root_uid}-{remap.root_gid}"
    if os.path.isdir(dest):
        return dest
    partial = f"{dest}.partial-{secrets.token_hex(6)}"  # (every init is pid 1: not a pid)
    subprocess.run(["cp", "-a", "--reflink=auto", layer, partial], check=True, capture_output=True)
    uid_size = sum(int(str(m["size"])) for m in remap.uid_mappings)
    gid_size = sum(int(str(m["size"])) for m in remap.gid_mappings)

    def shift(path: str) -> None:
        st = os.lstat(path)
        uid = st.st_uid + remap.root_uid if st.st_uid < uid_size else st.st_uid
        gid = st.st_gid + remap.root_gid if st.st_gid < gid_size else st.st_gid
        os.lchown(path, uid, gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode))  # chown cleared setuid/setgid: put them back

    shift(partial)
    for directory, dirs, files in os.walk(partial):
        for name in (*dirs, *files):
            shift(os.path.join(directory, name))
    try:
        os.rename(partial, dest)
    except OSError:  # another container of the same range made it first
        shutil.rmtree(partial, ignore_errors=True)
    return dest
