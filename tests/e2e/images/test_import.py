"""``docker import``: a rootfs tar (file or stdin, plain or compressed) becomes a one-layer image."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


def test_import_file_and_list(berthd: Daemon, imported: str) -> None:
    listing = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout
    assert listing.split() == ["busybox:latest", imported.split(":")[1][:12]]
    assert berthd.docker("images", "-q", check=True).stdout.strip() == imported.split(":")[1][:12]


def test_import_from_stdin_with_changes_and_message(berthd: Daemon, rootfs: Path) -> None:
    result = berthd.docker(
        "import",
        "--change",
        'CMD ["/bin/sh"]',
        "--change",
        "ENV A=1",
        "-m",
        "from stdin",
        "-",
        "localhost:5000/team/base:v1",
        input=gzip.compress(rootfs.read_bytes()),
        check=True,
    )
    assert result.stdout.strip().startswith("sha256:")
    fmt = "{{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}}"
    inspect = berthd.docker("image", "inspect", "--format", fmt, "localhost:5000/team/base:v1", check=True)
    assert inspect.stdout.strip() == '["/bin/sh"] ["A=1"] from stdin'


def test_import_rejects_hostile_tar(berthd: Daemon, tmp_path: Path) -> None:
    import io
    import tarfile

    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    result = berthd.docker("import", str(bad), "bad:1")
    assert result.returncode != 0
    assert "invalid layer tar" in result.stderr and "'..'" in result.stderr
    assert berthd.docker("images", "-q", check=True).stdout.strip() == ""
