"""Bridge networking on the real kernel: addresses, names, connect/disconnect and published ports,
driven with ``berth`` and the docker CLI. All traffic stays on loopback and on the test daemon's bridges."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from berth.testing.daemon import bridge_for
from tests.e2e.conftest import Daemon, start_daemon, stop_daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root

HTTPD = ["sh", "-c", "hostname > /tmp/www/index.html; exec httpd -f -p 80 -h /tmp/www"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int, timeout: float = 10.0) -> str:
    """GET / on a published port, retrying while the server in the container starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def address(daemon: Daemon, container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return ok(daemon.docker("inspect", "-f", template, container)).strip()


def httpd(daemon: Daemon, image: str, *args: str) -> str:
    return ok(daemon.berth("run", "-d", *args, image, "sh", "-c", "mkdir /tmp/www; " + HTTPD[2])).strip()


def test_default_bridge_gives_each_container_an_address(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("run", "-d", "--name", "one", busybox_image, "sleep", "60"))
    first = address(berthd, "one", "bridge")
    [bridge] = json.loads(ok(berthd.docker("network", "inspect", "bridge")))
    gateway = bridge["IPAM"]["Config"][0]["Gateway"]
    assert first.rsplit(".", 1)[0] == gateway.rsplit(".", 1)[0] and first != gateway
    routes = ok(berthd.docker("run", "--rm", busybox_image, "ip", "route"))
    assert f"default via {gateway} dev eth0" in routes
    ping = berthd.docker("run", "--rm", busybox_image, "ping", "-c", "1", "-W", "2", first)
    assert ping.returncode == 0 and "1 packets received" in ping.stdout
    mac = ok(berthd.docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.MacAddress}}", "one")).strip()
    assert mac.startswith("02:42:")
    received, sent = (
        ok(berthd.docker("stats", "--no-stream", "--format", "{{.NetIO}}", "one")).strip().split(" / ")
    )
    assert received != "0B" and sent != "0B"  # the ping went through one's eth0, counted in its namespace
    # the default bridge has no name resolution, as in Docker
    assert berthd.docker("run", "--rm", busybox_image, "ping", "-c", "1", "-W", "1", "one").returncode != 0


def test_user_network_resolves_names_and_aliases(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "app"))
    ok(berthd.docker("run", "-d", "--name", "db", "--network", "app", "--network-alias", "database",
                     busybox_image, "sleep", "60"))  # fmt: skip
    ok(berthd.berth("run", "-d", "--name", "api", "--network", "app", busybox_image, "sleep", "60"))
    db = address(berthd, "db", "app")
    for name in ("db", "database"):
        out = ok(berthd.docker("exec", "api", "ping", "-c", "1", "-W", "2", name))
        assert f"({db})" in out
    # names resolve both ways: the earlier container learnt about the later one
    assert f"({address(berthd, 'api', 'app')})" in ok(
        berthd.docker("exec", "db", "ping", "-c", "1", "-W", "2", "api")
    )
    network_id = ok(berthd.docker("network", "inspect", "-f", "{{.Id}}", "app")).strip()
    for ref in ("app", network_id[:12]):
        members = ok(berthd.docker("ps", "--format", "{{.Names}}", "--filter", f"network={ref}")).split()
        assert sorted(members) == ["api", "db"]
    assert "api" not in ok(berthd.docker("exec", "db", "cat", "/etc/hosts"))  # DNS, not lines in a file
    ok(berthd.docker("rm", "-f", "api"))
    gone = berthd.docker("exec", "db", "nslookup", "api")
    assert gone.returncode != 0 and "NXDOMAIN" in gone.stdout + gone.stderr


