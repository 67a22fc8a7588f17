"""One suite for every Snapshotter (containerd's snapshots testsuite): naive, and overlay as root."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import AlreadyExists, Conflict, NotFound
from berth.oci.mount import Mount
from berth.store.snapshots import (
    CHANGE_ADDED,
    CHANGE_DELETED,
    CHANGE_MODIFIED,
    Kind,
    NaiveSnapshotter,
    OverlaySnapshotter,
    Snapshotter,
)

TEST_TMP_MARK = "berth-test-"  # tests/conftest.py watches mounts under such dirs


def _layer(entries: list[tuple[str, bytes | None]]) -> io.BytesIO:
    """A tar: (name, data) for files, (name/, None) for dirs, (".wh.x", b"") for whiteouts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 1_700_000_000
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(params=["naive", pytest.param("overlay", marks=pytest.mark.root)])
def snapshotter(request: pytest.FixtureRequest) -> Iterator[Snapshotter]:
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    snap: NaiveSnapshotter | OverlaySnapshotter = (
        NaiveSnapshotter(root / "snaps") if request.param == "naive" else OverlaySnapshotter(root / "snaps")
    )
    try:
        yield snap
    finally:
        snap.close()
        shutil.rmtree(root, ignore_errors=True)


def _commit_layer(snap: Snapshotter, name: str, parent: str, layer: io.BytesIO) -> None:
    key = f"extract-{name}"
    snap.prepare(key, parent)
    snap.apply_layer(key, layer)
    snap.commit(name, key)


def _read_merged(mounts: list[Mount], target: Path, path: str) -> bytes | None:
    """Mount ``mounts`` read-only-ish in a private mount namespace and read ``path`` (None if absent)."""
    mount = mounts[0]
    if mount.type == "bind":
        file = Path(mount.source) / path
        return file.read_bytes() if file.exists() else None
    opts = ",".join(mount.options)
    script = f'mount -t overlay overlay -o "{opts}" "{target}" && cat "{target}/{path}" 2>/dev/null; true'
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, check=True)
    return out.stdout if out.stdout else None


def test_prepare_commit_and_lineage(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "base", "", _layer([("etc/", None), ("etc/a", b"A"), ("etc/b", b"B")]))
    _commit_layer(snapshotter, "top", "base", _layer([("etc/", None), ("etc/.wh.a", b""), ("etc/c", b"C")]))
    info = snapshotter.stat("top")
    assert (info.kind, info.parent) == (Kind.COMMITTED, "base")
    mounts = snapshotter.prepare("container", "top")
    assert snapshotter.stat("container").kind == Kind.ACTIVE
    assert mounts == snapshotter.mounts("container")
    target = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    try:
        assert _read_merged(mounts, target, "etc/b") == b"B"
        assert _read_merged(mounts, target, "etc/c") == b"C"
        assert _read_merged(mounts, target, "etc/a") is None
    finally:
        target.rmdir()


def test_parentless_active_is_a_bind_mount(snapshotter: Snapshotter) -> None:
    mounts = snapshotter.prepare("scratch")
    assert len(mounts) == 1 and mounts[0].type == "bind"
    assert "rw" in mounts[0].options


def test_duplicate_key_and_missing_parent(snapshotter: Snapshotter) -> None:
    snapshotter.prepare("one")
    with pytest.raises(AlreadyExists):
        snapshotter.prepare("one")
    with pytest.raises(NotFound):
        snapshotter.prepare("two", "no-such-parent")
    with pytest.raises(NotFound):
        snapshotter.prepare("three", "one")  # an active snapshot cannot be a parent


def test_commit_name_taken(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "layer", "", _layer([("a", b"1")]))
    snapshotter.prepare("extract-again")
    snapshotter.apply_layer("extract-again", _layer([("a", b"1")]))
    with pytest.raises(AlreadyExists):
        snapshotter.commit("layer", "extract-again")


def test_remove_is_idempotent_and_refuses_parents(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "base", "", _layer([("a", b"1")]))
    snapshotter.prepare("child", "base")
    with pytest.raises(Conflict):
        snapshotter.remove("base")
    snapshotter.remove("child")
    snapshotter.remove("child")
    snapshotter.remove("base")
    assert snapshotter.list() == []


