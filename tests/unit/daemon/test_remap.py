"""--userns-remap's ranges (daemon/remap.py) and the id shift of what leaves a remapped container."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from berth.daemon import remap
from berth.errors import InvalidArgument
from berth.util.idshift import IdShift, shifting


def test_a_named_user_takes_its_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "subuid").write_text("other:100000:65536\nroot:200000:65536\n")
    (tmp_path / "subgid").write_text("root:300000:1000\n")
    monkeypatch.setattr(remap, "SUBUID", tmp_path / "subuid")
    monkeypatch.setattr(remap, "SUBGID", tmp_path / "subgid")
    found = remap.resolve("root")
    assert found is not None and (found.uid_start, found.uid_size, found.gid_start, found.gid_size) == (
        200000, 65536, 300000, 1000,
    )  # fmt: skip
    assert found.uid_mappings() == [{"containerID": 0, "hostID": 200000, "size": 65536}]
    assert remap.resolve("") is None
    with pytest.raises(InvalidArgument, match="no such user"):
        remap.resolve("no-such-user-here")
    (tmp_path / "subgid").write_text("")
    with pytest.raises(InvalidArgument, match="no subgid ranges"):
        remap.resolve("root")


def test_the_next_free_range_follows_the_highest(tmp_path: Path) -> None:
    ids = tmp_path / "subuid"
    ids.write_text("a:100000:65536\nb:165536:65536\n")
    assert remap._next_free(ids) == 231072
    assert remap._next_free(tmp_path / "missing") == remap.FIRST_ID


def test_ids_shift_both_ways_and_tars_leave_in_the_containers_ids() -> None:
    shift = IdShift(100000, 200000, 65536)
    assert shift.to_container(100000, 200005) == (0, 5)
    assert shift.to_container(0, 0) == (0, 0)  # the daemon's own files: the container's root already
    assert shift.to_host(0, 5) == (100000, 200005)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as raw:
        tar = shifting(raw, shift)
        info = tarfile.TarInfo("f")
        info.uid, info.gid = 101000, 201000
        tar.addfile(info, io.BytesIO(b""))
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        member = tar.getmember("f")
        assert (member.uid, member.gid) == (1000, 1000)
