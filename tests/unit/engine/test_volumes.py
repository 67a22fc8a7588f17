"""VolumeService without root: Docker's order of checks on create, local driver options, ``ensure``
with labels and options, copy-up into empty volumes only, prune of anonymous volumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.volumes import ANONYMOUS_LABEL, VolumeService, Wanted
from berth.errors import InvalidArgument, NotFound


@pytest.fixture
def service(tmp_path: Path) -> VolumeService:
    return VolumeService(tmp_path / "volumes", in_use=dict)


def test_create_checks_driver_then_name_then_options(service: VolumeService) -> None:
    with pytest.raises(NotFound, match='error looking up volume plugin nfs: plugin "nfs" not found'):
        service.create("../x", driver="nfs", options={"bogus": "1"})
    with pytest.raises(InvalidArgument, match='^create ../x: "../x" includes invalid characters'):
        service.create("../x", options={"bogus": "1"})
    with pytest.raises(InvalidArgument, match='^create a: "a" includes invalid characters'):
        service.create("a")
    cases = {
        '^create vv: invalid option: "bogus"$': {"bogus": "1"},
        '^create vv: missing required option: "device"$': {"type": "tmpfs"},
        '^create vv: missing required option: "type"$': {"device": "tmpfs"},
        "^create vv: quota size requested but no quota support$": {"size": "1g"},
    }
    for message, options in cases.items():
        with pytest.raises(InvalidArgument, match=message):
            service.create("vv", options=options)
    assert service.list() == []


def test_options_are_recorded_and_a_plain_volume_needs_no_mount(service: VolumeService) -> None:
    volume = service.create("ram", options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    service.create("plain")
    assert service.activate("plain") is False  # no type/device: the directory itself


def test_ensure_labels_anonymous_volumes(service: VolumeService) -> None:
    created = service.ensure([Wanted("a" * 64, anonymous=True), Wanted("named", labels={"k": "v"})])
    assert created == ["a" * 64, "named"]
    assert service.get("a" * 64)["Labels"] == {ANONYMOUS_LABEL: ""}
    assert service.get("named")["Labels"] == {"k": "v"}
    assert service.ensure([Wanted("named", labels={"other": "x"})]) == []  # existing: left as it is
    assert service.get("named")["Labels"] == {"k": "v"}
    removed, _ = service.prune()
    assert removed == ["a" * 64]


def test_copy_up_fills_only_an_empty_volume(service: VolumeService, tmp_path: Path) -> None:
    image_dir = tmp_path / "image-data"
    (image_dir / "sub").mkdir(parents=True)
    (image_dir / "sub" / "f").write_text("from the image\n")
    image_dir.chmod(0o750)
    service.create("fresh")
    service.populate("fresh", image_dir)
    assert (service.mountpoint("fresh") / "sub" / "f").read_text() == "from the image\n"
    assert service.mountpoint("fresh").stat().st_mode & 0o777 == 0o750
    service.create("used")
    (service.mountpoint("used") / "mine").write_text("kept\n")
    service.populate("used", image_dir)
    assert [p.name for p in service.mountpoint("used").iterdir()] == ["mine"]


def test_a_copy_up_cut_short_is_emptied_and_done_again(service: VolumeService, tmp_path: Path) -> None:
    image_dir = tmp_path / "image-data"
    image_dir.mkdir()
    for name in ("a", "b"):
        (image_dir / name).write_text(name)
    service.create("half")
    (service.mountpoint("half") / "a").write_text("a")  # what a killed daemon had copied …
    (service.mountpoint("half").parent / "copying").write_text("")  # … before it marked the copy done
    assert service.copy_cut_short("half")
    service.redo_copy("half")  # what each create does first, and system check --repair
    assert not service.copy_cut_short("half") and service.is_empty("half")
    service.populate("half", image_dir)
    assert sorted(p.name for p in service.mountpoint("half").iterdir()) == ["a", "b"]
    assert not service.copy_cut_short("half")
    service.redo_copy("half")  # a whole copy is left alone
    assert sorted(p.name for p in service.mountpoint("half").iterdir()) == ["a", "b"]


def test_a_poison_volume_record_is_skipped_by_ls_and_named_by_record_problem(tmp_path: Path) -> None:
    volumes = VolumeService(tmp_path, in_use=dict)
    volumes.create("good")
    for name, text in (
        ("torn", '{"Name": "to'),
        ("wrong", '{"Name": "wrong", "Driver": 1, "CreatedAt": ""}'),
    ):
        (tmp_path / name / "_data").mkdir(parents=True)
        (tmp_path / name / "volume.json").write_text(text)
    (tmp_path / "unfinished" / "_data").mkdir(parents=True)
    assert [v["Name"] for v in volumes.list()] == ["good"]
    assert volumes.record_problem("good") is None
    assert str(volumes.record_problem("torn")).startswith("unreadable record: ")
    assert volumes.record_problem("wrong") == "unreadable record: field Driver: expected str, got int"
    assert volumes.record_problem("unfinished") == "no record (a create that did not finish)"
