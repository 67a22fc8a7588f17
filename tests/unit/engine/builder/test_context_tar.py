"""The spooled build context: its Dockerfile read from the tar's headers, its files unpacked by GNU
tar, scoped to the context (hostile entries refused in one line, nothing written outside)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.engine.builder import context_tar
from berth.engine.builder.context_tar import ContextTar
from berth.errors import InvalidArgument


def _tar(
    path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], fmt: int = tarfile.PAX_FORMAT
) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_a_file_is_read_from_the_headers_whatever_the_names_length(tmp_path: Path, fmt: int) -> None:
    deep = "/".join(["directory"] * 12) + "/Dockerfile"  # 131 characters: a long name in each format
    spooled = _tar(
        tmp_path / "c.tar",
        [
            ("./a", b"x" * 1000),
            ("./Dockerfile", b"FROM busybox\n"),
            (deep, b"FROM scratch\n"),
            ("empty", b""),
        ],
        fmt,
    )
    context = ContextTar(spooled, tmp_path / "files")
    assert context.read_file("Dockerfile") == b"FROM busybox\n"
    assert context.read_file(deep) == b"FROM scratch\n"
    assert context.read_file("empty") == b""
    assert context.read_file("missing") is None


def test_links_and_compressed_contexts_are_left_to_the_unpacked_files(tmp_path: Path) -> None:
    linked = _tar(tmp_path / "l.tar", [("real", b"FROM busybox\n"), _link("Dockerfile", "real")])
    assert ContextTar(linked, tmp_path / "x").read_file("Dockerfile") is None
    packed = tmp_path / "c.tar.gz"
    packed.write_bytes(
        gzip.compress(_tar(tmp_path / "p.tar", [("Dockerfile", b"FROM busybox\n")]).read_bytes())
    )
    assert ContextTar(packed, tmp_path / "y").read_file("Dockerfile") is None


def test_the_headers_of_a_large_context_are_walked_without_its_data(tmp_path: Path) -> None:
    spooled = _tar(tmp_path / "c.tar", [(f"d/f{n:05d}", os.urandom(64)) for n in range(3000)])
    members = list(context_tar._members(os.open(spooled, os.O_RDONLY)))
    assert len(members) == 3000
    assert members[-1][0] == "d/f02999" and members[-1][3] == 64


def test_unpacking_keeps_modes_and_links_inside(tmp_path: Path) -> None:
    run = tarfile.TarInfo("bin/run")
    run.mode, run.size = 0o4755, 3
    spooled = tmp_path / "c.tar"
    with tarfile.open(spooled, "w") as tar:
        tar.addfile(run, io.BytesIO(b"#!x"))
        tar.addfile(_link("up", "/etc"))
        tar.addfile(_link("same", "bin/run", tarfile.LNKTYPE))
    files = tmp_path / "files"
    files.mkdir()
    context_tar.unpack(spooled, files)
    assert (files / "bin/run").stat().st_mode & 0o7777 == 0o4755
    assert os.readlink(files / "up") == "/etc"
    assert (files / "same").stat().st_ino == (files / "bin/run").stat().st_ino


Entries = list[tarfile.TarInfo | tuple[str, bytes]]
HOSTILE: dict[str, tuple[Callable[[Path], Entries], str]] = {
    "through-an-absolute-link": (
        lambda out: [_link("esc", str(out)), ("esc/pwned", b"x")],
        "esc/pwned: Cannot open",
    ),
    "dot-dot-name": (lambda out: [("../up", b"x")], "Member name contains '..'"),
    "through-a-relative-link": (
        lambda out: [_link("a", "."), _link("b", "a/.."), ("b/pwned", b"x")],
        "b/pwned: Cannot open",
    ),
    "hard-link-out": (lambda out: [_link("hl", "../../etc/passwd", tarfile.LNKTYPE)], "hl: Cannot hard link"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_entries_are_refused_in_one_line_and_write_nothing_outside(tmp_path: Path, case: str) -> None:
    make, said = HOSTILE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    files = tmp_path / "deep" / "files"
    files.mkdir(parents=True)
    with pytest.raises(InvalidArgument, match="Error processing tar file: .*" + said):
        context_tar.unpack(_tar(tmp_path / "c.tar", make(outside)), files)
    assert not list(outside.iterdir())
    assert not (tmp_path / "deep" / "up").exists() and not (tmp_path / "deep" / "pwned").exists()


def test_device_files_do_not_get_in(tmp_path: Path) -> None:
    device = tarfile.TarInfo("null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    files = tmp_path / "files"
    files.mkdir()
    with pytest.raises(InvalidArgument, match="null: Cannot mknod: Operation not permitted"):
        context_tar.unpack(_tar(tmp_path / "c.tar", [device]), files)
    assert not (files / "null").exists()


def test_a_truncated_context_says_so(tmp_path: Path) -> None:
    whole = _tar(tmp_path / "c.tar", [("big", os.urandom(100_000))]).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[:50_000])
    files = tmp_path / "files"
    files.mkdir()
    with pytest.raises(InvalidArgument, match="Error processing tar file: .*Unexpected EOF"):
        context_tar.unpack(cut, files)
