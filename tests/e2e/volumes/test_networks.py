"""The read-only network listing: Berth's predefined ``host`` and ``none`` networks in Docker's shapes,
with ``berth``, the docker CLI and docker-py. Creating networks waits for the bridge issue."""

from __future__ import annotations

import json
import subprocess

import docker
import docker.errors
import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} -> {result.returncode}: {result.stderr}"
    return result.stdout


@pytest.mark.parametrize("which", ["berth", "docker"])
def test_ls_and_inspect(berthd: Daemon, which: str) -> None:
    run = berthd.berth if which == "berth" else berthd.docker
    table = ok(run("network", "ls")).splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = sorted(line.split()[1:] for line in table[1:])
    assert rows == [["host", "host", "local"], ["none", "null", "local"]]
    assert ok(run("network", "ls", "--format", "{{.Name}}", "--filter", "driver=null")) == "none\n"
    [none] = json.loads(ok(run("network", "inspect", "none")))
    assert (none["Name"], none["Driver"], none["Scope"]) == ("none", "null", "local")
    assert len(none["Id"]) == 64 and none["Containers"] == {}
    short = ok(run("network", "ls", "-q", "--filter", "name=host")).strip()
    assert len(short) == 12
    assert ok(run("network", "inspect", "-f", "{{.Name}} {{.Driver}}", short)) == "host host\n"
    assert json.loads(ok(run("inspect", "none")))[0]["Driver"] == "null"  # generic inspect reaches networks
    missing = run("network", "inspect", "nonet")
    assert missing.returncode == 1 and "network nonet not found" in missing.stderr


@pytest.mark.parametrize("which", ["berth", "docker"])
def test_create_and_rm_answer_dockers_errors(berthd: Daemon, which: str) -> None:
    run = berthd.berth if which == "berth" else berthd.docker
    refused = run("network", "rm", "host")
    assert refused.returncode == 1
    assert "host is a pre-defined network and cannot be removed" in refused.stderr
    predefined = run("network", "create", "none")
    assert (
        predefined.returncode == 1
        and "operation is not permitted on predefined none network" in predefined.stderr
    )
    later = run("network", "create", "mynet")
    assert later.returncode == 1 and "bridge networking comes later" in later.stderr


def test_running_container_shows_in_its_network(berthd: Daemon, busybox_image: str) -> None:
    cid = ok(
        berthd.berth("run", "-d", "--network", "none", "--name", "isolated", busybox_image, "sleep", "60")
    )
    [none] = json.loads(ok(berthd.docker("network", "inspect", "none")))
    assert list(none["Containers"]) == [cid.strip()]
    assert none["Containers"][cid.strip()]["Name"] == "isolated"
    ok(berthd.berth("rm", "-f", "isolated"))


def test_docker_py(berthd: Daemon) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    assert sorted(n.name for n in client.networks.list()) == ["host", "none"]
    assert client.networks.get("none").attrs["Driver"] == "null"
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("nonet")
    with pytest.raises(docker.errors.APIError) as later:
        client.networks.create("pynet", driver="bridge")
    assert later.value.status_code == 501
