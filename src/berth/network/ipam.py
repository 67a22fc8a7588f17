"""Address management, as Docker's default IPAM does it: pure functions over what is already taken.

A new network gets the first free /24 of the pools below that overlaps neither another network nor a
route of the host's; a container gets the lowest free address of its network's subnet. Nothing is
stored here: the caller knows what is taken (its networks, its running containers' endpoints).
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from berth.errors import Conflict, InvalidArgument

POOLS = (IPv4Network("172.31.0.0/16"), IPv4Network("192.168.224.0/19"), IPv4Network("10.231.0.0/16"))
NEW_PREFIX = 24


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


def first_host(subnet: IPv4Network) -> IPv4Address:
    """The gateway Docker picks when none is given: the subnet's first usable address."""
    return subnet.network_address + 1


def free_address(
    subnet: IPv4Network, taken: Iterable[IPv4Address], pool: IPv4Network | None = None
) -> IPv4Address:
    """The lowest address of ``pool`` (the network's IPRange; by default all of ``subnet``) not in
    ``taken`` (the subnet's network and broadcast addresses never)."""
    busy = set(taken) | {subnet.network_address, subnet.broadcast_address}
    for host in pool or subnet:
        if host not in busy and host in subnet:
            return host
    raise Conflict(f"no available IPv4 addresses on this network's address pools: {subnet}")


def mac_for(address: IPv4Address) -> str:
    """Docker's deterministic MAC: 02:42 and then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def check_address(
    subnet: IPv4Network, gateway: IPv4Address, address: IPv4Address, taken: set[IPv4Address]
) -> None:
    """A requested ``--ip``: inside the subnet, not its gateway, not in use."""
    if address not in subnet or address in {subnet.network_address, subnet.broadcast_address}:
        raise InvalidArgument(
            f"invalid address {address}: it does not belong to the network's subnet {subnet}"
        )
    if address == gateway or address in taken:
        raise Conflict(f"Address already in use: {address}")
