"""``berth bootstrap busybox``: the rootfs tar built from the host's static busybox, and mirror lookup."""

from __future__ import annotations

import io
import os
import shutil
import tarfile

import pytest

from berth.cli.bootstrap import apt_mirror, build_busybox_rootfs, is_static_elf
from berth.cli.command import CLIError

BUSYBOX = "/usr/bin/busybox"
needs_busybox = pytest.mark.skipif(
    not os.path.exists(BUSYBOX) or not is_static_elf(BUSYBOX), reason="busybox-static not installed"
)


@needs_busybox
def test_busybox_rootfs_layout() -> None:
    buf = io.BytesIO()
    build_busybox_rootfs(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        group = tar.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert members["root"].isdir() and members["root"].mode == 0o700
    assert passwd.startswith("root:x:0:0:") and "nobody:x:65534:65534:" in passwd
    assert group.startswith("root:x:0:") and "nobody:x:65534:" in group
    assert all(not name.startswith("/") and ".." not in name.split("/") for name in members)
    # every applet's parent directory is in the tar before it
    for name in members:
        parent = os.path.dirname(name)
        assert not parent or members[parent].isdir(), name


def test_dynamic_binary_is_refused(tmp_path: object) -> None:
    python = shutil.which("python3") or "/usr/bin/python3"
    if is_static_elf(python):
        pytest.skip("python3 is static here")
    with pytest.raises(CLIError, match="not statically linked"):
        build_busybox_rootfs(io.BytesIO(), python)
    with pytest.raises(CLIError, match="not found"):
        build_busybox_rootfs(io.BytesIO(), os.path.join(str(tmp_path), "absent"))


def test_apt_mirror_from_sources_list(tmp_path: object) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc/apt/sources.list.d"))
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as fh:
        fh.write(
            "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\n"
            "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
        )
    assert apt_mirror(root) == "http://mirror.example/debian"


def test_apt_mirror_from_deb822(tmp_path: object) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc/apt/sources.list.d"))
    with open(os.path.join(root, "etc/apt/sources.list.d/debian.sources"), "w") as fh:
        fh.write("Types: deb\nURIs: http://deb.example.org/debian\nSuites: bookworm\nComponents: main\n")
    assert apt_mirror(root) == "http://deb.example.org/debian"
    assert apt_mirror(os.path.join(root, "nothing")) == "http://deb.debian.org/debian"
