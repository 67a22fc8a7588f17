"""Every field of a network create body and of a connect's EndpointConfig: in effect inside the
container (addresses, MTU, bridge name, routes, interface names) or refused in Docker's words."""

from __future__ import annotations

import json
import subprocess

import docker
import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.networks.conftest import lookup
from tests.e2e.results import inspect, ok, refused

pytestmark = pytest.mark.root


def test_ip_range_aux_addresses_gateway_and_bridge_options(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.123.0.0/24", "--ip-range", "10.123.0.128/25",
                     "--gateway", "10.123.0.254", "--aux-address", "res=10.123.0.128",
                     "-o", "com.docker.network.bridge.name=btnamed0", "-o", "com.docker.network.driver.mtu=1400",
                     "--attachable", "--label", "team=net", "ranged"))  # fmt: skip
    [network] = json.loads(ok(berthd.docker("network", "inspect", "ranged")))
    assert network["IPAM"]["Config"] == [{"Subnet": "10.123.0.0/24", "IPRange": "10.123.0.128/25",
                                          "Gateway": "10.123.0.254", "AuxiliaryAddresses": {"res": "10.123.0.128"}}]  # fmt: skip
    assert network["Attachable"] is True and network["Labels"] == {"team": "net"}
    out = ok(berthd.docker("run", "--rm", "--network", "ranged", busybox_image, "sh", "-c",
                           "ip -o -4 addr show eth0; cat /sys/class/net/eth0/mtu; ip route"))  # fmt: skip
    assert "inet 10.123.0.129/24" in out  # the range's first, the auxiliary address skipped
    assert "\n1400\n" in out and "default via 10.123.0.254 dev eth0" in out
    link = subprocess.run(
        ["ip", "-o", "link", "show", "btnamed0"], capture_output=True, text=True, check=True
    )
    assert "mtu 1400" in link.stdout
    ok(berthd.docker("network", "rm", "ranged"))
    assert subprocess.run(["ip", "link", "show", "btnamed0"], capture_output=True).returncode != 0


def test_internal_networks_have_no_default_route_and_icc_off_isolates(
    berthd: Daemon, busybox_image: str
) -> None:
    ok(berthd.docker("network", "create", "--internal", "inner"))
    routes = ok(berthd.docker("run", "--rm", "--network", "inner", busybox_image, "ip", "route"))
    assert "default" not in routes and "eth0" in routes
    ok(berthd.docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "noicc"))
    ok(berthd.docker("run", "-d", "--name", "a1", "--network", "noicc", busybox_image, "sleep", "300"))
    a1 = inspect(berthd, "a1")["NetworkSettings"]["Networks"]["noicc"]
    ping = berthd.docker(
        "run", "--rm", "--network", "noicc", busybox_image, "ping", "-c", "1", "-W", "1", a1["IPAddress"]
    )
    assert ping.returncode != 0  # containers cannot reach each other
    gateway = berthd.docker(
        "run", "--rm", "--network", "noicc", busybox_image, "ping", "-c", "1", "-W", "2", a1["Gateway"]
    )
    assert gateway.returncode == 0  # the host can still be reached


