"""The kernel side of bridge networks, without a daemon: namespaces kept by bind mounts, a bridge, a
veth pair wired into a namespace, and nothing left once they are removed."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import pytest

from berth.network import links, netns

pytestmark = pytest.mark.root


@pytest.fixture
def bridge() -> Iterator[str]:
    name = f"bi{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        links.delete_link(name)


def is_namespace(path: Path) -> bool:
    """A bind mount of nsfs (another device than its directory), not a plain leftover file."""
    return path.exists() and os.stat(path).st_dev != os.stat(path.parent).st_dev


def in_namespace(path: Path, *argv: str) -> str:
    return subprocess.run(
        ["nsenter", f"--net={path}", *argv], capture_output=True, text=True, check=True
    ).stdout


def test_a_namespace_lives_in_its_bind_mount(tmp_path: Path) -> None:
    path = tmp_path / "ns"
    netns.create(path)
    try:
        assert is_namespace(path)
        assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino
        assert "lo" in in_namespace(path, "ip", "-o", "link") and "eth0" not in in_namespace(
            path, "ip", "-o", "link"
        )
        # work done inside runs in the namespace; the caller's thread never moves
        inode = netns.inside(path, lambda: os.stat("/proc/thread-self/ns/net").st_ino)
        assert inode == os.stat(path).st_ino
        assert os.stat("/proc/thread-self/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    finally:
        netns.delete(path)
    assert not path.exists() and not is_namespace(path)
    netns.delete(path)  # idempotent


def test_inside_refuses_a_file_that_is_not_a_namespace(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(OSError):
        netns.inside(plain, lambda: None)


def test_plug_wires_a_veth_into_the_namespace(tmp_path: Path, bridge: str) -> None:
    index = links.ensure_bridge(bridge, IPv4Interface("10.254.77.1/24"))
    assert links.ensure_bridge(bridge, IPv4Interface("10.254.77.1/24")) == index  # idempotent
    path = tmp_path / "ns"
    netns.create(path)
    host_end = f"vi{uuid.uuid4().hex[:8]}"
    try:
        links.plug(
            path, bridge_index=index, host_name=host_end, inner_name="eth0",
            address=IPv4Interface("10.254.77.2/24"), mac="02:42:0a:fe:4d:02", gateway=IPv4Address("10.254.77.1"),
        )  # fmt: skip
        assert links.link_exists(host_end)
        assert (
            f"master {bridge}"
            in subprocess.run(["ip", "-o", "link", "show", host_end], capture_output=True, text=True).stdout
        )
        inside = in_namespace(path, "ip", "-o", "-4", "addr", "show", "eth0")
        assert "10.254.77.2/24" in inside
        assert "default via 10.254.77.1 dev eth0" in in_namespace(path, "ip", "route")
        assert "02:42:0a:fe:4d:02" in in_namespace(path, "ip", "-o", "link", "show", "eth0")
        # the bridge's subnet is the host's route now, through the bridge: not one to avoid
        assert all(
            not r.overlaps(IPv4Interface("10.254.77.1/24").network)
            for r in links.host_routes(exclude={bridge})
        )
        with pytest.raises(links.StaleBridge):  # a bridge index that names nothing any more
            links.plug(
                path, bridge_index=2**31 - 1, host_name=f"{host_end}b", inner_name="eth1",
                address=IPv4Interface("10.254.77.3/24"), mac="02:42:0a:fe:4d:03", gateway=None,
            )  # fmt: skip
        links.unplug(path, "eth0")
        assert not links.link_exists(host_end)
    finally:
        netns.delete(path)
        links.delete_link(host_end)


def test_plug_with_ipv6(tmp_path: Path, bridge: str) -> None:
    index = links.ensure_bridge(
        bridge, IPv4Interface("10.254.78.1/24"), gateway6=IPv6Interface("fd00:254:78::1/64")
    )
    assert Path(f"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6").read_text() == "0\n"
    bridge_addr = subprocess.run(["ip", "-6", "-o", "addr", "show", bridge], capture_output=True, text=True)
    assert "fd00:254:78::1/64" in bridge_addr.stdout and "nodad" in bridge_addr.stdout
    path = tmp_path / "ns"
    netns.create(path)
    host_end = f"vi{uuid.uuid4().hex[:8]}"
    host_eth0 = Path("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
    host_before = host_eth0.read_text() if host_eth0.exists() else None
    try:
        # a namespace whose new links come with IPv6 disabled: plug turns it on for its link only
        in_namespace(path, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        links.plug(
            path, bridge_index=index, host_name=host_end, inner_name="eth0",
            address=IPv4Interface("10.254.78.2/24"), mac="02:42:0a:fe:4e:02", gateway=IPv4Address("10.254.78.1"),
            address6=IPv6Interface("fd00:254:78::2/64"), gateway6=IPv6Address("fd00:254:78::1"),
        )  # fmt: skip
        # /proc/sys/net is the namespace's own for the thread inside it: the host's eth0 is untouched
        assert (
            netns.inside(path, lambda: Path("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").read_text()) == "0\n"
        )
        assert in_namespace(path, "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6").strip() == "0"
        if host_before is not None:
            assert host_eth0.read_text() == host_before
        [inside] = [
            line
            for line in in_namespace(path, "ip", "-6", "-o", "addr", "show", "eth0").splitlines()
            if "fd00:" in line
        ]
        assert (
            "fd00:254:78::2/64" in inside and "nodad" in inside and "tentative" not in inside
        )  # usable at once
        assert "default via fd00:254:78::1 dev eth0" in in_namespace(path, "ip", "-6", "route")
        links.set_default_route(path, IPv4Address("10.254.78.1"), None)
        assert "default" not in in_namespace(path, "ip", "-6", "route")
        links.set_default_route(path, IPv4Address("10.254.78.1"), IPv6Address("fd00:254:78::1"))
        assert "default via fd00:254:78::1 dev eth0" in in_namespace(path, "ip", "-6", "route")
        assert any(r.overlaps(IPv6Interface("fd00:254:78::1/64").network) for r in links.host_routes6())
        assert all(
            not r.overlaps(IPv6Interface("fd00:254:78::1/64").network)
            for r in links.host_routes6(exclude={bridge})
        )
    finally:
        netns.delete(path)
        links.delete_link(host_end)
