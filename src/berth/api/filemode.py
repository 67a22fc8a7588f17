"""Go's ``os.FileMode`` as used in ``X-Docker-Container-Path-Stat`` (not a Unix st_mode).

The low 9 bits are permissions; file types and setuid/setgid/sticky are high bits.
"""

from __future__ import annotations

import stat

MODE_DIR = 1 << 31
MODE_APPEND = 1 << 30
MODE_EXCLUSIVE = 1 << 29
MODE_TEMPORARY = 1 << 28
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_IRREGULAR = 1 << 19
MODE_PERM = 0o777


def from_st_mode(st_mode: int) -> int:
    """Go FileMode for a Unix ``st_mode``."""
    mode = st_mode & MODE_PERM
    fmt = stat.S_IFMT(st_mode)
    if fmt == stat.S_IFDIR:
        mode |= MODE_DIR
    elif fmt == stat.S_IFLNK:
        mode |= MODE_SYMLINK
    elif fmt == stat.S_IFBLK:
        mode |= MODE_DEVICE
    elif fmt == stat.S_IFCHR:
        mode |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif fmt == stat.S_IFIFO:
        mode |= MODE_NAMED_PIPE
    elif fmt == stat.S_IFSOCK:
        mode |= MODE_SOCKET
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def to_st_mode(mode: int) -> int:
    """Unix ``st_mode`` for a Go FileMode (regular file when no type bit is set)."""
    st = mode & MODE_PERM
    if mode & MODE_DIR:
        st |= stat.S_IFDIR
    elif mode & MODE_SYMLINK:
        st |= stat.S_IFLNK
    elif mode & MODE_CHAR_DEVICE:
        st |= stat.S_IFCHR
    elif mode & MODE_DEVICE:
        st |= stat.S_IFBLK
    elif mode & MODE_NAMED_PIPE:
        st |= stat.S_IFIFO
    elif mode & MODE_SOCKET:
        st |= stat.S_IFSOCK
    else:
        st |= stat.S_IFREG
    if mode & MODE_SETUID:
        st |= stat.S_ISUID
    if mode & MODE_SETGID:
        st |= stat.S_ISGID
    if mode & MODE_STICKY:
        st |= stat.S_ISVTX
    return st


def is_dir(mode: int) -> bool:
    return bool(mode & MODE_DIR)


def is_symlink(mode: int) -> bool:
    return bool(mode & MODE_SYMLINK)
