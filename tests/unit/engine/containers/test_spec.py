"""HostConfig → OCI spec for privileges and namespaces (pure: no container is run here; the e2e tests
in tests/e2e/containers/test_security_opts.py and test_namespaces.py check the effects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import create, namespaces, security, spec
from berth.engine.containers.security import _validate_devices
from berth.errors import InvalidArgument
from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS

IMAGE: dict[str, Any] = {"config": {"Cmd": ["sh"]}}


def _build(
    tmp_path: Path, host: dict[str, Any], peer: namespaces.PeerLookup | None = None, **body: Any
) -> Any:
    config = create.merge_config({"Cmd": ["true"], **body}, IMAGE)
    security.validate(host, config)
    security.normalize(host)
    record = create.new_record(tmp_path, "c" * 64, "n", "img", "sha256:x", config, host)
    return spec.build(record, cgroup_parent="berth", peer=peer)


def test_capability_arithmetic_follows_tweak_capabilities() -> None:
    assert security.capabilities({}) == list(DOCKER_DEFAULT_CAPS)
    assert security.capabilities({"CapDrop": ["ALL"], "CapAdd": ["net_admin", "CAP_SYS_TIME"]}) == [
        "CAP_NET_ADMIN", "CAP_SYS_TIME",
    ]  # fmt: skip
    dropped = security.capabilities({"CapDrop": ["chown", "Cap_Kill"], "CapAdd": ["sys_admin"]})
    assert "CAP_CHOWN" not in dropped and "CAP_KILL" not in dropped and dropped[-1] == "CAP_SYS_ADMIN"
    every = security.capabilities({"CapAdd": ["all"], "CapDrop": ["mknod"]})
    assert "CAP_MKNOD" not in every and set(every) <= set(security.privileged_capabilities())
    assert security.capabilities({"Privileged": True}) == security.privileged_capabilities()
    with pytest.raises(InvalidArgument, match='invalid CapAdd: unknown capability: "CAP_NOPE"'):
        security.capabilities({"CapAdd": ["nope"]})


def test_security_options_parse_as_moby_does() -> None:
    assert security.security_options({}).no_new_privileges is False
    for opt in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:1"):
        assert security.security_options({"SecurityOpt": [opt]}).no_new_privileges is True
    parsed = security.security_options(
        {"SecurityOpt": ["systempaths=unconfined", "writable-cgroups=true", "label=disable", "disable"]}
    )
    assert parsed.unconfined_paths and parsed.writable_cgroups
    assert security.security_options({"SecurityOpt": ["seccomp=unconfined"]}).seccomp == "unconfined"
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        security.validate({"SecurityOpt": ["seccomp=/x.json"]}, {})  # the CLI sends the content, not a path
    for opt, message in {
        "systempaths=open": 'invalid --security-opt 2: "systempaths=open"',
        "nonsense": 'invalid --security-opt 1: "nonsense"',
    }.items():
        with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
            security.security_options({"SecurityOpt": [opt]})


def test_spec_carries_the_process_attributes(tmp_path: Path) -> None:
    host = {
        "Ulimits": [{"Name": "nproc", "Soft": 10, "Hard": 20}, {"Name": "nofile", "Soft": 100, "Hard": 200}],
        "OomScoreAdj": 300, "GroupAdd": ["audio", "42"], "SecurityOpt": ["no-new-privileges"],
        "Annotations": {"a": "b"}, "Sysctls": {"kernel.shmmax": "1"},
    }  # fmt: skip
    oci = _build(tmp_path, host, Domainname="example.com")
    process = oci["process"]
    assert process["rlimits"] == [
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 20}, {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
    ]  # fmt: skip
    assert process["oomScoreAdj"] == 300 and process["noNewPrivileges"] is True
    assert oci["domainname"] == "example.com"
    assert oci["annotations"]["io.berth.group-add"] == "audio,42"
    assert oci["annotations"]["a"] == "b"
    assert oci["linux"]["sysctl"]["kernel.shmmax"] == "1"
    assert oci["linux"]["maskedPaths"] and "/proc/sys" in oci["linux"]["readonlyPaths"]


def test_privileged_spec(tmp_path: Path) -> None:
    oci = _build(tmp_path, {"Privileged": True})
    linux = oci["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in linux["devices"])
    sysfs = next(m for m in oci["mounts"] if m["type"] == "sysfs")
    assert "ro" not in sysfs["options"]


def test_validation_messages() -> None:
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"OomScoreAdj": -1001}, {}, r"Invalid value -1001, range for oom score adj is \[-1000, 1000\]"),
        ({"IpcMode": "weird"}, {}, "invalid IPC mode: weird"),
        ({"PidMode": "container:"}, {}, "invalid PID mode: container:"),
        ({"UTSMode": "host"}, {"Hostname": "h"}, "conflicting options: hostname and the UTS mode"),
        ({"Runtime": "crun"}, {}, "unknown or invalid runtime name: crun"),
        ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, {}, "invalid ulimit type: bogus"),
        ({"Annotations": {"": "x"}}, {}, "the empty string is not permitted as an annotation key"),
        ({"Annotations": {"io.berth.user": "0"}}, {}, "the io.berth. prefix is the runtime's own"),
        ({"Sysctls": {"net.core.somaxconn": "1"}, "NetworkMode": "host"}, {}, "hosts network namespace"),
        ({"Sysctls": {"kernel.pid_max": "1"}}, {}, "is not in a separate kernel namespace"),
    ]
    for host, config, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            security.validate(host, config)


def test_device_rules_and_modes_are_checked() -> None:
    _validate_devices({"DeviceCgroupRules": ["c 1:3 rwm"]})
    _validate_devices({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "r"}]})
    with pytest.raises(InvalidArgument, match="invalid device mode: rx"):
        _validate_devices({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rx"}]})
    assert security.device_rule("b *:* m") == {
        "allow": True,
        "type": "b",
        "access": "m",
        "major": -1,
        "minor": -1,
    }


def test_namespace_modes(tmp_path: Path) -> None:
    donor = namespaces.Peer("d" * 64, 4242, {"IpcMode": "shareable"})
    oci = _build(tmp_path, {"PidMode": "container:d", "IpcMode": "container:d", "UTSMode": "host",
                            "CgroupnsMode": "host", "Init": True}, peer=lambda ref: donor)  # fmt: skip
    by_type = {ns["type"]: ns for ns in oci["linux"]["namespaces"]}
    assert by_type["pid"]["path"] == "/proc/4242/ns/pid" and by_type["ipc"]["path"] == "/proc/4242/ns/ipc"
    assert "uts" not in by_type and "cgroup" not in by_type and oci["hostname"] == ""
    shm = next(m for m in oci["mounts"] if m["destination"] == "/dev/shm")
    assert shm["type"] == "bind" and shm["source"] == "/proc/4242/root/dev/shm"
    assert oci["process"]["args"] == ["true"]  # no init in a shared PID namespace
    private = namespaces.Peer("e" * 64, 7, {"IpcMode": "private"})
    with pytest.raises(InvalidArgument, match="non-shareable IPC"):
        _build(tmp_path / "x", {"IpcMode": "container:e"}, peer=lambda ref: private)
    none = _build(tmp_path / "y", {"IpcMode": "none"})
    assert not any(m["destination"] == "/dev/shm" for m in none["mounts"])
    host = _build(tmp_path / "z", {"IpcMode": "host", "PidMode": "host"})
    kinds = {ns["type"] for ns in host["linux"]["namespaces"]}
    assert "ipc" not in kinds and "pid" not in kinds