def test_connect_endpoint_config(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.124.0.0/24", "front"))
    ok(berthd.docker("network", "create", "--subnet", "10.125.0.0/24", "back"))
    ok(berthd.docker("run", "-d", "--name", "peer", "--network", "back", busybox_image, "sleep", "300"))
    ok(berthd.docker("run", "-d", "--name", "cc", "--network", "front", busybox_image, "sleep", "300"))
    ok(berthd.docker("network", "connect", "--ip", "10.125.0.77", "--alias", "cee", "--link", "peer:pp",
                     "--link-local-ip", "169.254.7.7", "--driver-opt", "com.docker.network.endpoint.ifname=backif",
                     "--gw-priority", "10", "back", "cc"))  # fmt: skip
    out = ok(berthd.docker("exec", "cc", "sh", "-c", "ip -o -4 addr show backif; ip route"))
    assert "10.125.0.77/24" in out and "169.254.7.7/16" in out
    assert "default via 10.125.0.1 dev backif" in out  # the higher GwPriority took the default route
    peer_ip = inspect(berthd, "peer")["NetworkSettings"]["Networks"]["back"]["IPAddress"]
    assert lookup(berthd, "cc", "pp") == [peer_ip]  # its link's alias, by the embedded DNS
    assert lookup(berthd, "peer", "cee") == ["10.125.0.77"]
    back = inspect(berthd, "cc")["NetworkSettings"]["Networks"]["back"]
    assert back["GwPriority"] == 10 and back["Links"] == ["peer:pp"]
    assert back["DriverOpts"] == {"com.docker.network.endpoint.ifname": "backif"}
    assert back["IPAMConfig"] == {"IPv4Address": "10.125.0.77", "LinkLocalIPs": ["169.254.7.7"]}
    ok(berthd.docker("network", "disconnect", "back", "cc"))
    assert "default via 10.124.0.1 dev eth0" in ok(berthd.docker("exec", "cc", "ip", "route"))
    refused(berthd.docker("network", "connect", "--driver-opt", "foo=bar", "back", "cc"),
            "driver option foo is not supported")  # fmt: skip


def test_create_endpoints_config_for_several_networks(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.126.0.0/24", "n1"))
    ok(berthd.docker("network", "create", "--subnet", "10.127.0.0/24", "n2"))
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    networking = client.api.create_networking_config({
        "n1": client.api.create_endpoint_config(ipv4_address="10.126.0.50", aliases=["one"], mac_address="02:11:22:33:44:01"),
        "n2": client.api.create_endpoint_config(ipv4_address="10.127.0.60", aliases=["two"], mac_address="02:11:22:33:44:02"),
    })  # fmt: skip
    container = client.api.create_container(
        busybox_image, ["sh", "-c", "ip -o link; ip -o -4 addr; sleep 300"],
        host_config=client.api.create_host_config(network_mode="n1"), networking_config=networking,
    )  # fmt: skip
    client.api.start(container["Id"])
    ok(berthd.docker("run", "-d", "--name", "watch", "--network", "n2", busybox_image, "sleep", "300"))
    out = ok(berthd.docker("exec", container["Id"], "sh", "-c", "ip -o link; ip -o -4 addr"))
    assert "10.126.0.50/24" in out and "10.127.0.60/24" in out
    assert "02:11:22:33:44:01" in out and "02:11:22:33:44:02" in out
    assert lookup(berthd, "watch", "two") == ["10.127.0.60"]


def test_network_create_refusals(berthd: Daemon) -> None:
    for name in ("../../x", "a/b"):
        refused(berthd.docker("network", "create", name), f"invalid name: {name}")
    assert not list((berthd.data_root / "networks").glob("*.json"))
    assert not (berthd.data_root / "x").exists() and not (berthd.root / "x").exists()
    cases = [
        (["-d", "nosuch"], "could not find plugin nosuch in v1 plugin registry: plugin not found"),
        (["-d", "overlay"], "This node is not a swarm manager."),
        (["--ingress"], "This node is not a swarm manager."),
        (["--scope", "swarm"], "This node is not a swarm manager."),
        (["--ipv6", "--ipv4=false"], "IPv6-only networks are not supported by Berth"),
        (["--ipam-driver", "foo"], "could not find plugin foo in v1 plugin registry: plugin not found"),
        (["--subnet", "10.130.0.5/24"], "invalid subnet 10.130.0.5/24: it should be 10.130.0.0/24"),
        (["-o", "com.docker.network.driver.mtu=abc"], "failed to parse com.docker.network.driver.mtu value: abc"),
        (["-o", "com.docker.network.bridge.enable_icc=maybe"], "failed to parse com.docker.network.bridge.enable_icc"),
        (["-o", "com.docker.network.bridge.name=has/slash"], "invalid bridge name"),
        (["-o", "com.docker.network.bridge.gateway_mode_ipv4=routed"], "is not supported by Berth's bridge driver"),
    ]  # fmt: skip
    for flags, message in cases:
        refused(berthd.docker("network", "create", *flags, "refused"), message)
    assert "refused" not in ok(berthd.docker("network", "ls", "--format", "{{.Name}}"))
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    for config, message in [
        ({"Subnet": "10.130.0.0/24", "IPRange": "10.131.0.0/25"},
         "invalid ip-range 10.131.0.0/25: parent subnet 10.130.0.0/24 doesn't contain ip-range"),
        ({"Subnet": "10.130.0.0/24", "Gateway": "10.131.0.1"},
         "invalid gateway 10.131.0.1: it should belong to the parent subnet 10.130.0.0/24"),
        ({"Subnet": "10.130.0.0/24", "AuxiliaryAddresses": {"a": "nope"}}, "invalid auxiliary address a: invalid address"),
    ]:  # fmt: skip
        body = {"Name": "refused", "IPAM": {"Config": [config]}}
        response = client.api._post_json(client.api._url("/networks/create"), data=body)
        assert response.status_code == 400 and message in response.json()["message"], response.text
    assert not list((berthd.data_root / "networks").glob("*.json"))


def test_config_only_and_config_from(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--config-only", "--subnet", "10.128.0.0/24", "--ip-range",
                     "10.128.0.64/26", "base"))  # fmt: skip
    [base] = json.loads(ok(berthd.docker("network", "inspect", "base")))
    assert base["ConfigOnly"] is True and base["Driver"] == "null"
    refused(berthd.docker("run", "--rm", "--network", "base", busybox_image, "true"),
            "cannot create endpoint on configuration-only network")  # fmt: skip
    ok(berthd.docker("network", "create", "--config-from", "base", "derived"))
    [derived] = json.loads(ok(berthd.docker("network", "inspect", "derived")))
    assert (
        derived["ConfigFrom"] == {"Network": "base"}
        and derived["IPAM"]["Config"][0]["Subnet"] == "10.128.0.0/24"
    )
    out = ok(
        berthd.docker(
            "run", "--rm", "--network", "derived", busybox_image, "ip", "-o", "-4", "addr", "show", "eth0"
        )
    )
    assert "10.128.0.64/24" in out
    refused(berthd.docker("network", "rm", "base"), 'configuration network "base" is in use')
    refused(berthd.docker("network", "create", "--config-from", "base", "--subnet", "10.129.0.0/24", "again"),
            "user specified configurations are not supported if the network depends on a configuration network")  # fmt: skip


def test_host_binding_and_interface_prefix_options(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
                     "-o", "com.docker.network.container_iface_prefix=lan", "opts"))  # fmt: skip
    ok(
        berthd.docker(
            "run", "-d", "--name", "pub", "--network", "opts", "-p", "80", busybox_image, "sleep", "300"
        )
    )
    assert ok(berthd.docker("port", "pub", "80")).startswith("127.0.0.1:")  # no HostIp: the option's
    assert ": lan0@" in ok(berthd.docker("exec", "pub", "ip", "-o", "link"))
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    response = client.api._post_json(
        client.api._url("/networks/create"), data={"Name": "v4off", "EnableIPv4": False}
    )
    assert response.status_code == 400 and "IPv4 or IPv6 must be enabled" in response.json()["message"]
