"""Small images made in code for the store and image-service unit tests (no stored blobs)."""

from __future__ import annotations

import io
import tarfile


def layer_tar(files: dict[str, bytes], *, dirs: tuple[str, ...] = ()) -> bytes:
    """A layer tar with ``dirs`` then ``files`` (``.wh.`` names are whiteouts)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_600_000_000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def rootfs_tar() -> bytes:
    return layer_tar({"bin/sh": b"#!fake shell\n", "etc/hostname": b"berth\n"}, dirs=("bin", "etc"))
