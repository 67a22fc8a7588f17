"""Berth's nftables table as text: what each binding becomes, and that the whole table is one script
nft accepts (checked by nft itself in check mode: nothing reaches the kernel)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import pytest

from berth.network.firewall import Bridge, PortRule, kernel_path, render, table_name


def test_table_names_follow_the_bridge() -> None:
    assert table_name("berth0") == "berth"
    assert table_name("bt1234abcd") == "berth-bt1234abcd"


def test_port_rules_pick_their_map() -> None:
    anywhere = PortRule("tcp", "0.0.0.0", 8080, "172.30.0.2", 80)
    assert (anywhere.map_name(), anywhere.element()) == ("dnat4_any", "tcp . 8080 : 172.30.0.2 . 80")
    local = PortRule("udp", "127.0.0.1", 5353, "172.30.0.2", 53)
    assert (local.map_name(), local.key()) == ("dnat4", "127.0.0.1 . udp . 5353")
    six = PortRule("tcp", "::", 8080, "fd00::2", 80)
    assert six.map_name() == "dnat6_any"


def test_the_kernel_carries_same_family_bindings_except_ipv6_loopback() -> None:
    assert kernel_path("127.0.0.1", "172.30.0.2")
    assert kernel_path("::", "fd00::2")
    assert not kernel_path("::1", "fd00::2")  # cannot be routed out of the host: relayed
    assert not kernel_path("::", "172.30.0.2")  # an IPv4-only container behind an IPv6 address


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_the_rendered_table_is_valid_nft() -> None:
    bridges = [
        Bridge("berth0", (ipaddress.ip_network("172.30.0.0/16"),)),
        Bridge(
            "br-1", (ipaddress.ip_network("10.1.0.0/24"), ipaddress.ip_network("fd00:1::/64")), internal=True
        ),
        Bridge("br-2", (ipaddress.ip_network("10.2.0.0/24"),), masquerade=False),
    ]
    ports = [PortRule("tcp", "0.0.0.0", 8080, "172.30.0.2", 80), PortRule("tcp", "::", 8080, "fd00:1::2", 80)]
    for guard in ({"ipv4", "ipv6"}, set()):
        script = render("berth-unit", bridges, ports, guard=guard)
        check = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    assert "10.2.0.0/24" not in render("t", bridges, []).split("set masq4")[1].split("}")[0]
    empty = render("berth-unit", [], [])
    assert (
        subprocess.run(["nft", "-c", "-f", "-"], input=empty, capture_output=True, text=True).returncode == 0
    )
