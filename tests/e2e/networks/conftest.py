"""An "outside" host for NAT tests: a network namespace of the test's own, reached from the host through
a veth pair on TEST-NET-3 (203.0.113.0/24) and on a /64 of IPv6's documentation prefix (2001:db8::/32,
never routed anywhere), with a tiny HTTP server in it on both that answers each request with the
address it came from. Nothing of it is left after the test: the server is stopped by PID, the
namespace (and the veth with it) is deleted, the host route goes with the veth."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.testing.daemon import Daemon

# Answers GET with the client's address; the server is Python's own, run in the namespace.
_SERVER = """
import http.server, socket, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
Server((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
"""


@dataclass
class Outside:
    namespace: str
    host_address: str  # the host's end of the veth: the source NAT must show
    address: str  # the outside host's
    port: int
    host_link: str
    host_address6: str  # the same, on IPv6
    address6: str

    def run(self, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
        """A command inside the outside host (e.g. curl to a published port on the host)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *argv], capture_output=True, text=True, timeout=timeout
        )

    def route_to(self, subnet: str) -> None:
        """Route ``subnet`` (a bridge's) through the host, as a LAN neighbour could."""
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, "ip", "route", "add", subnet, "via", self.host_address],
            check=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    @property
    def url6(self) -> str:
        return f"http://[{self.address6}]:{self.port}/"


def _taken() -> list[ipaddress.IPv4Network]:
    """What the /30 must not cover: the host's routes, and the addresses the machine's package mirrors
    resolve to (here they live in TEST-NET-3 too: a route of ours would cut the host off from them)."""
    taken = []
    for line in subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout.splitlines():
        destination = line.split()[0] if line.split() else "default"
        if destination != "default":
            taken.append(ipaddress.IPv4Network(destination, strict=False))
    for host in ("deb.debian.org", "security.debian.org", "pypi.org", "files.pythonhosted.org"):
        with contextlib.suppress(OSError):
            for address in socket.gethostbyname_ex(host)[2]:
                taken.append(ipaddress.IPv4Network(f"{address}/32"))
    return taken


def _free_slot(seed: int) -> ipaddress.IPv4Network:
    taken = _taken()
    slots = list(ipaddress.IPv4Network("203.0.113.0/24").subnets(new_prefix=30))[1:-1]
    for step in range(len(slots)):
        candidate = slots[(seed + step) % len(slots)]
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise RuntimeError("no free /30 in 203.0.113.0/24 for an outside host")


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@pytest.fixture
def outside() -> Iterator[Outside]:
    tag = secrets.token_hex(3)
    namespace, host_link, inner = f"berth-out-{tag}", f"vo{tag}", f"vi{tag}"
    subnet = _free_slot(int(tag, 16))
    host_address, address = str(subnet.network_address + 1), str(subnet.network_address + 2)
    prefix6 = f"2001:db8:b0:{tag[:4]}"  # a /64 of the documentation prefix, the test's own
    host_address6, address6 = f"{prefix6}::1", f"{prefix6}::2"
    _ip("netns", "add", namespace)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        _ip("link", "add", host_link, "type", "veth", "peer", "name", inner, "netns", namespace)
        _ip("addr", "add", f"{host_address}/30", "dev", host_link)
        _ip("addr", "add", f"{host_address6}/64", "dev", host_link, "nodad")
        _ip("link", "set", host_link, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", inner)
        _ip("-n", namespace, "addr", "add", f"{address6}/64", "dev", inner, "nodad")
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        port = 8000
        box = Outside(namespace, host_address, address, port, host_link, host_address6, address6)
        for listen in (address, address6):
            servers.append(subprocess.Popen(
                ["ip", "netns", "exec", namespace, sys.executable, "-c", _SERVER, listen, str(port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            deadline = time.monotonic() + 10
            while box.run(
                "python3", "-c", f"import socket; socket.create_connection(('{listen}', {port}), 1)"
            ).returncode:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the outside host's server on {listen} did not start")
                time.sleep(0.1)
        yield box
    finally:
        for server in servers:
            server.kill()  # our own process, by PID
            server.wait()
        subprocess.run(["ip", "link", "del", host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        assert not Path(f"/run/netns/{namespace}").exists()


def lookup(daemon: Daemon, container: str, name: str) -> list[str]:
    """The IPv4 addresses ``name`` resolves to inside ``container`` (busybox nslookup, through the
    container's resolv.conf: the embedded DNS on its network's gateway); [] when it does not."""
    out = daemon.docker("exec", container, "nslookup", "-type=a", name).stdout
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return [line.split()[-1] for line in answer.splitlines() if line.startswith("Address")]
