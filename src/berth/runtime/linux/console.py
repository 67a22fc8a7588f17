"""Terminals in the container's own devpts, as runc allocates them: the container sees its pty as
/dev/pts/N (so ``tty``, ``ttyname()`` and ps's TTY column work), not a host pty it cannot name.

The init opens /dev/pts/ptmx itself once it is inside its root and hands the master back over its
sync socket; an exec's pty is opened from the host through the init's root with ``openat2`` and
RESOLVE_IN_ROOT, so no symlink the container made can point the daemon elsewhere.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import os
import socket
import struct
import termios

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _pair_from_master(master: int, height: int, width: int) -> tuple[int, int]:
    try:
        fcntl.ioctl(master, TIOCGPTN, b"\0" * 4)  # only a pty master answers: it is one
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        if height and width:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    except OSError:
        os.close(master)
        raise
    return master, int(slave)


def open_here(height: int = 0, width: int = 0) -> tuple[int, int]:
    """(master, slave) from the devpts at /dev/pts of the caller's root (the container's init)."""
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return _pair_from_master(master, height, width)


def open_in(init_pid: int, height: int = 0, width: int = 0) -> tuple[int, int]:
    """(master, slave) from the devpts of the container whose init is ``init_pid``; the host's own
    devpts when the container has none that answers (its /dev/pts replaced by a bind, say)."""
    try:
        root = os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return _host_pair(height, width)
    try:
        how = _OpenHow(os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        master = int(
            _libc.syscall(_SYS_OPENAT2, root, b"dev/pts/ptmx", ctypes.byref(how), ctypes.sizeof(how))
        )
    finally:
        os.close(root)
    if master < 0:
        return _host_pair(height, width)
    try:
        return _pair_from_master(master, height, width)
    except OSError:
        return _host_pair(height, width)


def _host_pair(height: int, width: int) -> tuple[int, int]:
    master, slave = os.openpty()
    if height and width:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    return master, slave


def make_controlling(slave: int) -> None:
    """Make ``slave`` the caller's controlling terminal and its stdio (the caller has just setsid)."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target, inheritable=True)


def send_with_fd(sock: socket.socket, data: bytes, fd: int) -> None:
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def receive_with_fd(sock: socket.socket, size: int = 65536) -> tuple[bytes, int | None]:
    """One message and the descriptor that came with it, if any (made close-on-exec)."""
    data, ancillary, _flags, _address = sock.recvmsg(size, socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(payload) >= 4:
            return data, array.array("i", payload[:4])[0]
    return data, None
