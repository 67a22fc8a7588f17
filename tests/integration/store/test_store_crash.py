"""A daemon killed in the middle of an import or load leaves a consistent store; the next start cleans up."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from berth.engine.events import EventBus
from berth.engine.images import ImageService

pytestmark = [pytest.mark.root, pytest.mark.slow]

_CHILD = """
import sys
from pathlib import Path
from berth.engine.events import EventBus
from berth.engine.images import ImageService
svc = ImageService(Path(sys.argv[1]), events=EventBus(), in_use=dict, snapshotter="overlay")
with open(sys.argv[2], "rb") as f:
    if sys.argv[3] == "import":
        svc.import_image(f, repo="victim")
    else:
        svc.load(f)
print("done", flush=True)
"""


def _big_rootfs(path: Path, files: int = 4000, size: int = 16384) -> None:
    with tarfile.open(path, "w") as tar:
        for d in range(files // 100):
            info = tarfile.TarInfo(f"d{d}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for i in range(files):
            data = os.urandom(size)
            info = tarfile.TarInfo(f"d{i // 100}/f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.002)
    return False


def _extracting(root: Path) -> bool:
    snaps = root / "overlay"
    return snaps.exists() and any(
        p.is_dir() and p.name not in ("l", "tmp") and (p / "fs").exists() and any((p / "fs").iterdir())
        for p in snaps.iterdir()
    )


def _ingesting(root: Path) -> bool:
    ingest = root / "content" / "ingest"
    return ingest.exists() and any(p.stat().st_size > 0 for p in ingest.iterdir())


@pytest.mark.parametrize("phase", ["ingest", "extract"])
def test_kill_during_import(store_root: Path, phase: str) -> None:
    root = store_root / "image"
    tar = store_root / "rootfs.tar"
    _big_rootfs(tar)
    svc = ImageService(root, events=EventBus(), in_use=dict, snapshotter="overlay")
    with open(tar, "rb") as f:
        survivor = svc.import_image(f, repo="survivor").image_id
    svc.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(tar), "import"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        check = _ingesting if phase == "ingest" else _extracting
        # the second import of identical content may finish fast; either way the store must be consistent
        _wait_for(lambda: check(root) or child.poll() is not None)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    again = ImageService(root, events=EventBus(), in_use=dict, snapshotter="overlay")
    try:
        assert again.resolve("survivor").image_id == survivor
        assert list((root / "content" / "ingest").iterdir()) == []
        assert not [i for i in again.snapshotter.list() if i.key.startswith("extract-")]
        known = {p.name for p in (root / "overlay").iterdir()} - {
            "l",
            "tmp",
            "snapshots.db",
            "snapshots.db-wal",
            "snapshots.db-shm",
        }
        assert len(known) == len(again.snapshotter.list())
        assert len(os.listdir(root / "overlay" / "l")) == len(again.snapshotter.list())
        for record in again.records():
            for chain in record.chain_ids:
                assert again.snapshotter.exists(chain)
        for info in again.content.walk():
            again.content.read_bytes(info.digest)  # every stored blob still verifies
        mounts = again.snapshotter.prepare("after-crash", again.resolve("survivor").top_layer)
        assert mounts
        again.snapshotter.remove("after-crash")
    finally:
        again.close()


def test_kill_during_load_of_new_layers(store_root: Path) -> None:
    root = store_root / "image"
    tar = store_root / "rootfs.tar"
    _big_rootfs(tar)
    svc = ImageService(root, events=EventBus(), in_use=dict, snapshotter="overlay")
    with open(tar, "rb") as f:
        svc.import_image(f, repo="victim")
    archive = store_root / "save.tar"
    with open(archive, "wb") as out:
        svc.save(["victim"], out)
    svc.delete("victim")
    svc.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(archive), "load"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        _wait_for(lambda: _extracting(root) or child.poll() is not None)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    again = ImageService(root, events=EventBus(), in_use=dict, snapshotter="overlay")
    try:
        assert [i for i in again.snapshotter.list() if i.key.startswith("extract-")] == []
        assert len(again.list_images()) <= 1
        with open(archive, "rb") as f:
            assert again.load(f) == ["Loaded image: victim:latest"]
    finally:
        again.close()
