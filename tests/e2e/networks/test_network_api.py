"""Networks as objects: ``network ls/inspect/create/rm/prune`` with ``berth``, the docker CLI and
docker-py — Docker's shapes, lookups and errors."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root


@pytest.mark.parametrize("which", ["berth", "docker"])
def test_ls_and_inspect(berthd: Daemon, which: str) -> None:
    run = berthd.berth if which == "berth" else berthd.docker
    table = ok(run("network", "ls")).splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = sorted(line.split()[1:] for line in table[1:])
    assert rows == [["bridge", "bridge", "local"], ["host", "host", "local"], ["none", "null", "local"]]
    assert ok(run("network", "ls", "--format", "{{.Name}}", "--filter", "driver=null")) == "none\n"
    [none] = json.loads(ok(run("network", "inspect", "none")))
    assert (none["Name"], none["Driver"], none["Scope"]) == ("none", "null", "local")
    assert len(none["Id"]) == 64 and none["Containers"] == {}
    [bridge] = json.loads(ok(run("network", "inspect", "bridge")))
    subnet = bridge["IPAM"]["Config"][0]
    assert subnet["Subnet"].endswith(".0/24") and subnet["Gateway"].endswith(".1")  # the test daemon's --bip
    short = ok(run("network", "ls", "-q", "--filter", "name=host")).strip()
    assert len(short) == 12
    assert ok(run("network", "inspect", "-f", "{{.Name}} {{.Driver}}", short)) == "host host\n"
    assert json.loads(ok(run("inspect", "none")))[0]["Driver"] == "null"  # generic inspect reaches networks
    missing = run("network", "inspect", "nonet")
    assert missing.returncode == 1 and "network nonet not found" in missing.stderr


@pytest.mark.parametrize("which", ["berth", "docker"])
def test_create_inspect_rm(berthd: Daemon, which: str) -> None:
    run = berthd.berth if which == "berth" else berthd.docker
    network_id = ok(
        run("network", "create", "--subnet", "10.251.7.0/24", "--label", "team=web", "mynet")
    ).strip()
    assert len(network_id) == 64
    [mynet] = json.loads(ok(run("network", "inspect", "mynet")))
    assert (mynet["Id"], mynet["Driver"], mynet["Labels"]) == (network_id, "bridge", {"team": "web"})
    assert mynet["IPAM"]["Config"] == [{"Subnet": "10.251.7.0/24", "Gateway": "10.251.7.1"}]
    assert ok(run("network", "ls", "-q", "--filter", "label=team=web")).strip() == network_id[:12]
    assert ok(run("network", "ls", "--format", "{{.Name}}", "--filter", "type=custom")) == "mynet\n"
    auto = ok(run("network", "create", "auto")).strip()
    [auto_net] = json.loads(ok(run("network", "inspect", auto[:12])))
    assert auto_net["IPAM"]["Config"][0]["Subnet"].endswith(".0/24")
    again = run("network", "create", "mynet")
    assert again.returncode == 1 and "network with name mynet already exists" in again.stderr
    overlap = run("network", "create", "--subnet", "10.251.7.128/25", "other")
    assert overlap.returncode == 1 and "Pool overlaps with other one" in overlap.stderr
    assert ok(run("network", "rm", "mynet", "auto")).split() == ["mynet", "auto"]
    assert ok(run("network", "ls", "-q", "--filter", "type=custom")) == ""


@pytest.mark.parametrize("which", ["berth", "docker"])
def test_predefined_networks_and_bad_requests_answer_dockers_errors(berthd: Daemon, which: str) -> None:
    run = berthd.berth if which == "berth" else berthd.docker
    refused = run("network", "rm", "host")
    assert refused.returncode == 1
    assert "host is a pre-defined network and cannot be removed" in refused.stderr
    predefined = run("network", "create", "none")
    assert (
        predefined.returncode == 1
        and "operation is not permitted on predefined none network" in predefined.stderr
    )
    driver = run("network", "create", "-d", "overlay", "swarmy")
    assert driver.returncode == 1 and "This node is not a swarm manager" in driver.stderr
    bad = run("network", "create", "--subnet", "not-a-cidr", "bad")
    assert bad.returncode == 1 and "invalid" in bad.stderr.lower()
    assert run("network", "ls", "-q", "--filter", "type=custom").stdout == ""


def test_a_network_in_use_is_not_removed_and_prune_keeps_it(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("network", "create", "busy"))
    ok(berthd.berth("network", "create", "idle"))
    ok(berthd.berth("run", "-d", "--network", "busy", "--name", "tenant", busybox_image, "sleep", "60"))
    refused = berthd.docker("network", "rm", "busy")
    assert refused.returncode == 1 and "has active endpoints" in refused.stderr and "tenant" in refused.stderr
    pruned = ok(berthd.docker("network", "prune", "-f"))
    assert "idle" in pruned and "busy" not in pruned
    [busy] = json.loads(ok(berthd.docker("network", "inspect", "busy")))
    [(cid, endpoint)] = busy["Containers"].items()
    assert endpoint["Name"] == "tenant" and endpoint["IPv4Address"].endswith("/24")
    ok(berthd.berth("rm", "-f", "tenant"))
    assert ok(berthd.berth("network", "rm", "busy")) == "busy\n"


def test_running_container_shows_in_its_network(berthd: Daemon, busybox_image: str) -> None:
    cid = ok(
        berthd.berth("run", "-d", "--network", "none", "--name", "isolated", busybox_image, "sleep", "60")
    )
    [none] = json.loads(ok(berthd.docker("network", "inspect", "none")))
    assert list(none["Containers"]) == [cid.strip()]
    assert none["Containers"][cid.strip()]["Name"] == "isolated"
    ok(berthd.berth("rm", "-f", "isolated"))


def test_docker_py(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    assert sorted(n.name for n in client.networks.list()) == ["bridge", "host", "none"]
    assert client.networks.get("none").attrs["Driver"] == "null"
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("nonet")
    network = client.networks.create("pynet", driver="bridge")
    container = client.containers.run(
        busybox_image, ["sleep", "60"], detach=True, network="pynet", name="py1"
    )
    network.reload()
    assert list(network.attrs["Containers"]) == [container.id]
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
    assert address and address.rsplit(".", 1)[0] in network.attrs["IPAM"]["Config"][0]["Subnet"]
    container.remove(force=True)
    network.remove()
    assert [n.name for n in client.networks.list(names=["pynet"])] == []


def test_concurrent_starts_get_distinct_addresses(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    network = client.networks.create("crowd")

    def start(n: int) -> str:
        container = client.containers.run(
            busybox_image, ["sleep", "60"], detach=True, network="crowd", name=f"c{n}"
        )
        container.reload()
        return str(container.attrs["NetworkSettings"]["Networks"]["crowd"]["IPAddress"])

    with ThreadPoolExecutor(6) as pool:
        addresses = list(pool.map(start, range(12)))
    assert len(set(addresses)) == 12 and all(addresses), addresses
    network.reload()
    assert len(network.attrs["Containers"]) == 12
    for container in client.containers.list(all=True):
        container.remove(force=True)
    network.remove()
