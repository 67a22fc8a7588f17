"""Dual-stack user networks (``--ipv6``) on the real kernel: addresses, routes and pings between
containers, inspect as Docker shows it, driven with the docker CLI and docker-py (its IPv6 network
tests are the model). All traffic stays on the test daemon's bridges."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import time
from pathlib import Path

import docker
import docker.types
import pytest

from berth.testing.daemon import bridge_for
from tests.e2e.conftest import Daemon
from tests.e2e.networks.conftest import Outside
from tests.e2e.networks.test_nat import wget
from tests.e2e.results import inspect, ok, refused

pytestmark = pytest.mark.root


def address6(daemon: Daemon, container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").GlobalIPv6Address}}}}'
    return ok(daemon.docker("inspect", "-f", template, container)).strip()


def test_containers_reach_each_other_over_ipv6(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:1::/64", "net6"))
    [network] = json.loads(ok(berthd.docker("network", "inspect", "net6")))
    assert network["EnableIPv4"] is True and network["EnableIPv6"] is True
    config = network["IPAM"]["Config"]  # as dockerd: the given entry first, then the chosen IPv4 one
    assert config[0] == {"Subnet": "fd00:db8:1::/64", "Gateway": "fd00:db8:1::1"} and len(config) == 2
    assert ipaddress.ip_network(config[1]["Subnet"]).version == 4
    for name in ("one", "two"):
        ok(berthd.docker("run", "-d", "--name", name, "--hostname", f"{name}-host", "--network", "net6",
                         busybox_image, "sleep", "300"))  # fmt: skip
    one, two = address6(berthd, "one", "net6"), address6(berthd, "two", "net6")
    assert (one, two) == ("fd00:db8:1::2", "fd00:db8:1::3")  # the lowest free ones, the gateway skipped
    ping = berthd.docker("exec", "one", "ping", "-6", "-c", "1", "-W", "2", two)
    assert ping.returncode == 0 and "1 packets received" in ping.stdout, ping.stdout + ping.stderr
    addresses = ok(berthd.docker("exec", "two", "ip", "-6", "addr", "show", "eth0"))
    assert (
        f"inet6 {two}/64 scope global" in addresses
        and "tentative" not in addresses.split(two)[1].split("\n")[0]
    )
    assert "default via fd00:db8:1::1 dev eth0" in ok(berthd.docker("exec", "two", "ip", "-6", "route"))
    assert "default via" in ok(berthd.docker("exec", "two", "ip", "-4", "route"))  # dual-stack: IPv4 too
    # the container's own IPv6 address is in its /etc/hosts, with its hostname (as Docker writes it)
    assert f"{two}\ttwo-host" in ok(berthd.docker("exec", "two", "cat", "/etc/hosts"))
    endpoint = inspect(berthd, "two")["NetworkSettings"]["Networks"]["net6"]
    assert (endpoint["GlobalIPv6Address"], endpoint["GlobalIPv6PrefixLen"], endpoint["IPv6Gateway"]) == (
        two, 64, "fd00:db8:1::1",
    )  # fmt: skip
    [network] = json.loads(ok(berthd.docker("network", "inspect", "net6")))
    members = {c["Name"]: c["IPv6Address"] for c in network["Containers"].values()}
    assert members == {"one": f"{one}/64", "two": f"{two}/64"}
    bridge = network["Id"][:12]
    assert Path(f"/proc/sys/net/ipv6/conf/br-{bridge}/disable_ipv6").read_text() == "0\n"
    bridge_addr = subprocess.run(["ip", "-6", "addr", "show", f"br-{bridge}"], capture_output=True, text=True)
    assert "inet6 fd00:db8:1::1/64 scope global nodad" in bridge_addr.stdout
    # stopped, a container's address is released: the next one takes it
    ok(berthd.docker("stop", "-t", "0", "one"))
    assert address6(berthd, "one", "net6") == ""
    ok(berthd.docker("run", "-d", "--name", "three", "--network", "net6", busybox_image, "sleep", "300"))
    assert address6(berthd, "three", "net6") == one
    # the default bridge stays IPv4-only
    [default] = json.loads(ok(berthd.docker("network", "inspect", "bridge")))
    assert default["EnableIPv6"] is False and len(default["IPAM"]["Config"]) == 1


def test_docker_py_ipv6_network_and_static_address(berthd: Daemon, busybox_image: str) -> None:
    client = docker.APIClient(base_url=berthd.host, timeout=60)
    pool = docker.types.IPAMPool(subnet="2001:389::/64", iprange="2001:389::0/96", gateway="2001:389::ffff")
    net_id = client.create_network(
        "dockerpy6", driver="bridge", enable_ipv6=True, ipam=docker.types.IPAMConfig(pool_configs=[pool])
    )["Id"]
    net = client.inspect_network(net_id)
    assert net["EnableIPv6"] is True
    assert net["IPAM"]["Config"][0] == {
        "Subnet": "2001:389::/64", "IPRange": "2001:389::/96", "Gateway": "2001:389::ffff",
    }  # fmt: skip
    container = client.create_container(
        busybox_image, "top",
        host_config=client.create_host_config(network_mode="dockerpy6"),
        networking_config=client.create_networking_config(
            {"dockerpy6": client.create_endpoint_config(ipv6_address="2001:389::f00d")}
        ),
    )  # fmt: skip
    client.start(container)
    settings = client.inspect_container(container)["NetworkSettings"]
    endpoint = settings["Networks"]["dockerpy6"]
    assert endpoint["IPAMConfig"]["IPv6Address"] == "2001:389::f00d"
    assert (endpoint["GlobalIPv6Address"], endpoint["GlobalIPv6PrefixLen"], endpoint["IPv6Gateway"]) == (
        "2001:389::f00d", 64, "2001:389::ffff",
    )  # fmt: skip
    # the deprecated top-level fields are the default bridge's endpoint's only (Docker's API spec): empty here
    assert (settings["GlobalIPv6Address"], settings["GlobalIPv6PrefixLen"], settings["IPv6Gateway"]) == (
        "",
        0,
        "",
    )
    out = ok(berthd.docker("exec", container["Id"], "ip", "-6", "-o", "addr", "show", "eth0"))
    assert "2001:389::f00d/64" in out
    # connected later with an address of its own: the lowest free one of the IPRange otherwise
    other = client.create_container(busybox_image, "top")
    client.connect_container_to_network(other, "dockerpy6")
    client.start(other)
    assert client.inspect_container(other)["NetworkSettings"]["Networks"]["dockerpy6"][
        "GlobalIPv6Address"
    ] == ("2001:389::1")
    ping = berthd.docker("exec", other["Id"], "ping", "-6", "-c", "1", "-W", "2", "2001:389::f00d")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # each family's default route is its own gateway network's (Docker 28): IPv4 the main network's (the
    # default bridge), IPv6 the only IPv6 network's
    assert "default via 2001:389::ffff dev eth1" in ok(
        berthd.docker("exec", other["Id"], "ip", "-6", "route")
    )
    assert "dev eth0" in ok(berthd.docker("exec", other["Id"], "ip", "-4", "route", "show", "default"))
    client.disconnect_container_from_network(other, "dockerpy6")
    assert "default" not in ok(berthd.docker("exec", other["Id"], "ip", "-6", "route"))
    assert "dev eth0" in ok(berthd.docker("exec", other["Id"], "ip", "-4", "route", "show", "default"))
    client.connect_container_to_network(other, "dockerpy6")
    assert "default via 2001:389::ffff" in ok(berthd.docker("exec", other["Id"], "ip", "-6", "route"))


def test_automatic_ula_subnet_and_static_ip6(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--ipv6", "auto6"))
    [auto] = json.loads(ok(berthd.docker("network", "inspect", "auto6")))
    [v6] = [c for c in auto["IPAM"]["Config"] if ipaddress.ip_network(c["Subnet"]).version == 6]
    subnet = ipaddress.IPv6Network(v6["Subnet"])
    assert subnet.prefixlen == 64 and subnet.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert v6["Gateway"] == str(subnet.network_address + 1)
    ok(berthd.docker("network", "create", "--ipv6", "auto6b"))
    [second] = json.loads(ok(berthd.docker("network", "inspect", "auto6b")))
    [v6b] = [c for c in second["IPAM"]["Config"] if ipaddress.ip_network(c["Subnet"]).version == 6]
    other = ipaddress.IPv6Network(v6b["Subnet"])
    assert other != subnet and other.supernet(new_prefix=48) == subnet.supernet(
        new_prefix=48
    )  # the daemon's /48
    out = ok(
        berthd.docker(
            "run", "--rm", "--network", "auto6", busybox_image, "ip", "-6", "-o", "addr", "show", "eth0"
        )
    )
    assert f"{subnet.network_address + 2}/64" in out
    refused(
        berthd.docker(
            "run",
            "--rm",
            "--network",
            "auto6",
            "--ip6",
            str(subnet.network_address + 9),
            busybox_image,
            "true",
        ),
        "user specified IP address is supported only when connecting to networks with user configured subnets",
    )  # a subnet the daemon chose takes no static address, as in Docker
    ok(berthd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:2::/64", "fixed6"))
    ok(berthd.docker("run", "-d", "--name", "pinned", "--network", "fixed6", "--ip6", "fd00:db8:2::50",
                     busybox_image, "sleep", "300"))  # fmt: skip
    assert address6(berthd, "pinned", "fixed6") == "fd00:db8:2::50"
    assert "fd00:db8:2::50/64" in ok(
        berthd.docker("exec", "pinned", "ip", "-6", "-o", "addr", "show", "eth0")
    )
    taken = berthd.docker(
        "run", "--rm", "--network", "fixed6", "--ip6", "fd00:db8:2::50", busybox_image, "true"
    )
    assert taken.returncode == 125 and "Address already in use" in taken.stderr
    refused(
        berthd.docker("run", "--rm", "--network", "fixed6", "--ip6", "fd00:db8:3::1", busybox_image, "true"),
        "no configured subnet or ip-range contain the IP address fd00:db8:3::1",
    )
    refused(
        berthd.docker("run", "--rm", "--network", "fixed6", "--ip6", "10.0.0.1", busybox_image, "true"),
        "invalid IPv6 address: 10.0.0.1",
    )


def test_ipv6_refusals(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:4::/64", "first6"))
    refused(
        berthd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:4::/56", "overlap6"),
        "Pool overlaps with other one on this address space",
    )
    refused(
        berthd.docker("network", "create", "--subnet", "fd00:db8:5::/64", "noflag"),
        "IPv6 subnet fd00:db8:5::/64 on a network without IPv6",
    )
    refused(
        berthd.docker("network", "create", "--ipv6", "--ipv4=false", "only6"),
        "IPv6-only networks are not supported by Berth",
    )
    ok(berthd.docker("network", "create", "--subnet", "10.124.0.0/24", "plain4"))
    refused(
        berthd.docker("run", "--rm", "--network", "plain4", "--ip6", "fd00:db8:4::9", busybox_image, "true"),
        "user specified IP address is supported only when connecting to networks with user configured subnets",
    )
    refused(
        berthd.docker("run", "--rm", "--ip6", "fd00:db8:4::9", busybox_image, "true"),
        "user specified IP address is supported on user defined networks only",
    )
    names = ok(berthd.docker("network", "ls", "--format", "{{.Name}}")).split()
    assert "overlap6" not in names and "noflag" not in names and "only6" not in names


def _get6(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=3) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return conn.makefile("rb").read().decode(errors="replace").split("\r\n\r\n", 1)[-1]


def test_names_resolve_by_aaaa_and_ports_publish_on_ipv6(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("network", "create", "--ipv6", "--subnet", "fd00:db8:7::/64", "dual"))  # berth's CLI
    ok(berthd.berth("run", "-d", "--name", "web6", "--network", "dual", "-p", "127.0.0.1::80",
                     "-p", "[::1]::80", "-p", "80", busybox_image, "sh", "-c",
                     "mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"))  # fmt: skip
    address6 = inspect(berthd, "web6")["NetworkSettings"]["Networks"]["dual"]["GlobalIPv6Address"]
    ok(berthd.docker("run", "-d", "--name", "asker", "--network", "dual", busybox_image, "sleep", "60"))
    answer = ok(berthd.docker("exec", "asker", "nslookup", "-type=aaaa", "web6"))
    assert address6 in answer
    ping = ok(berthd.docker("exec", "asker", "ping", "-6", "-c", "1", "-W", "2", "web6"))
    assert "1 packets received" in ping
    ports = inspect(berthd, "web6")["NetworkSettings"]["Ports"]["80/tcp"]
    by_ip = {p["HostIp"]: int(p["HostPort"]) for p in ports}
    assert set(by_ip) == {"127.0.0.1", "::1", "0.0.0.0", "::"}
    hostname = inspect(berthd, "web6")["Config"]["Hostname"]
    deadline = time.monotonic() + 10
    while True:
        try:
            got = [
                _get6(ip, port).strip()
                for ip, port in (("127.0.0.1", by_ip["127.0.0.1"]), ("::1", by_ip["::1"]))
            ]
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert got == [hostname, hostname]
    # [::] is in the kernel, towards the container's IPv6 address; ::1 is relayed (it cannot be routed)
    table = subprocess.run(["nft", "list", "map", "inet", f"berth-{bridge_for(berthd.cgroup_parent)[0]}",
                            "dnat6_any"], capture_output=True, text=True).stdout  # fmt: skip
    assert f"tcp . {by_ip['::']} : {address6} . 80" in table
    gateway6 = inspect(berthd, "web6")["NetworkSettings"]["Networks"]["dual"]["IPv6Gateway"]
    assert _get6(gateway6, by_ip["::"]).strip() == hostname  # a local IPv6 address, DNATed by the kernel


def test_containers_reach_the_outside_over_ipv6_masqueraded(
    berthd: Daemon, busybox_image: str, outside: Outside
) -> None:
    """Outbound IPv6 NAT: a ULA-addressed container reaches a host outside (the test's namespace on
    2001:db8::/32) as the host's address, as Docker masquerades IPv6 with ip6tables; an --internal
    IPv6 network has no way out."""
    ok(berthd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:7::/64", "out6"))
    seen = ok(wget(berthd, busybox_image, outside.url6, "--network", "out6")).strip()
    assert seen == outside.host_address6  # the host's address, not fd00:db8:7::2
    ok(berthd.docker("network", "create", "--ipv6", "--internal", "--subnet", "fd00:db8:8::/64", "sealed6"))
    assert wget(berthd, busybox_image, outside.url6, "--network", "sealed6").returncode != 0
