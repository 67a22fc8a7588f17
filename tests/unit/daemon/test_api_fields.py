"""The request-body validator (``daemon/server/schema``) and the field table behind docs/api-fields.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from berth.daemon.server import schema
from berth.daemon.server.schema.support import FIELDS, Status
from berth.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO.parent / "shared" / "reference" / "docker-engine-api-v1.50.yaml"


@pytest.mark.skipif(not SPEC.exists(), reason=f"the API spec is not at {SPEC}")
def test_table_docs_and_schema_are_generated_from_the_spec() -> None:
    """Every field of the spec's bodies has a row, every row a field, and both generated files are
    current (``scripts/gen-api-fields`` writes them)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-api-fields"), "--check", "--spec", str(SPEC)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _error(body: object, kind: str = "ContainerCreate") -> str:
    with pytest.raises(InvalidArgument) as info:
        schema.check(body, kind)
    return str(info.value)


def test_a_string_for_an_integer_is_goes_decoding_error() -> None:
    assert _error({"Image": "busybox", "HostConfig": {"Memory": "lots"}}) == (
        "invalid JSON: json: cannot unmarshal string into Go struct field "
        "CreateRequest.HostConfig.Memory of type int64"
    )


def test_an_object_as_a_label_value_is_refused() -> None:
    assert _error({"Image": "busybox", "Labels": {"a": {"b": 1}}}) == (
        "invalid JSON: json: cannot unmarshal object into Go struct field CreateRequest.Labels of type string"
    )


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"HostConfig": {"ShmSize": 1.5}}, "cannot unmarshal number 1.5 into Go struct field CreateRequest.HostConfig.ShmSize of type int64"),
        ({"HostConfig": {"Memory": 1 << 64}}, f"cannot unmarshal number {1 << 64} into"),
        ({"HostConfig": {"Privileged": "yes"}}, "cannot unmarshal string into Go struct field CreateRequest.HostConfig.Privileged of type bool"),
        ({"HostConfig": {"Binds": "/a:/b"}}, "cannot unmarshal string into Go struct field CreateRequest.HostConfig.Binds of type []string"),
        ({"HostConfig": {"Binds": [1]}}, "cannot unmarshal number into Go struct field CreateRequest.HostConfig.Binds of type string"),
        ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 99999}]}}}, "CreateRequest.HostConfig.PortBindings.HostPort of type string"),
        ({"HostConfig": []}, "cannot unmarshal array into Go struct field CreateRequest.HostConfig of type HostConfig"),
        ({"Cmd": 5}, "of type strslice.StrSlice"),
        ({"Env": {"A": "B"}}, "cannot unmarshal object into Go struct field CreateRequest.Env of type []string"),
    ],
)  # fmt: skip
def test_wrong_types_are_refused_with_the_field_named(body: dict[str, object], wanted: str) -> None:
    assert wanted in _error({"Image": "busybox", **body})


def test_a_body_that_is_not_an_object() -> None:
    assert _error([1, 2]) == "invalid JSON: json: cannot unmarshal array into Go value of type CreateRequest"
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        schema.decode(b"{not json", "ContainerCreate")


def test_good_bodies_pass_with_nulls_strings_for_cmd_and_canonical_names() -> None:
    body = schema.check(
        {"image": "busybox", "Cmd": "echo hi", "Env": None, "hostconfig": {"memory": 1 << 26, "Binds": None}},
        "ContainerCreate",
    )
    assert body == {
        "Image": "busybox",
        "Cmd": "echo hi",
        "Env": None,
        "HostConfig": {"Memory": 1 << 26, "Binds": None},
    }


def test_a_canonical_body_is_checked_in_place_and_a_renamed_field_copies_only_its_path() -> None:
    """A body of 10,000 port bindings is not built twice: what needs no change is the body itself."""
    bindings = {f"{p}/tcp": [{"HostIp": "", "HostPort": str(p)}] for p in range(20000, 20100)}
    body = {
        "Image": "busybox",
        "ExposedPorts": {k: {} for k in bindings},
        "HostConfig": {"PortBindings": bindings},
    }
    assert schema.check(body, "ContainerCreate") is body
    renamed = {**body, "HostConfig": {"portbindings": bindings, "Memory": 1 << 26}}
    checked = schema.check(renamed, "ContainerCreate")
    assert checked is not renamed and checked["HostConfig"] == {"PortBindings": bindings, "Memory": 1 << 26}
    assert (
        checked["HostConfig"]["PortBindings"] is bindings and checked["ExposedPorts"] is body["ExposedPorts"]
    )


def test_unknown_fields_pass_through_as_gos_decoder_ignores_them() -> None:
    assert schema.check({"Image": "x", "Bogus": {"a": 1}}, "ContainerCreate")["Bogus"] == {"a": 1}


def test_a_refused_field_with_a_value_is_refused_with_its_message() -> None:
    refused = [
        key for key, row in FIELDS.items() if row.status is Status.REFUSED and key.startswith("HostConfig.")
    ]
    key = next(k for k in refused if k == "HostConfig.StorageOpt")
    message = _error({"Image": "busybox", "HostConfig": {"StorageOpt": {"size": "1G"}}})
    assert message == FIELDS[key].note


def test_zero_values_of_refused_fields_are_what_the_docker_cli_always_sends() -> None:
    """The docker CLI sends every HostConfig field, most of them zero: none may be refused."""
    host = {
        "StorageOpt": {}, "Isolation": "", "CpuCount": 0, "DeviceRequests": None, "ConsoleSize": [0, 0],
        "MemorySwappiness": -1, "Ulimits": [], "BlkioWeightDevice": [], "Links": None,
    }  # fmt: skip
    assert schema.check({"Image": "busybox", "HostConfig": host}, "ContainerCreate")["HostConfig"] == host


def test_exec_and_network_bodies_are_checked_too() -> None:
    assert "ExecOptions.Cmd of type []string" in _error({"Cmd": "ls"}, "ExecCreate")
    assert "CreateRequest.Internal of type bool" in _error({"Name": "n", "Internal": "x"}, "NetworkCreate")
    assert "CreateOptions.Labels of type string" in _error({"Labels": {"a": 1}}, "VolumeCreate")


def test_refused_build_query_parameters() -> None:
    schema.refuse_query({"squash": "0", "t": "x"})
    with pytest.raises(InvalidArgument, match="experimental"):
        schema.refuse_query({"squash": "1"})


def test_an_alias_of_a_string_type_is_a_string() -> None:
    """Mount.Type is ``allOf: [MountType]`` in the spec: a plain string, as Go's mount.Type."""
    host = {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t"}]}
    assert schema.check({"Image": "x", "HostConfig": host}, "ContainerCreate")["HostConfig"] == host
    assert "Mounts.Type of type string" in _error({"HostConfig": {"Mounts": [{"Type": 1}]}})
