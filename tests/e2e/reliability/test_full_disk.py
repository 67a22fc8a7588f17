"""A full disk: berthd's data root on a 64 MB tmpfs made by the test. Writes that do not fit (import,
``cp`` into a container, commit, build, pull, load) fail with one line saying ``no space left on
device``, the store stays consistent (``system check`` is clean, nothing half-made is left), berthd
keeps serving, and the same work succeeds once space is freed. A container whose log fills the disk
runs on, its output dropped, with one line in berthd's log, and is logged again once there is room."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.runtime.linux import syscalls
from berth.testing.registry import RegistryProcess, start_berth_registry
from tests.e2e.conftest import Daemon, cleanup_daemon, start_daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]

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


# -- pull and load ----------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(size: int) -> tuple[bytes, bytes]:
    """(layer, config) of a one-layer image: an uncompressed tar of ``size`` random bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    layer = raw.getvalue()
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}  # fmt: skip
    return layer, json.dumps(config).encode()


def _push(registry: RegistryProcess, repo: str, layer: bytes, config: bytes) -> None:
    """``repo:1`` into ``registry`` over its HTTP API (monolithic uploads)."""
    auth = {"Authorization": "Basic YWxpY2U6cHc="}  # alice:pw
    for blob in (layer, config):
        status, headers, _ = registry.request("POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
        assert status == 202, status
        location = headers["Location"]
        status, _, body = registry.request(
            "PUT", f"{location}{'&' if '?' in location else '?'}digest={_sha(blob)}", data=blob, headers=auth
        )
        assert status == 201, (status, body)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": _sha(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": _sha(layer), "size": len(layer)}]}  # fmt: skip
    headers = {**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    status, _, body = registry.request(
        "PUT", f"/v2/{repo}/manifests/1", data=json.dumps(manifest).encode(), headers=headers
    )
    assert status == 201, (status, body)


def _saved(path: Path, tag: str, layer: bytes, config: bytes) -> Path:
    """A ``docker save`` tarball (manifest.json, the config, one layer) of the image."""
    config_name, layer_name = f"{_sha(config)[7:]}.json", f"{_sha(layer)[7:]}/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in ((config_name, config), (layer_name, layer), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _used(daemon: Daemon) -> int:
    return shutil.disk_usage(daemon.data_root).used


def _nothing_left(daemon: Daemon, before: int, name: str) -> None:
    """No half-pulled or half-loaded image: not listed, and its bytes are gone (no ingest, no snapshot)."""
    assert name not in daemon.berth("images", "-a", check=True).stdout
    assert _used(daemon) < before + 2 * _MB, f"{(_used(daemon) - before) / _MB:.1f} MB left behind"


@pytest.fixture
def image_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """berth-registry on the normal disk, its repositories public (anonymous pulls)."""
    config = tmp_path / "registry.yml"
    config.write_text("default_visibility: public\n")
    registry = start_berth_registry(tmp_path / "registry", admins={"alice": "pw"}, config=config)
    try:
        yield registry
    finally:
        registry.stop()


def test_a_pull_or_load_that_does_not_fit_fails_cleanly_and_works_once_the_disk_grows(
    small_disk: Daemon, image_registry: RegistryProcess, tmp_path: Path
) -> None:
    daemon, registry = small_disk, image_registry
    big, small = _image(80 * _MB), _image(4 * _MB)
    _push(image_registry, "alice/big", *big)
    _push(image_registry, "alice/small", *small)
    before = _used(daemon)

    for cli in (daemon.berth, daemon.docker):
        _one_line_enospc(cli("pull", f"{registry.host}/alice/big:1"), f"{cli.__name__} pull")
        _healthy(daemon)
        _nothing_left(daemon, before, "alice/big")
    saved = _saved(tmp_path / "big.tar", "loaded:1", *big)
    _one_line_enospc(daemon.berth("load", "-i", str(saved)), "berth load")
    _one_line_enospc(daemon.docker("load", "-i", str(saved)), "docker load")
    _healthy(daemon)
    _nothing_left(daemon, before, "loaded")

    daemon.berth("pull", f"{registry.host}/alice/small:1", check=True)  # what fits still does
    daemon.docker("load", "-i", str(_saved(tmp_path / "small.tar", "small:1", *small)), check=True)
    syscalls.mount("tmpfs", str(daemon.data_root), "tmpfs", syscalls.MS_REMOUNT, "size=256m")
    daemon.docker("pull", f"{registry.host}/alice/big:1", check=True)
    daemon.berth("load", "-i", str(saved), check=True)
    listed = daemon.berth("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert {f"{registry.host}/alice/big:1", "loaded:1", "small:1"} <= set(listed), listed
    _healthy(daemon)


# -- container logs ---------------------------------------------------------------------------------------


def _numbered(lines: int) -> str:
    """A shell command printing ``lines`` numbered lines of 1,000 bytes (1 kB of log record each)."""
    return f"awk 'BEGIN {{ for (i = 1; i <= {lines}; i++) printf \"%0999d\\n\", i }}'"


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _whole_records(path: Path) -> list[int]:
    """The numbers logged in ``path``; every line must be a whole json-file record."""
    return [int(json.loads(line)["log"]) for line in path.read_bytes().splitlines()]


def test_a_log_that_fills_the_disk_drops_output_keeps_the_container_and_resumes(small_disk: Daemon) -> None:
    """100 MB of output into a log on a 64 MB disk: the container runs on (its output dropped, as Docker
    drops it), berthd logs one line, ``logs`` reads what was written (no torn record), and once space is
    freed new output is logged again. With ``max-size`` rotation the rotation, which removes the
    oldest file, frees room and logging goes on by itself: one line in berthd's log for it all. On the
    full disk containers can still be stopped and removed, which frees what their logs held."""
    daemon = small_disk
    sleeper = daemon.berth("run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    container = daemon.berth(
        "run", "-d", "--log-opt", "max-size=1g", "--log-opt", "max-file=1", "busybox",
        "sh", "-c", f"{_numbered(100_000)}; exec sleep 1000",
    ).stdout.strip()  # fmt: skip
    assert container, "run -d failed"
    log_path = Path(daemon.berth("inspect", "-f", "{{.LogPath}}", container, check=True).stdout.strip())
    daemon.berth("exec", container, "sh", "-c", "while pidof awk >/dev/null; do sleep 0.1; done", check=True)
    assert daemon.berth("inspect", "-f", "{{.State.Status}}", container).stdout.strip() == "running"
    notice = f"container {container[:12]}: cannot write log {log_path}: no space left on device"
    _wait_for("berthd to log the full disk", lambda: notice in daemon.log_text(), 10)
    assert daemon.log_text().count("cannot write log") == 1
    _healthy(daemon)
    logged = _whole_records(log_path)
    # what fitted, in order; later lines only where a write found room again (a cut-back partial one)
    assert logged[:30_000] == list(range(1, 30_001)) and logged == sorted(logged) and len(logged) < 64_000
    shown = daemon.berth("logs", "--tail", "1", container, check=True).stdout
    assert int(shown) == logged[-1]

    log_path.write_bytes(b"")  # space freed, as `truncate -s 0` frees a Docker log
    daemon.berth("exec", container, "sh", "-c", "echo 7 > /proc/1/fd/1", check=True)
    _wait_for("new output to be logged", lambda: log_path.stat().st_size > 0, 10)
    assert daemon.berth("logs", container, check=True).stdout == "7\n"

    filler = daemon.data_root / "filler"  # the disk nearly full again; 10 MB files, two kept
    free = shutil.disk_usage(daemon.data_root).free
    subprocess.run(["fallocate", "-l", str(free - 15 * _MB), str(filler)], check=True)
    rotating = daemon.berth(
        "run", "-d", "--log-opt", "max-size=10m", "--log-opt", "max-file=2", "busybox",
        "sh", "-c", _numbered(60_000),
    ).stdout.strip()  # fmt: skip
    assert daemon.berth("wait", rotating, timeout=60).stdout.strip() == "0"
    rotated = Path(daemon.berth("inspect", "-f", "{{.LogPath}}", rotating, check=True).stdout.strip())
    files = sorted(rotated.parent.glob("*-json.log*"))
    assert [p.name for p in files] == [rotated.name, rotated.name + ".1"]
    assert all(p.stat().st_size <= 10 * _MB for p in files)
    numbers = _whole_records(files[1]) + _whole_records(files[0])
    # Only 15 MB fitted at first: had logging stopped there, nothing after line ~15,000 would be logged.
    assert numbers == sorted(numbers) and numbers[-1] > 40_000, numbers[-1:]
    assert daemon.log_text().count(f"container {rotating[:12]}: cannot write log") == 1

    topped = daemon.data_root / "filler2"  # full to the last block
    subprocess.run(["dd", "if=/dev/zero", f"of={topped}", "bs=1M"], capture_output=True)
    assert shutil.disk_usage(daemon.data_root).free < _MB
    daemon.berth("stop", "-t", "1", container, check=True)
    daemon.berth("rm", "-f", sleeper, check=True)
    daemon.berth("rm", container, rotating, check=True)
    assert daemon.berth("ps", "-aq", check=True).stdout == ""
    _healthy(daemon)
    filler.unlink()
    topped.unlink()