def test_static_address_and_its_conflicts(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.252.9.0/24", "fixed"))
    ok(berthd.docker("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", "10.252.9.50",
                     busybox_image, "sleep", "60"))  # fmt: skip
    assert address(berthd, "pinned", "fixed") == "10.252.9.50"
    taken = berthd.docker("run", "--rm", "--network", "fixed", "--ip", "10.252.9.50", busybox_image, "true")
    assert taken.returncode == 125 and "Address already in use" in taken.stderr
    outside = berthd.docker("run", "--rm", "--network", "fixed", "--ip", "10.9.9.9", busybox_image, "true")
    assert (
        outside.returncode == 125
        and "no configured subnet or ip-range contain the IP address 10.9.9.9" in outside.stderr
    )
    ok(berthd.docker("network", "create", "auto"))  # a subnet Berth chose: no static addresses, as Docker
    auto = berthd.docker("run", "--rm", "--network", "auto", "--ip", "10.9.9.9", busybox_image, "true")
    assert auto.returncode == 125 and "networks with user configured subnets" in auto.stderr
    default = berthd.docker("run", "--rm", "--ip", "10.252.9.60", busybox_image, "true")
    assert default.returncode == 125 and "user defined networks only" in default.stderr


def test_connect_and_disconnect_a_running_container(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("network", "create", "side"))
    ok(berthd.berth("run", "-d", "--name", "peer", "--network", "side", busybox_image, "sleep", "60"))
    ok(berthd.berth("run", "-d", "--name", "roamer", busybox_image, "sleep", "60"))
    ok(berthd.docker("network", "connect", "--alias", "wanderer", "side", "roamer"))
    links = ok(berthd.berth("exec", "roamer", "ip", "-o", "-4", "addr"))
    assert f"eth1    inet {address(berthd, 'roamer', 'side')}/24" in links
    assert ok(berthd.berth("exec", "roamer", "ping", "-c", "1", "-W", "2", "peer")).count(
        "1 packets received"
    )
    assert ok(berthd.berth("exec", "peer", "ping", "-c", "1", "-W", "2", "wanderer")).count(
        "1 packets received"
    )
    networks = json.loads(ok(berthd.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "roamer")))
    assert sorted(networks) == ["bridge", "side"]
    ok(berthd.docker("network", "disconnect", "side", "roamer"))
    assert "eth1" not in ok(berthd.berth("exec", "roamer", "ip", "-o", "-4", "addr"))
    gone = berthd.berth("exec", "peer", "nslookup", "wanderer")
    assert gone.returncode != 0 and "NXDOMAIN" in gone.stdout + gone.stderr  # the name went with it
    again = berthd.docker("network", "disconnect", "side", "roamer")
    assert again.returncode == 1 and "is not connected to network side" in again.stderr


def test_published_ports_relay_to_the_container(berthd: Daemon, busybox_image: str) -> None:
    fixed = free_port()
    cid = httpd(berthd, busybox_image, "--name", "web", "-p", f"127.0.0.1:{fixed}:80", "--expose", "443")
    assert fetch(fixed) == cid[:12] + "\n"
    assert ok(berthd.docker("port", "web")) == f"80/tcp -> 127.0.0.1:{fixed}\n"
    assert ok(berthd.berth("port", "web", "80")) == f"127.0.0.1:{fixed}\n"
    for cli in (berthd.docker, berthd.berth):  # as docker prints them: mappings last
        row = ok(cli("ps", "--format", "{{.Ports}}", "--filter", "name=web")).strip()
        assert row == f"443/tcp, 127.0.0.1:{fixed}->80/tcp"
    ports = json.loads(ok(berthd.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web")))
    assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(fixed)}], "443/tcp": None}
    # the same host port again: Docker's error, and the second container does not run
    clash = berthd.docker(
        "run", "-d", "--name", "clash", "-p", f"127.0.0.1:{fixed}:80", busybox_image, "sleep", "60"
    )
    assert clash.returncode == 125 and "port is already allocated" in clash.stderr
    assert ok(berthd.docker("inspect", "-f", "{{.State.Running}}", "clash")).strip() == "false"
    # -P: every exposed port on an ephemeral host port
    httpd(berthd, busybox_image, "--name", "auto", "--expose", "80", "-P")
    mapping = ok(berthd.docker("port", "auto", "80/tcp")).strip()
    assert mapping.startswith("0.0.0.0:")
    assert (
        fetch(int(mapping.rsplit(":", 1)[1])).strip()
        == ok(berthd.berth("inspect", "-f", "{{.Config.Hostname}}", "auto")).strip()
    )

    def names(*filters: str) -> set[str]:
        return set(ok(berthd.docker("ps", "--format", "{{.Names}}", *filters)).split())

    assert names("--filter", "publish=80") == {"web", "auto"}
    assert names("--filter", "publish=443") == set()  # exposed, not published
    assert names("--filter", "expose=443/tcp") == {"web"}
    ok(berthd.berth("stop", "-t", "1", "web"))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{fixed}/", timeout=2)


def test_addresses_and_ports_survive_a_daemon_restart(berthd: Daemon, busybox_image: str) -> None:
    port = free_port()
    cid = httpd(berthd, busybox_image, "--name", "lasting", "-p", f"127.0.0.1:{port}:80")
    before = address(berthd, "lasting", "bridge")
    assert fetch(port) == cid[:12] + "\n"
    stop_daemon(berthd)
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process
    assert address(berthd, "lasting", "bridge") == before
    assert fetch(port) == cid[:12] + "\n"
    # a container started now gets another address than the one still in use
    ok(berthd.berth("run", "-d", "--name", "newcomer", busybox_image, "sleep", "60"))
    assert address(berthd, "newcomer", "bridge") != before


def test_nothing_is_left_behind(berthd: Daemon, busybox_image: str) -> None:
    def veths() -> set[str]:
        out = subprocess.run(
            ["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True
        ).stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}

    before = veths()
    ok(berthd.berth("network", "create", "temp"))
    ok(berthd.berth("run", "-d", "--name", "short", "--network", "temp", busybox_image, "sleep", "60"))
    ok(berthd.berth("network", "connect", "bridge", "short"))
    assert len(veths() - before) == 2
    ok(berthd.berth("run", "--rm", busybox_image, "true"))
    ok(berthd.berth("rm", "-f", "short"))
    deadline = time.monotonic() + 5
    while veths() - before and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel tears veths down after their namespace
    assert veths() - before == set()
    assert list(Path(berthd.exec_root / "netns").iterdir()) == []
    ok(berthd.berth("network", "rm", "temp"))


