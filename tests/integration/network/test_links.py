"""The kernel side of bridge networks, without a daemon: namespaces kept by bind mounts, a bridge, a
veth pair wired into a namespace, and nothing left once they are removed."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface
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
