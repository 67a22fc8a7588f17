"""Hostile layer tars never write outside the layer directory, and leave nothing behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from store_tars import Entry, build_tar

from berth.errors import InvalidArgument
from berth.store.snapshots import OverlaySnapshotter
from berth.store.unpack import Whiteouts, apply_layer

pytestmark = pytest.mark.root

D, F, SYM, LNK, CHR, BLK = (
    tarfile.DIRTYPE,
    tarfile.REGTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
)

HOSTILE: dict[str, list[Entry]] = {
    "dotdot": [Entry("../escaped", data=b"x")],
    "dotdot-nested": [Entry("a/", D, mode=0o755), Entry("a/../../escaped", data=b"x")],
    "absolute": [Entry("/tmp/escaped", data=b"x")],
    "symlink-parent": [Entry("evil", SYM, linkname="{outside}"), Entry("evil/escaped", data=b"x")],
    "symlink-parent-relative": [
        Entry("evil", SYM, linkname="../../../../../../.."),
        Entry("evil/escaped", data=b"x"),
    ],
    "symlink-parent-deep": [
        Entry("a/", D, mode=0o755),
        Entry("a/b", SYM, linkname="{outside}"),
        Entry("a/b/c/escaped", data=b"x"),
    ],
    "hardlink-outside": [Entry("link", LNK, linkname="../../../../../../etc/hostname")],
    "hardlink-absolute": [Entry("link", LNK, linkname="/etc/hostname")],
    "hardlink-through-symlink": [
        Entry("evil", SYM, linkname="{outside}"),
        Entry("link", LNK, linkname="evil/secret"),
    ],
    "char-device": [Entry("dev-null", CHR, devmajor=1, devminor=3)],
    "block-device": [Entry("sda", BLK, devmajor=8, devminor=0)],
    "duplicate": [Entry("file", data=b"one"), Entry("file", data=b"two")],
    "duplicate-after-symlink": [Entry("x", SYM, linkname="{outside}/escaped"), Entry("x", data=b"x")],
    "whiteout-then-same-name": [Entry(".wh.file", data=b""), Entry("file", data=b"x")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layer_is_refused_and_nothing_escapes(case: str, store_root: Path) -> None:
    outside = store_root / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    entries = [
        Entry(
            e.name,
            e.type,
            e.data,
            e.linkname.replace("{outside}", str(outside)),
            e.mode,
            devmajor=e.devmajor,
            devminor=e.devminor,
        )
        for e in HOSTILE[case]
    ]
    snap = OverlaySnapshotter(store_root / "snaps")
    snap.prepare("extract-1")
    before = sorted(p.name for p in store_root.iterdir())
    with pytest.raises(InvalidArgument) as info:
        snap.apply_layer("extract-1", io.BytesIO(build_tar(entries)))
    message = str(info.value)
    assert "\n" not in message and message.startswith("invalid layer tar")
    snap.remove("extract-1")
    assert sorted(p.name for p in store_root.iterdir()) == before
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "secret"
    assert not Path("/tmp/escaped").exists()
    assert [i.key for i in snap.list()] == []
    layer_dirs = [p for p in (store_root / "snaps").iterdir() if p.name not in ("l", "tmp") and p.is_dir()]
    assert layer_dirs == []
    assert os.listdir(store_root / "snaps" / "l") == []


def test_symlinks_are_created_not_followed(store_root: Path) -> None:
    target = store_root / "layer"
    target.mkdir()
    data = build_tar(
        [
            Entry("bin/", D, mode=0o755),
            Entry("bin/sh", SYM, linkname="/bin/busybox"),
            Entry("etc/", D, mode=0o755),
            Entry("etc/passwd", SYM, linkname="../../../../etc/passwd"),
        ]
    )
    apply_layer(target, io.BytesIO(data), whiteouts=Whiteouts.OVERLAY)
    assert os.readlink(target / "bin" / "sh") == "/bin/busybox"
    assert os.readlink(target / "etc" / "passwd") == "../../../../etc/passwd"


def test_attributes_are_applied(store_root: Path) -> None:
    target = store_root / "layer"
    target.mkdir()
    data = build_tar(
        [
            Entry("usr/", D, mode=0o755),
            Entry("usr/bin/", D, mode=0o750, uid=2, gid=3),
            Entry("usr/bin/suid", data=b"#!", mode=0o4755, uid=1000, gid=1000),
            Entry("usr/bin/hard", LNK, linkname="usr/bin/suid"),
            Entry("usr/bin/cap", data=b"x", pax={"SCHILY.xattr.user.note": "hello"}),
            Entry("usr/bin/forged", data=b"x", pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
            Entry("fifo", tarfile.FIFOTYPE, mode=0o600),
        ]
    )
    stats = apply_layer(target, io.BytesIO(data), whiteouts=Whiteouts.OVERLAY)
    suid = os.stat(target / "usr/bin/suid")
    assert stat.S_IMODE(suid.st_mode) == 0o4755 and (suid.st_uid, suid.st_gid) == (1000, 1000)
    assert suid.st_nlink == 2 and os.stat(target / "usr/bin/hard").st_ino == suid.st_ino
    assert int(suid.st_mtime) == 1_600_000_000
    bindir = os.stat(target / "usr/bin")
    assert (stat.S_IMODE(bindir.st_mode), bindir.st_uid, bindir.st_gid) == (0o750, 2, 3)
    assert int(bindir.st_mtime) == 1_600_000_000
    assert os.getxattr(target / "usr/bin/cap", "user.note") == b"hello"
    with pytest.raises(OSError):
        os.getxattr(target / "usr/bin/forged", "trusted.overlay.opaque")
    assert stat.S_ISFIFO(os.lstat(target / "fifo").st_mode)
    assert stats.size == 4 and stats.tar_size == len(data)


def test_whiteouts_in_overlay_form(store_root: Path) -> None:
    target = store_root / "layer"
    target.mkdir()
    data = build_tar(
        [
            Entry("etc/", D, mode=0o755),
            Entry("etc/.wh.shadow", data=b""),
            Entry("var/", D, mode=0o755),
            Entry("var/cache/", D, mode=0o755),
            Entry("var/cache/.wh..wh..opq", data=b""),
            Entry("var/cache/fresh", data=b"new"),
        ]
    )
    apply_layer(target, io.BytesIO(data), whiteouts=Whiteouts.OVERLAY)
    st = os.lstat(target / "etc" / "shadow")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (target / "etc" / ".wh.shadow").exists()
    assert os.getxattr(target / "var" / "cache", "trusted.overlay.opaque") == b"y"
    assert not (target / "var" / "cache" / ".wh..wh..opq").exists()
    assert (target / "var" / "cache" / "fresh").read_bytes() == b"new"


def test_whiteouts_delete_in_naive_form(store_root: Path) -> None:
    target = store_root / "layer"
    (target / "etc").mkdir(parents=True)
    (target / "etc" / "shadow").write_text("lower")
    (target / "var" / "cache" / "old" / "deep").mkdir(parents=True)
    (target / "var" / "cache" / "stale").write_text("lower")
    data = build_tar(
        [
            Entry("etc/.wh.shadow", data=b""),
            Entry("var/cache/fresh", data=b"new"),
            Entry("var/cache/.wh..wh..opq", data=b""),
        ]
    )
    apply_layer(target, io.BytesIO(data), whiteouts=Whiteouts.DELETE)
    assert not (target / "etc" / "shadow").exists()
    assert sorted(os.listdir(target / "var" / "cache")) == ["fresh"]


def test_truncated_and_garbage_archives(store_root: Path) -> None:
    target = store_root / "layer"
    target.mkdir()
    data = build_tar([Entry("big", data=b"x" * 100_000)])
    with pytest.raises(InvalidArgument):
        apply_layer(target, io.BytesIO(data[:50_000]), whiteouts=Whiteouts.OVERLAY)
    target2 = store_root / "layer2"
    target2.mkdir()
    with pytest.raises(InvalidArgument):
        apply_layer(target2, io.BytesIO(b"\x1f\x8bnot really gzip" * 10), whiteouts=Whiteouts.OVERLAY)