def test_a_bridge_deleted_by_hand_is_made_again(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("run", "--rm", busybox_image, "true"))  # the default bridge exists (and is cached) now
    device = bridge_for(berthd.cgroup_parent)[0]
    subprocess.run(["ip", "link", "delete", device], check=True)
    routes = ok(berthd.berth("run", "--rm", busybox_image, "ip", "route"))
    assert "default via" in routes
    assert subprocess.run(["ip", "link", "show", device], capture_output=True).returncode == 0


def test_dns_flags_and_extra_hosts_reach_the_container(berthd: Daemon, busybox_image: str) -> None:
    for cli in (berthd.berth, berthd.docker):
        out = ok(
            cli("run", "--rm", "--dns", "10.0.0.53", "--dns-search", "corp.test", "--dns-option", "ndots:2",
                "--add-host", "db.local:10.1.2.3", busybox_image, "cat", "/etc/resolv.conf", "/etc/hosts")
        )  # fmt: skip
        assert "nameserver 10.0.0.53\n" in out and "search corp.test\n" in out and "options ndots:2\n" in out
        assert "10.1.2.3\tdb.local\n" in out


UDP_ECHO_C = r"""
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
int main(void) {  /* answers every datagram on UDP port 5353 with "echo:" and the datagram */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(5353)};
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) return 1;
    for (;;) {
        char buf[2048] = "echo:";
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&peer, &len);
        if (n >= 0) sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr *)&peer, len);
    }
}
"""


def test_udp_ports_are_published_too(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    (tmp_path / "udp-echo.c").write_text(UDP_ECHO_C)
    subprocess.run(
        ["cc", "-static", "-O2", "-o", str(tmp_path / "udp-echo"), str(tmp_path / "udp-echo.c")], check=True
    )
    port = free_port()
    ok(berthd.docker("run", "-d", "--name", "echo", "-p", f"127.0.0.1:{port}:5353/udp",
                     "-v", f"{tmp_path}:/opt:ro", busybox_image, "/opt/udp-echo"))  # fmt: skip
    assert ok(berthd.docker("port", "echo")) == f"5353/udp -> 127.0.0.1:{port}\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.5)
        deadline = time.monotonic() + 10
        while True:  # UDP has no connect: ask until the server in the container is up
            client.sendto(b"ping", ("127.0.0.1", port))
            try:
                assert client.recvfrom(2048)[0] == b"echo:ping"
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "no UDP answer through the published port"
        for n in range(5):  # the same client keeps its relay socket
            client.sendto(b"n%d" % n, ("127.0.0.1", port))
            assert client.recvfrom(2048)[0] == b"echo:n%d" % n


def test_a_container_can_share_another_ones_network_namespace(berthd: Daemon, busybox_image: str) -> None:
    cid = httpd(berthd, busybox_image, "--name", "pod")
    for cli in (berthd.berth, berthd.docker):  # the sidecar sees pod's own loopback
        fetched = ok(cli("run", "--rm", "--network", "container:pod", busybox_image, "sh", "-c",
                         "for i in $(seq 50); do wget -qO- http://127.0.0.1/ && exit; sleep 0.1; done; exit 1"))  # fmt: skip
        assert fetched == cid[:12] + "\n"
    ok(berthd.docker("create", "--name", "side", "--network", "container:pod", busybox_image, "true"))
    mode = ok(
        berthd.docker(
            "inspect", "-f", "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}", "side"
        )
    )
    assert mode == f"container:{cid} 0\n"
    refused = berthd.docker(
        "run", "--rm", "--network", "container:pod", "-p", "8080:80", busybox_image, "true"
    )
    assert (
        refused.returncode == 125 and "port publishing and the container type network mode" in refused.stderr
    )
    ok(berthd.berth("stop", "-t", "1", "pod"))
    stopped = berthd.docker("start", "side")
    assert stopped.returncode == 1 and "cannot join network of a non running container" in stopped.stderr


def test_an_ephemeral_port_is_kept_across_restarts_unless_taken(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("run", "-d", "--name", "eph", "-p", "127.0.0.1::80", busybox_image, "sleep", "300"))
    first = ok(berthd.docker("port", "eph", "80")).strip()
    ok(berthd.berth("restart", "-t", "1", "eph"))
    assert ok(berthd.docker("port", "eph", "80")).strip() == first  # asked for again by number
    ok(berthd.berth("stop", "-t", "1", "eph"))
    with socket.socket() as squatter:  # another program takes it meanwhile
        squatter.bind(("127.0.0.1", int(first.rsplit(":", 1)[1])))
        squatter.listen()
        ok(berthd.berth("start", "eph"))
        second = ok(berthd.docker("port", "eph", "80")).strip()
    assert second.startswith("127.0.0.1:") and second != first
