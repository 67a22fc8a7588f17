"""Address management as Docker's default IPAM does it: pure functions, no kernel needed."""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from berth.errors import Conflict, InvalidArgument
from berth.network import ipam


def test_a_new_network_takes_the_first_free_slash_24_that_overlaps_nothing() -> None:
    assert ipam.free_subnet([]) == IPv4Network("172.31.0.0/24")
    taken = [IPv4Network("172.31.0.0/24"), IPv4Network("172.31.1.0/25")]
    assert ipam.free_subnet(taken) == IPv4Network("172.31.2.0/24")
    # a host route over a whole pool moves new networks to the next pool
    assert ipam.free_subnet([IPv4Network("172.16.0.0/12")]) == IPv4Network("192.168.224.0/24")
    with pytest.raises(Conflict, match="non-overlapping"):
        ipam.free_subnet([IPv4Network("0.0.0.0/0")])


def test_addresses_are_the_lowest_free_hosts() -> None:
    subnet = IPv4Network("10.0.0.0/29")
    gateway = ipam.first_host(subnet)
    assert gateway == IPv4Address("10.0.0.1")
    assert ipam.free_address(subnet, [gateway]) == IPv4Address("10.0.0.2")
    assert ipam.free_address(subnet, [gateway, IPv4Address("10.0.0.2")]) == IPv4Address("10.0.0.3")
    full = [IPv4Address(f"10.0.0.{n}") for n in range(1, 7)]
    with pytest.raises(Conflict, match="no available IPv4 addresses"):
        ipam.free_address(subnet, full)  # .0 and .7 are never handed out


def test_requested_addresses_are_checked() -> None:
    subnet, gateway = IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1")
    ipam.check_address(subnet, gateway, IPv4Address("10.0.0.9"), set())
    for outside in ("10.0.1.9", "10.0.0.0", "10.0.0.255"):
        with pytest.raises(InvalidArgument, match="does not belong"):
            ipam.check_address(subnet, gateway, IPv4Address(outside), set())
    for used in ("10.0.0.1", "10.0.0.9"):
        with pytest.raises(Conflict, match="Address already in use"):
            ipam.check_address(subnet, gateway, IPv4Address(used), {IPv4Address("10.0.0.9")})


def test_parsing_and_macs() -> None:
    assert ipam.parse_subnet("10.1.2.3/24") == IPv4Network("10.1.2.0/24")
    for bad in ("10.1.2.0/33", "fe80::/64", "nonsense"):
        with pytest.raises(InvalidArgument, match="invalid subnet"):
            ipam.parse_subnet(bad)
    with pytest.raises(InvalidArgument, match="invalid gateway"):
        ipam.parse_address("10.1.2.300", "gateway")
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"  # Docker's own scheme


def test_the_daemons_ula_prefix_is_stable_and_its_own() -> None:
    prefix = ipam.ula_prefix("daemon-a")
    assert prefix == ipam.ula_prefix("daemon-a") != ipam.ula_prefix("daemon-b")
    assert prefix.prefixlen == 48 and prefix.subnet_of(IPv6Network("fd00::/8"))
    digest = hashlib.sha256(b"daemon-a").hexdigest()
    assert prefix == IPv6Network(f"fd{digest[:2]}:{digest[2:6]}:{digest[6:10]}::/48")


def test_a_new_ipv6_network_takes_the_first_free_slash_64_of_the_prefix() -> None:
    prefix = IPv6Network("fd12:3456:789a::/48")
    assert ipam.free_subnet6(prefix, []) == IPv6Network("fd12:3456:789a::/64")
    taken = [
        IPv6Network("fd12:3456:789a::/64"),
        IPv6Network("fd12:3456:789a:1::/80"),
        IPv6Network("fe80::/64"),
    ]
    assert ipam.free_subnet6(prefix, taken) == IPv6Network("fd12:3456:789a:2::/64")
    with pytest.raises(Conflict, match="non-overlapping IPv6 address pool"):
        ipam.free_subnet6(prefix, [IPv6Network("fd12::/16")])


def test_ipv6_addresses_are_the_lowest_free_ones_and_checked() -> None:
    subnet = IPv6Network("2001:389::/64")
    assert ipam.first_host(subnet) == IPv6Address("2001:389::1")
    assert ipam.free_address(subnet, []) == IPv6Address("2001:389::1")  # never the subnet's own address
    gateway = IPv6Address("2001:389::ffff")
    pool = IPv6Network("2001:389::/96")
    assert ipam.free_address(subnet, [gateway], pool) == IPv6Address("2001:389::1")
    assert ipam.free_address(subnet, [IPv6Address("2001:389::1")], pool) == IPv6Address("2001:389::2")
    tiny = IPv6Network("fd00:9::/126")
    assert ipam.free_address(tiny, [IPv6Address("fd00:9::1"), IPv6Address("fd00:9::2")]) == IPv6Address(
        "fd00:9::3"
    )  # IPv6 has no broadcast address: the last one is handed out too
    with pytest.raises(Conflict, match="no available IPv6 addresses"):
        ipam.free_address(tiny, [IPv6Address(f"fd00:9::{n}") for n in range(1, 4)])
    ipam.check_address(subnet, gateway, IPv6Address("2001:389::f00d"), set())
    with pytest.raises(InvalidArgument, match="does not belong"):
        ipam.check_address(subnet, gateway, IPv6Address("2001:38a::1"), set())
    for used in ("2001:389::ffff", "2001:389::f00d"):
        with pytest.raises(Conflict, match="Address already in use"):
            ipam.check_address(subnet, gateway, IPv6Address(used), {IPv6Address("2001:389::f00d")})
