"""Fixtures for the image e2e tests: a small busybox rootfs tar, and an image imported from it."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon


def busybox_rootfs(path: Path, *, marker: str = "berth") -> Path:
    """A rootfs tar with the host's static busybox as /bin/sh (and a few applet links)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    with tarfile.open(path, "w") as tar:
        for d in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "ls", "cat", "echo", "true"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        data = f"{marker}\n".encode()
        info = tarfile.TarInfo("etc/marker")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return busybox_rootfs(tmp_path / "rootfs.tar")


@pytest.fixture
def imported(berthd: Daemon, rootfs: Path) -> str:
    """``docker import`` of ``rootfs`` as busybox:latest; returns the image id."""
    result = berthd.docker("import", str(rootfs), "busybox:latest", check=True)
    image_id = result.stdout.strip()
    assert image_id.startswith("sha256:"), result.stdout
    return image_id
