"""mount(2)/umount2(2) for the one place the store mounts on the host: ``export`` (read-only, temporary)."""

from __future__ import annotations

import ctypes
import errno
import os

_libc = ctypes.CDLL(None, use_errno=True)

MS_RDONLY = 1
MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    """mount(2); raises OSError with the errno."""
    rc = _libc.mount(
        source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags), data.encode() or None
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def umount(target: str, *, detach: bool = False) -> None:
    """umount2(2); a target that is not mounted (EINVAL) or gone (ENOENT) is fine."""
    rc = _libc.umount2(target.encode(), MNT_DETACH if detach else 0)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
