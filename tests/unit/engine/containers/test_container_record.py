"""A container record is checked when read and before it is written: a poison record is refused whole
(``ValueError`` naming the field), so ``ps`` skips it instead of failing for every container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers.container import Container

RECORD: dict[str, Any] = {
    "ID": "a" * 64, "Name": "/ok", "Created": "2026-12-03T00:00:00Z", "Image": "busybox",
    "ImageID": "sha256:" + "b" * 64, "Config": {"Cmd": ["true"]}, "HostConfig": {}, "Path": "true",
    "Args": [], "Status": "created", "Pid": 0, "ExitCode": 0, "Error": "", "OOMKilled": False,
    "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z", "RestartCount": 0,
}  # fmt: skip


def _write(tmp_path: Path, **changes: Any) -> Path:
    (tmp_path / "config.v2.json").write_text(json.dumps({**RECORD, **changes}))
    return tmp_path


def test_a_good_record_loads_and_saves_back(tmp_path: Path) -> None:
    container = Container.load(_write(tmp_path))
    assert (container.name, container.config) == ("/ok", {"Cmd": ["true"]})
    container.save()
    assert Container.load(tmp_path).container_id == "a" * 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Config": None}, "field Config: expected dict, got NoneType"),
        ({"Args": "true"}, "field Args: expected list, got str"),
        ({"Pid": "12"}, "field Pid: expected int, got str"),
        ({"Status": "exploded"}, "'exploded' is not a valid ContainerStatus"),
        ({"Endpoints": []}, "field Endpoints: expected dict, got list"),
    ],
)
def test_a_poison_record_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Container.load(_write(tmp_path, **changes))


def test_a_record_of_the_wrong_shape_is_never_written(tmp_path: Path) -> None:
    container = Container.load(_write(tmp_path))
    container.config = ["not", "a", "dict"]  # type: ignore[assignment]  # what a bad request could make
    with pytest.raises(ValueError, match="Config|malformed"):
        container.save()
    assert json.loads((tmp_path / "config.v2.json").read_text())["Config"] == {"Cmd": ["true"]}
