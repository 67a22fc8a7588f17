"""NAT and published ports in the kernel (Berth's nftables table), checked from inside containers and
from an "outside" host (a namespace on TEST-NET-3, see conftest.py): what reaches it, with which source
address, what stays out, and that published ports answer while berthd is down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from berth.testing.daemon import bridge_for
from tests.e2e.conftest import Daemon, start_daemon
from tests.e2e.networks.conftest import Outside
from tests.e2e.results import ok

pytestmark = pytest.mark.root

HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p {port} -h /www"


def table_of(daemon: Daemon) -> str:
    return f"berth-{bridge_for(daemon.cgroup_parent)[0]}"


def nft(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", *argv], capture_output=True, text=True)


def http_get(host: str, port: int) -> list[str]:
    """A GET with busybox's nc, printing the body only (the static busybox's wget crashes in
    getaddrinfo inside containers; nc takes the address as it is)."""
    script = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | sed '1,/^\\r$/d'"
    return ["sh", "-c", script]


def wget(daemon: Daemon, image: str, url: str, *run_args: str) -> subprocess.CompletedProcess[str]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    result = daemon.docker("run", "--rm", *run_args, image, *http_get(host, int(port)))
    if not result.stdout.strip():
        result.returncode = result.returncode or 1
    return result


def fetch(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_containers_reach_the_outside_masqueraded_to_the_host(
    berthd: Daemon, busybox_image: str, outside: Outside
) -> None:
    seen = ok(wget(berthd, busybox_image, outside.url)).strip()
    assert seen == outside.host_address  # the host's address, not the container's
    ok(berthd.docker("network", "create", "apps"))
    assert ok(wget(berthd, busybox_image, outside.url, "--network", "apps")).strip() == outside.host_address
    assert nft("list", "table", "inet", table_of(berthd)).returncode == 0


def test_internal_networks_have_no_way_out(berthd: Daemon, busybox_image: str, outside: Outside) -> None:
    ok(berthd.docker("network", "create", "--internal", "sealed"))
    result = wget(berthd, busybox_image, outside.url, "--network", "sealed")
    assert result.returncode != 0
    ok(berthd.docker("network", "create", "open"))  # the same daemon, a network with a way out
    assert ok(wget(berthd, busybox_image, outside.url, "--network", "open")).strip() == outside.host_address


def test_without_masquerade_the_container_address_is_the_source(
    berthd: Daemon, busybox_image: str, outside: Outside
) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.187.3.0/24",
                     "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "plain"))  # fmt: skip
    outside.route_to("10.187.3.0/24")
    seen = ok(wget(berthd, busybox_image, outside.url, "--network", "plain", "--ip", "10.187.3.9")).strip()
    assert seen == "10.187.3.9"


def test_outside_reaches_published_ports_only(berthd: Daemon, busybox_image: str, outside: Outside) -> None:
    port = free_port()
    ok(berthd.docker("network", "create", "--subnet", "10.187.4.0/24", "front"))
    ok(berthd.docker("run", "-d", "--name", "web", "--network", "front", "--ip", "10.187.4.5",
                     "-p", f"{port}:80", "-p", "81", busybox_image, "sh", "-c",
                     "mkdir /www && hostname > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www"))  # fmt: skip
    outside.route_to("10.187.4.0/24")
    deadline = time.monotonic() + 10  # the server in the container may still be starting
    while (
        published := outside.run("python3", "-c", _GET, f"http://{outside.host_address}:{port}/")
    ).returncode:
        assert time.monotonic() < deadline, published.stderr
        time.sleep(0.2)
    assert published.stdout.strip()
    # Straight to the container's address, past the published port: dropped (Docker 28 does the same).
    direct = outside.run("python3", "-c", _GET, "http://10.187.4.5:81/")
    assert direct.returncode != 0


_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"


def test_published_ports_answer_while_berthd_is_down(berthd: Daemon, busybox_image: str, tmp_root) -> None:  # type: ignore[no-untyped-def]
    loopback, anywhere = free_port(), free_port()
    ok(berthd.docker("run", "-d", "--name", "web", "-p", f"127.0.0.1:{loopback}:80", "-p", f"{anywhere}:80",
                     busybox_image, "sh", "-c", HTTPD.format(port=80)))  # fmt: skip
    cid = ok(berthd.docker("inspect", "-f", "{{.Id}}", "web")).strip()
    assert fetch(f"http://127.0.0.1:{loopback}/").strip() == cid[:12]
    berthd.process.kill()  # SIGKILL: no clean-up of any kind
    berthd.process.wait()
    assert fetch(f"http://127.0.0.1:{loopback}/").strip() == cid[:12]
    assert fetch(f"http://127.0.0.1:{anywhere}/").strip() == cid[:12]
    again = start_daemon(tmp_root, berthd.cgroup_parent)
    berthd.process = again.process
    assert fetch(f"http://127.0.0.1:{anywhere}/").strip() == cid[:12]
    # The port is Berth's again: another program cannot take it, as against docker-proxy.
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("0.0.0.0", anywhere))
    ok(berthd.docker("stop", "-t", "1", "web"))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{anywhere}/", timeout=2)
    elements = nft("list", "map", "inet", table_of(berthd), "dnat4_any").stdout
    assert str(anywhere) not in elements


def test_a_container_reaches_its_own_published_port_through_the_host(
    berthd: Daemon, busybox_image: str, outside: Outside
) -> None:
    port = free_port()
    ok(berthd.docker("run", "-d", "--name", "self", "-p", f"{port}:80", busybox_image,
                     "sh", "-c", HTTPD.format(port=80)))  # fmt: skip
    fetch(f"http://127.0.0.1:{port}/")
    # hairpin: from the container itself, and from another one, through an address of the host
    for name in ("self", None):
        if name:
            got = berthd.docker("exec", name, *http_get(outside.host_address, port))
        else:
            got = wget(berthd, busybox_image, f"http://{outside.host_address}:{port}/")
        assert got.returncode == 0 and got.stdout.strip(), got.stderr


@pytest.fixture(scope="module")
def udp_echo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static UDP echo server (busybox has none), built with gcc."""
    binary = tmp_path_factory.mktemp("udp") / "udp_echo"
    source = Path(__file__).with_name("udp_echo.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def test_port_ranges_and_udp_in_the_kernel(berthd: Daemon, busybox_image: str, udp_echo: Path) -> None:
    base = 23100 + os.getpid() % 500
    ok(berthd.berth("run", "-d", "--name", "many", "-p", f"{base}-{base + 20}:{base}-{base + 20}",
                     "-p", f"127.0.0.1:{base + 30}:5000/udp", "-v", f"{udp_echo}:/udp_echo:ro",
                     busybox_image, "sh", "-c", f"/udp_echo 5000 & {HTTPD.format(port=base + 7)}"))  # fmt: skip
    ports = json.loads(ok(berthd.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "many")))
    assert len(ports) == 22
    assert ports[f"{base + 7}/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(base + 7)}]
    assert fetch(f"http://127.0.0.1:{base + 7}/").strip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(20):
            s.sendto(b"over udp", ("127.0.0.1", base + 30))
            try:
                reply = s.recv(100)
                break
            except TimeoutError:
                continue
    assert reply == b"echo over udp"
    map_text = nft("list", "map", "inet", table_of(berthd), "dnat4").stdout
    assert f"127.0.0.1 . udp . {base + 30}" in map_text


def test_ten_thousand_published_ports_cost_no_process(berthd: Daemon, busybox_image: str) -> None:
    before = len(os.listdir("/proc"))
    # below the host's ephemeral ports (32768-60999): one of them in TIME_WAIT after a connection of
    # this host refuses every bind for a minute, Berth's and docker-proxy's alike
    ok(berthd.docker("run", "-d", "--name", "wide", "-p", "20000-29999:20000-29999",
                     busybox_image, "sh", "-c", HTTPD.format(port=24567), timeout=120))  # fmt: skip
    assert fetch("http://127.0.0.1:24567/").strip()
    elements = nft("list", "map", "inet", table_of(berthd), "dnat4_any").stdout.count(" : ")
    assert elements >= 10000
    assert len(os.listdir("/proc")) - before < 20  # the container's few processes, no relay per port
    info = json.loads(ok(berthd.docker("inspect", "wide")))[0]
    assert len(info["HostConfig"]["PortBindings"]) == len(info["Config"]["ExposedPorts"]) == 10000
    assert info["HostConfig"]["PortBindings"]["24567/tcp"] == [{"HostIp": "", "HostPort": "24567"}]
    assert info["NetworkSettings"]["Ports"]["29999/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "29999"}]
    assert "24567/tcp -> 0.0.0.0:24567" in ok(berthd.docker("port", "wide"))
    record = berthd.data_root / "containers" / info["Id"] / "config.v2.json"
    assert record.stat().st_size < 16 * 1024  # the three maps as runs, not 30,000 entries


def test_a_deleted_table_is_made_again(berthd: Daemon, busybox_image: str) -> None:
    port = free_port()
    ok(berthd.docker("run", "-d", "-p", f"{port}:80", busybox_image, "sh", "-c", HTTPD.format(port=80)))
    fetch(f"http://127.0.0.1:{port}/")
    assert nft("delete", "table", "inet", table_of(berthd)).returncode == 0
    deadline = time.monotonic() + 15
    while nft("list", "table", "inet", table_of(berthd)).returncode != 0:
        assert time.monotonic() < deadline, "the table was not made again"
        time.sleep(0.5)
    assert fetch(f"http://127.0.0.1:{port}/").strip()
    assert "was deleted: making it again" in berthd.log_text()


def test_cleanup_removes_the_table_and_bridges(berthd: Daemon, busybox_image: str) -> None:
    bridge = bridge_for(berthd.cgroup_parent)[0]
    ok(berthd.docker("network", "create", "extra"))
    ok(berthd.docker("run", "-d", "--name", "up", "--network", "extra", busybox_image, "sleep", "60"))
    device = json.loads(ok(berthd.docker("network", "inspect", "extra")))[0]["Id"][:12]
    argv = [str(p) for p in ("--data-root", berthd.data_root, "--exec-root", berthd.exec_root)]
    cleanup = [*argv, "--bridge", bridge, "--cleanup"]
    refused = subprocess.run([_berthd(), *cleanup], capture_output=True, text=True)
    assert refused.returncode == 1 and "still running (up)" in refused.stderr
    ok(berthd.docker("rm", "-f", "up"))
    berthd.process.terminate()
    berthd.process.wait()
    done = subprocess.run([_berthd(), *cleanup], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"removed nftables table inet {table_of(berthd)}" in done.stdout
    assert nft("list", "table", "inet", table_of(berthd)).returncode != 0
    assert not os.path.exists(f"/sys/class/net/br-{device}")


def _berthd() -> str:
    from berth.testing.daemon import BERTHD

    return BERTHD


def test_ip_masq_off_leaves_the_source_alone(outside: Outside) -> None:
    from tests.e2e.conftest import daemon_with

    with daemon_with("--ip-masq=false") as daemon:
        ok(daemon.docker("network", "create", "--subnet", "10.187.5.0/24", "bare"))
        outside.route_to("10.187.5.0/24")
        seen = ok(
            wget(daemon, "busybox:latest", outside.url, "--network", "bare", "--ip", "10.187.5.7")
        ).strip()
        assert seen == "10.187.5.7"
        masq = nft("list", "set", "inet", table_of(daemon), "masq4").stdout
        assert "10.187.5.0/24" not in masq
