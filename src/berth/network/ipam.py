"""Address management, as Docker's default IPAM does it: pure functions over what is already taken.

A new network gets the first free /24 of the pools below that overlaps neither another network nor a
route of the host's; with IPv6, the first free /64 of the daemon's own unique local /48 (``ula_prefix``,
derived from the daemon's id as Docker derives it from the host's). A container gets the lowest free
address of its network's subnet (or IPRange). Nothing is stored here: the caller knows what is taken
(its networks, its running containers' endpoints).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import overload

from berth.errors import Conflict, InvalidArgument

POOLS = (IPv4Network("172.31.0.0/16"), IPv4Network("192.168.224.0/19"), IPv4Network("10.231.0.0/16"))
NEW_PREFIX = 24
NEW_PREFIX6 = 64
ULA_PREFIX = 48


def parse_subnet(text: str) -> IPv4Network:
    try:
        return IPv4Network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text}: only IPv4 CIDRs such as 10.1.2.0/24") from None


def parse_address(text: str, what: str = "address") -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text}: not an IPv4 address") from None


def free_subnet(taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first /24 of the pools that overlaps nothing in ``taken``."""
    busy = list(taken)
    for pool in POOLS:
        for candidate in pool.subnets(new_prefix=NEW_PREFIX):
            if not any(candidate.overlaps(other) for other in busy):
                return candidate
    raise Conflict("could not find an available, non-overlapping IPv4 address pool among the defaults")


def ula_prefix(daemon_id: str) -> IPv6Network:
    """The daemon's unique local /48 (RFC 4193): ``fd`` and 40 bits of the sha256 of its id, so
    stable for one daemon and different between daemons."""
    global_id = int.from_bytes(hashlib.sha256(daemon_id.encode()).digest()[:5], "big")
    return IPv6Network(((0xFD << 120) | (global_id << 80), ULA_PREFIX))


def free_subnet6(prefix: IPv6Network, taken: Iterable[IPv6Network]) -> IPv6Network:
    """The first /64 of ``prefix`` (the daemon's ULA /48) that overlaps nothing in ``taken``."""
    busy = list(taken)
    for candidate in prefix.subnets(new_prefix=NEW_PREFIX6):
        if not any(candidate.overlaps(other) for other in busy):
            return candidate
    raise Conflict("could not find an available, non-overlapping IPv6 address pool among the defaults")


@overload
def first_host(subnet: IPv4Network) -> IPv4Address: ...
@overload
def first_host(subnet: IPv6Network) -> IPv6Address: ...
def first_host(subnet: IPv4Network | IPv6Network) -> IPv4Address | IPv6Address:
    """The gateway Docker picks when none is given: the subnet's first usable address (::1 in IPv6)."""
    return subnet.network_address + 1


def _reserved(subnet: IPv4Network | IPv6Network) -> set[IPv4Address | IPv6Address]:
    """Never handed out: the network address, and in IPv4 the broadcast address (IPv6 has none)."""
    if subnet.version == 4:
        return {subnet.network_address, subnet.broadcast_address}
    return {subnet.network_address}


@overload
def free_address(
    subnet: IPv4Network, taken: Iterable[IPv4Address], pool: IPv4Network | None = None
) -> IPv4Address: ...
@overload
def free_address(
    subnet: IPv6Network, taken: Iterable[IPv6Address], pool: IPv6Network | None = None
) -> IPv6Address: ...
def free_address(
    subnet: IPv4Network | IPv6Network,
    taken: Iterable[IPv4Address] | Iterable[IPv6Address],
    pool: IPv4Network | IPv6Network | None = None,
) -> IPv4Address | IPv6Address:
    """The lowest address of ``pool`` (the network's IPRange; by default all of ``subnet``) not in
    ``taken`` (the subnet's network address never, nor an IPv4 subnet's broadcast address)."""
    busy = _reserved(subnet)
    busy.update(taken)
    for host in pool or subnet:
        if host not in busy and host in subnet:
            return host
    raise Conflict(f"no available IPv{subnet.version} addresses on this network's address pools: {subnet}")


def mac_for(address: IPv4Address) -> str:
    """Docker's deterministic MAC: 02:42 and then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def check_address(
    subnet: IPv4Network | IPv6Network,
    gateway: IPv4Address | IPv6Address,
    address: IPv4Address | IPv6Address,
    taken: AbstractSet[IPv4Address | IPv6Address],
) -> None:
    """A requested ``--ip``/``--ip6``: inside the subnet, not its gateway, not in use."""
    if address not in subnet or address in _reserved(subnet):
        raise InvalidArgument(
            f"invalid address {address}: it does not belong to the network's subnet {subnet}"
        )
    if address == gateway or address in taken:
        raise Conflict(f"Address already in use: {address}")
