"""``docker save``/``load``: our archive is Docker's format (skopeo and docker load read it), and we load
archives skopeo writes (docker-archive and OCI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]


def test_save_is_readable_by_skopeo_and_loads_back(berthd: Daemon, imported: str, tmp_path: Path) -> None:
    archive = tmp_path / "busybox.tar"
    berthd.docker("save", "-o", str(archive), "busybox", check=True)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    if shutil.which("skopeo"):
        out = subprocess.run(
            ["skopeo", "inspect", f"docker-archive:{archive}"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Os"] == "linux"
        out = subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    berthd.docker("rmi", "busybox", check=True)
    loaded = berthd.docker("load", "-i", str(archive), check=True)
    assert loaded.stdout.strip() == "Loaded image: busybox:latest"
    assert berthd.docker("images", "-q", "--no-trunc", check=True).stdout.strip() == imported


def test_load_archives_written_by_skopeo(berthd: Daemon, imported: str, tmp_path: Path) -> None:
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    ours = tmp_path / "ours.tar"
    berthd.docker("save", "-o", str(ours), "busybox", check=True)
    legacy = tmp_path / "legacy.tar"
    oci = tmp_path / "oci.tar"
    for dest in (f"docker-archive:{legacy}:skopeo/legacy:1", f"oci-archive:{oci}:v1"):
        subprocess.run(["skopeo", "copy", f"docker-archive:{ours}", dest], check=True, capture_output=True)
    assert (
        berthd.docker("load", "-i", str(legacy), check=True).stdout.strip() == "Loaded image: skopeo/legacy:1"
    )
    out = berthd.docker("load", "-i", str(oci), check=True).stdout.strip()
    assert out.startswith("Loaded image ID: sha256:")


def test_save_of_missing_image_fails_cleanly(berthd: Daemon, tmp_path: Path) -> None:
    result = berthd.docker("save", "-o", str(tmp_path / "x.tar"), "nothere")
    assert result.returncode == 1
    assert "No such image: nothere" in result.stderr


def test_save_and_export_refuse_a_device_or_a_pipe_as_docker_does(
    berthd: Daemon, imported: str, tmp_path: Path
) -> None:
    """``-o`` writes a temp file and renames it: onto /dev/null that would put a file in its place."""
    import os

    device, pipe = tmp_path / "null", tmp_path / "pipe"
    os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
    os.mkfifo(pipe)
    berthd.berth("create", "--name", "box", "busybox", "true", check=True)
    cases = [
        (["save", "-o", str(device), "busybox"], "failed to save image: cannot write to a character device file"),
        (["save", "-o", str(pipe), "busybox"], "failed to save image: cannot write to a named pipe (FIFO)"),
        (["save", "-o", str(tmp_path), "busybox"], "failed to save image: cannot write to a directory"),
        (["export", "-o", str(device), "box"], "failed to export container: cannot write to a character device file"),
    ]  # fmt: skip
    for argv, message in cases:
        for run in (berthd.docker, berthd.berth):
            result = run(*argv)
            assert result.returncode == 1 and message in result.stderr, (argv, result.stderr)
    assert os.stat(device).st_rdev == os.makedev(1, 3)  # still the device
    assert not [p.name for p in tmp_path.iterdir() if "tmp" in p.name]  # no temp file left
