from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.containers import create, names, spec
from berth.errors import InvalidArgument

IMAGE = {
    "config": {
        "Env": ["PATH=/bin", "A=image"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "WorkingDir": "/srv",
        "Labels": {"x": "1"},
    }
}


def test_run_args_replace_cmd_and_env_wins_per_key() -> None:
    config = create.merge_config({"Cmd": ["echo", "hi"], "Env": ["A=run"], "Labels": {"y": "2"}}, IMAGE)
    assert config["Cmd"] == ["echo", "hi"]
    assert config["Env"] == ["PATH=/bin", "A=run"]
    assert config["WorkingDir"] == "/srv"
    assert config["Labels"] == {"x": "1", "y": "2"}


def test_entrypoint_clears_the_image_cmd() -> None:
    config = create.merge_config({"Entrypoint": ["cat"]}, IMAGE)
    assert config["Entrypoint"] == ["cat"] and config["Cmd"] is None


def test_record_needs_a_command(tmp_path: Path) -> None:
    config = create.merge_config({}, {"config": {}})
    with pytest.raises(InvalidArgument, match="no command"):
        create.new_record(tmp_path, "a" * 64, "n", "img", "sha256:x", config, {})


def test_host_config_validation() -> None:
    with pytest.raises(InvalidArgument, match="restart policy"):
        create.validate_host_config({"RestartPolicy": {"Name": "sometimes"}})
    with pytest.raises(InvalidArgument, match="AutoRemove"):
        create.validate_host_config({"RestartPolicy": {"Name": "always"}, "AutoRemove": True})
    with pytest.raises(InvalidArgument, match="Minimum memory"):
        create.validate_host_config({"Memory": 1024})


def test_generated_names_are_unique_and_valid() -> None:
    taken: set[str] = set()
    for _ in range(50):
        name = names.generate(taken)
        assert names.validate(name) == name
        taken.add(name)
    with pytest.raises(InvalidArgument):
        names.validate("bad name")


def test_spec_turns_flags_into_cgroup_resources(tmp_path: Path) -> None:
    config = create.merge_config({"Cmd": ["true"], "User": "nobody"}, IMAGE)
    host = {"Memory": 64 << 20, "NanoCpus": 500_000_000, "CpuShares": 512, "PidsLimit": 10, "Init": False}
    record = create.new_record(tmp_path, "b" * 64, "n", "img", "sha256:x", config, host)
    oci = spec.build(record, cgroup_parent="berth")
    resources = oci["linux"]["resources"]
    assert resources["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert resources["cpu"] == {"quota": 50_000, "period": 100_000, "shares": 512}
    assert resources["pids"] == {"limit": 10}
    assert oci["linux"]["cgroupsPath"] == "berth/" + "b" * 64
    assert oci["annotations"]["io.berth.user"] == "nobody"
    assert {"type": "network"} in oci["linux"]["namespaces"]
    assert oci["process"]["capabilities"]["bounding"] == spec.DEFAULT_CAPS
    assert oci["process"]["env"][:2] == ["PATH=/bin", "HOSTNAME=bbbbbbbbbbbb"]


def test_dns_flags_replace_only_their_own_kind_of_line() -> None:
    host = "# from the host\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"
    assert create.resolv_conf(host, {}) == host
    changed = create.resolv_conf(host, {"Dns": ["10.0.0.53", "10.0.0.54"], "DnsSearch": ["a.test", "b.test"]})
    assert changed == (
        "# from the host\noptions edns0\nnameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch a.test b.test\n"
    )
    assert create.resolv_conf("", {"DnsOptions": ["ndots:2"]}) == "options ndots:2\n"


@pytest.mark.parametrize(
    "host",
    [
        {"ExtraHosts": ["evil\n10.0.0.1 bank.example:10.0.0.1"]},
        {"ExtraHosts": ["db:not-an-address"]},
        {"Dns": ["10.0.0.53\nnameserver 10.6.6.6"]},
        {"DnsSearch": ["corp.test\nnameserver 10.6.6.6"]},
        {"DnsOptions": ["ndots:1 attempts:9"]},
    ],
)
def test_values_bound_for_hosts_and_resolv_conf_cannot_add_lines(host: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        create.validate_host_config(host)


def test_well_formed_name_values_pass() -> None:
    create.validate_host_config(
        {"ExtraHosts": ["db:10.0.0.1", "v6:[::1]"], "Dns": ["10.0.0.53"], "DnsSearch": ["corp.test"]}
    )
