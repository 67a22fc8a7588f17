"""A full disk: berthd's data root on a 64 MB tmpfs made by the test. Writes that do not fit (import,
``cp`` into a container, commit, build) fail with one line saying ``no space left on device``, the
store stays consistent (``system check`` is clean), berthd keeps serving, and the same work succeeds
once space is freed."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.linux import syscalls
from tests.e2e.conftest import Daemon, cleanup_daemon, start_daemon

pytestmark = pytest.mark.root

_MB = 1 << 20


@pytest.fixture
def small_disk(tmp_root: Path) -> Iterator[Daemon]:
    data = tmp_root / "data"
    data.mkdir()
    syscalls.mount("tmpfs", str(data), "tmpfs", 0, "size=64m,mode=0711")
    daemon = start_daemon(tmp_root, f"berth-test-{uuid.uuid4().hex[:8]}")
    try:
        daemon.berth("bootstrap", "busybox", timeout=120, check=True)
        yield daemon
    finally:
        cleanup_daemon(daemon)


def _big_tar(path: Path, size: int) -> Path:
    """A tar holding one file of ``size`` random (incompressible) bytes."""
    payload = path.parent / "payload.bin"
    with open(payload, "wb") as out:
        for _ in range(size // _MB):
            out.write(os.urandom(_MB))
    subprocess.run(["tar", "-C", str(payload.parent), "-cf", str(path), payload.name], check=True)
    payload.unlink()
    return path


def _one_line_enospc(result: subprocess.CompletedProcess[str], doing: str) -> None:
    assert result.returncode != 0, f"{doing} fitted on a 64 MB disk"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0].lower(), (doing, result.stderr)


def _healthy(daemon: Daemon) -> None:
    assert daemon.berth("ps", "-a").returncode == 0  # still serving
    check = daemon.berth("system", "check")
    assert check.stdout == "no problems found\n", check.stdout


def test_writes_that_do_not_fit_fail_cleanly_and_work_once_space_is_freed(
    small_disk: Daemon, tmp_path: Path
) -> None:
    daemon = small_disk
    big = _big_tar(tmp_path / "big.tar", 80 * _MB)
    _one_line_enospc(daemon.berth("import", str(big), "toobig:1"), "import")
    _healthy(daemon)
    assert "toobig" not in daemon.berth("images", check=True).stdout

    daemon.berth("create", "--name", "box", "busybox", "true", check=True)
    _one_line_enospc(daemon.berth("cp", str(big), "box:/big.tar"), "cp into a container")
    _healthy(daemon)

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY big.tar /\n")
    os.link(big, context / "big.tar")
    _one_line_enospc(daemon.berth("build", "-q", "-t", "built:1", str(context)), "build")
    _healthy(daemon)
    assert "built" not in daemon.berth("images", check=True).stdout

    filler = daemon.data_root / "filler"  # someone else's file filling the disk …
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
    _one_line_enospc(daemon.berth("commit", "box", "snap:1"), "commit")
    _healthy(daemon)
    filler.unlink()  # … and freed: the same work now succeeds

    small = _big_tar(tmp_path / "small.tar", 4 * _MB)
    daemon.berth("import", str(small), "fits:1", check=True)
    daemon.berth("cp", str(small), "box:/small.tar", check=True)
    daemon.berth("commit", "box", "snap:1", check=True)
    (context / "big.tar").unlink()
    os.link(small, context / "big.tar")
    daemon.berth("build", "-q", "-t", "built:1", str(context), check=True)
    _healthy(daemon)
