"""default_spec and config.json loading (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.runtime.errors import InvalidSpec
from berth.runtime.linux import syscalls as sc
from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS, mask
from berth.runtime.linux.rootfs import parse_options, secure_join
from berth.runtime.spec import USER_ANNOTATION, default_spec, load


def test_default_spec_is_docker_like() -> None:
    spec = default_spec(["sh"], env=["A=1"], container_id="abcdef1234567890", user="app:wheel")
    process = spec["process"]
    assert isinstance(process, dict)
    assert process["env"][0].startswith("PATH=") and "A=1" in process["env"]
    assert process["capabilities"]["bounding"] == list(DOCKER_DEFAULT_CAPS)
    assert len(DOCKER_DEFAULT_CAPS) == 14 and mask(DOCKER_DEFAULT_CAPS) == 0xA80425FB
    assert spec["hostname"] == "abcdef123456"
    assert spec["annotations"] == {USER_ANNOTATION: "app:wheel"}
    linux = spec["linux"]
    assert isinstance(linux, dict)
    assert {ns["type"] for ns in linux["namespaces"]} == {"pid", "ipc", "uts", "mount", "cgroup", "network"}
    assert linux["cgroupsPath"] == "berth/abcdef1234567890"
    assert "/proc/kcore" in linux["maskedPaths"] and "/proc/sys" in linux["readonlyPaths"]
    mounts = spec["mounts"]
    assert isinstance(mounts, list)
    destinations = [m["destination"] for m in mounts]
    assert destinations == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]


def test_host_network_drops_the_namespace() -> None:
    linux = default_spec(["true"], network=False)["linux"]
    assert isinstance(linux, dict)
    assert "network" not in {ns["type"] for ns in linux["namespaces"]}


def test_load_validates(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="config.json not found"):
        load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidSpec, match="bad config.json"):
        load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"process": {"args": []}}))
    with pytest.raises(InvalidSpec, match="non-empty"):
        load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(default_spec(["true"])))
    assert load(tmp_path)["ociVersion"] == "1.2.0"


def test_parse_mount_options() -> None:
    flags, propagation, data = parse_options(
        ["nosuid", "ro", "rw", "rbind", "rprivate", "mode=755", "size=1k"]
    )
    assert flags == sc.MS_NOSUID | sc.MS_BIND | sc.MS_REC
    assert propagation == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755,size=1k"


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "escape").symlink_to("/../../etc")
    (root / "rel").symlink_to("../../../../tmp")
    assert secure_join(str(root), "/etc/escape/passwd") == str(root / "etc" / "passwd")
    assert secure_join(str(root), "/rel/x") == str(root / "tmp" / "x")
    assert secure_join(str(root), "../../x") == str(root / "x")