def test_changes_and_usage(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "base", "", _layer([("etc/", None), ("etc/keep", b"k"), ("etc/gone", b"g")]))
    snapshotter.prepare("ctr", "base")
    fs = snapshotter.fs("ctr")  # type: ignore[attr-defined]
    if isinstance(snapshotter, OverlaySnapshotter):
        (fs / "etc").mkdir()
        os.mknod(fs / "etc" / "gone", stat.S_IFCHR, os.makedev(0, 0))
        (fs / "etc" / "new").write_bytes(b"12345")
    else:
        (fs / "etc" / "gone").unlink()
        (fs / "etc" / "new").write_bytes(b"12345")
    changes = dict(snapshotter.changes("ctr"))
    assert changes["/etc/new"] == CHANGE_ADDED
    assert changes["/etc/gone"] == CHANGE_DELETED
    assert changes.get("/etc") in (CHANGE_MODIFIED, None)
    assert "/etc/keep" not in changes
    assert snapshotter.usage("ctr") >= 5


def test_export_merged_filesystem(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "base", "", _layer([("etc/", None), ("etc/a", b"A"), ("etc/b", b"B")]))
    _commit_layer(snapshotter, "top", "base", _layer([("etc/", None), ("etc/.wh.a", b""), ("etc/c", b"C")]))
    snapshotter.prepare("ctr", "top")
    out = io.BytesIO()
    snapshotter.export("ctr", out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = set(tar.getnames())
        assert {"etc", "etc/b", "etc/c"} <= names
        assert "etc/a" not in names
        member = tar.extractfile("etc/c")
        assert member is not None and member.read() == b"C"


def test_view_is_read_only(snapshotter: Snapshotter) -> None:
    _commit_layer(snapshotter, "base", "", _layer([("a", b"1")]))
    mounts = snapshotter.view("look", "base")
    assert snapshotter.stat("look").kind == Kind.VIEW
    assert "ro" in mounts[0].options or mounts[0].type == "overlay"


def test_cleanup_removes_unfinished_extractions(snapshotter: Snapshotter) -> None:
    snapshotter.prepare("extract-crashed")
    _commit_layer(snapshotter, "kept", "", _layer([("a", b"1")]))
    assert snapshotter.cleanup() >= 1
    assert not snapshotter.exists("extract-crashed")
    assert snapshotter.exists("kept")


def test_diff_is_a_layer_that_reproduces_the_changes(snapshotter: Snapshotter) -> None:
    _commit_layer(
        snapshotter,
        "base",
        "",
        _layer([("etc/", None), ("etc/keep", b"k"), ("etc/gone", b"g"), ("var/", None), ("var/old", b"o")]),
    )
    snapshotter.prepare("ctr", "base")
    fs = snapshotter.fs("ctr")  # type: ignore[attr-defined]
    if isinstance(snapshotter, OverlaySnapshotter):
        (fs / "etc").mkdir()
        os.mknod(fs / "etc" / "gone", stat.S_IFCHR, os.makedev(0, 0))
        (fs / "srv").mkdir()
    else:
        (fs / "etc" / "gone").unlink()
        (fs / "srv").mkdir()
    (fs / "etc" / "new").write_bytes(b"new")
    (fs / "srv" / "app").write_bytes(b"app")
    layer = io.BytesIO()
    snapshotter.diff("ctr", layer)
    layer.seek(0)
    with tarfile.open(fileobj=io.BytesIO(layer.getvalue())) as tar:
        names = set(tar.getnames())
    assert {"etc/.wh.gone", "etc/new", "srv", "srv/app"} <= names
    assert "etc/keep" not in names and "var/old" not in names
    _commit_layer(snapshotter, "next", "base", layer)
    snapshotter.prepare("check", "next")
    out = io.BytesIO()
    snapshotter.export("check", out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        merged = set(tar.getnames())
    assert {"etc/keep", "etc/new", "srv/app", "var/old"} <= merged
    assert "etc/gone" not in merged
