"""The embedded DNS, asked from inside containers with busybox's nslookup: names, short ids, aliases
(round-robin), reverse lookups, and forwarding from berthd to an upstream that only the host can reach
(a fake resolver of the test's own on a loopback address)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.networks.conftest import lookup
from tests.e2e.results import inspect, ok

pytestmark = pytest.mark.root

UPSTREAM = "127.0.0.77"  # loopback: no container could reach it; berthd forwards from the host


@pytest.fixture
def upstream() -> Iterator[list[str]]:
    """A resolver on UPSTREAM:53 answering every A query with 203.0.113.99; the names it was asked."""
    asked: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((UPSTREAM, 53))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot bind {UPSTREAM}:53: {exc}")
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            asked.append(str(query.question[0].name))
            reply = dns.message.make_response(query)
            if query.question[0].rdtype == 1:
                reply.answer.append(
                    dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "203.0.113.99")
                )
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_names_short_ids_and_round_robin_aliases(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("network", "create", "svc"))
    for name in ("a1", "a2"):
        ok(berthd.docker("run", "-d", "--name", name, "--network", "svc", "--network-alias", "pool",
                         busybox_image, "sleep", "120"))  # fmt: skip
    ok(berthd.docker("run", "-d", "--name", "asker", "--network", "svc", busybox_image, "sleep", "120"))
    a1 = inspect(berthd, "a1")["NetworkSettings"]["Networks"]["svc"]["IPAddress"]
    a2 = inspect(berthd, "a2")["NetworkSettings"]["Networks"]["svc"]["IPAddress"]
    assert lookup(berthd, "asker", "a1") == [a1]
    assert lookup(berthd, "asker", "A2") == [a2]  # names are case-insensitive
    short_id = inspect(berthd, "a1")["Id"][:12]
    assert lookup(berthd, "asker", short_id) == [a1]
    firsts = {lookup(berthd, "asker", "pool")[0] for _ in range(6)}
    assert sorted(lookup(berthd, "asker", "pool")) == sorted([a1, a2])
    assert firsts == {a1, a2}  # each answer starts one further: both come first in turn
    reverse = ok(berthd.docker("exec", "asker", "nslookup", a1))
    assert "a1.svc" in reverse
    resolv = ok(berthd.docker("exec", "asker", "cat", "/etc/resolv.conf"))
    gateway = inspect(berthd, "asker")["NetworkSettings"]["Networks"]["svc"]["Gateway"]
    assert f"nameserver {gateway}" in resolv and "options ndots:0" in resolv
    assert "a1" not in ok(berthd.docker("exec", "asker", "cat", "/etc/hosts"))


def test_other_names_are_forwarded_from_berthd(
    berthd: Daemon, busybox_image: str, upstream: list[str]
) -> None:
    ok(berthd.docker("network", "create", "fwd"))
    ok(berthd.docker("run", "-d", "--name", "fwdc", "--network", "fwd", "--dns", UPSTREAM, busybox_image,
                     "sleep", "120"))  # fmt: skip
    assert lookup(berthd, "fwdc", "outside.example") == ["203.0.113.99"]
    assert "outside.example." in upstream
    # --dns on a user network is the embedded DNS's upstream; resolv.conf still names the gateway
    gateway = inspect(berthd, "fwdc")["NetworkSettings"]["Networks"]["fwd"]["Gateway"]
    assert f"nameserver {gateway}" in ok(berthd.docker("exec", "fwdc", "cat", "/etc/resolv.conf"))
    # the default bridge: --dns goes straight into resolv.conf, as Docker
    direct = ok(
        berthd.docker("run", "--rm", "--dns", "198.51.100.1", busybox_image, "cat", "/etc/resolv.conf")
    )
    assert "nameserver 198.51.100.1" in direct


def test_the_default_bridge_forwards_but_has_no_names(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.docker("run", "-d", "--name", "lonely", busybox_image, "sleep", "120"))
    ok(berthd.docker("run", "-d", "--name", "other", busybox_image, "sleep", "120"))
    assert lookup(berthd, "other", "lonely") == []
    gateway = inspect(berthd, "other")["NetworkSettings"]["Gateway"]
    assert f"nameserver {gateway}" in ok(berthd.docker("exec", "other", "cat", "/etc/resolv.conf"))
