"""Berth's nftables table: NAT for its bridges, the kernel's published ports, and forwarding rules.

One table per daemon (``inet berth`` for the default bridge ``berth0``, ``inet berth-<bridge>``
otherwise, so test daemons never share one), and nothing outside it is read or changed. Everything
that changes at run time is data — sets of bridges and subnets, maps of published ports — so the
chains are fixed and a container's start is one ``add element``, whatever the number of ports::

    prerouting/output (dnat)   to a local address: published?  daddr . proto . port → container
    postrouting (srcnat)       container → outside: masquerade; hairpin and 127.0.0.1: masquerade
    forward (filter)           within a bridge: yes (seen here when br_netfilter is loaded);
                               internal bridges: no further; bridge ↔ other bridge: no (isolation);
                               outside → bridge: only replies and published ports; bridge → out: yes

Rules stay in the kernel when berthd stops or dies, so published ports and outbound NAT go on working
for the containers that keep running (live restore); the next berthd replaces the table atomically.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from berth.network.nftables import Nft, NftablesError

log = logging.getLogger("berthd.firewall")

DEFAULT_BRIDGE = "berth0"
# A table of berthd's is known by its set of bridges; this set names the families whose forwarding
# berthd turned on
# (libnftables' JSON does not show table comments, so the mark is an object that can be listed).
_GUARD_SET = "ip_forward_by_berthd"
AnyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# The published-port maps: (name, key type, value type); PortRule.map_name picks one.
_MAPS = (
    ("dnat4", "ipv4_addr . inet_proto . inet_service", "ipv4_addr . inet_service"),
    ("dnat4_any", "inet_proto . inet_service", "ipv4_addr . inet_service"),
    ("dnat6", "ipv6_addr . inet_proto . inet_service", "ipv6_addr . inet_service"),
    ("dnat6_any", "inet_proto . inet_service", "ipv6_addr . inet_service"),
)


def table_name(bridge: str) -> str:
    return "berth" if bridge == DEFAULT_BRIDGE else f"berth-{bridge}"


@dataclass(frozen=True, slots=True)
class Bridge:
    """One bridge network as the rules see it."""

    device: str
    subnets: tuple[AnyNetwork, ...]
    internal: bool = False
    masquerade: bool = True  # outbound NAT (--ip-masq and the network's enable_ip_masquerade)


@dataclass(frozen=True, slots=True)
class PortRule:
    """A published port in the kernel: ``host_ip:host_port/proto`` → ``target_ip:target_port``.
    ``host_ip`` "0.0.0.0" or "::" is every local address of that family."""

    proto: str
    host_ip: str
    host_port: int
    target_ip: str
    target_port: int

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.target_ip).version

    @property
    def wildcard(self) -> bool:
        return ipaddress.ip_address(self.host_ip).is_unspecified

    def map_name(self) -> str:
        return f"dnat{self.family}" + ("_any" if self.wildcard else "")

    def key(self) -> str:
        return (
            f"{self.proto} . {self.host_port}"
            if self.wildcard
            else f"{self.host_ip} . {self.proto} . {self.host_port}"
        )

    def element(self) -> str:
        return f"{self.key()} : {self.target_ip} . {self.target_port}"


def kernel_path(host_ip: str, target_ip: str) -> bool:
    """Whether the kernel can carry this binding: same family, and not IPv6 loopback (::1 cannot be
    routed out of the host; the user-space relay takes it, as docker-proxy does)."""
    host, target = ipaddress.ip_address(host_ip), ipaddress.ip_address(target_ip)
    return host.version == target.version and not (host.version == 6 and host.is_loopback)


def _elements(items: Iterable[str]) -> str:
    listed = ", ".join(items)
    return f"elements = {{ {listed} }}" if listed else ""


def render(
    name: str, bridges: Iterable[Bridge], ports: Iterable[PortRule], *, guard: AbstractSet[str] = frozenset()
) -> str:
    """``guard``: the families ("ipv4", "ipv6") whose forwarding berthd turned on, kept in the table."""
    """The whole table, as one nft script (made, emptied and filled in one transaction)."""
    bridges = list(bridges)
    devices = [f'"{b.device}"' for b in bridges]
    internal = [f'"{b.device}"' for b in bridges if b.internal]
    same = [f'"{b.device}" . "{b.device}"' for b in bridges]
    subnets = {4: [str(s) for b in bridges for s in b.subnets if s.version == 4],
               6: [str(s) for b in bridges for s in b.subnets if s.version == 6]}  # fmt: skip
    masq = {
        v: [str(s) for b in bridges if b.masquerade and not b.internal for s in b.subnets if s.version == v]
        for v in (4, 6)
    }
    by_map: dict[str, list[str]] = {name: [] for name, _, _ in _MAPS}
    for rule in ports:
        by_map[rule.map_name()].append(rule.element())
    maps = "".join(
        f"  map {name} {{\n    type {key} : {value}\n    {_elements(by_map[name])}\n  }}\n"
        for name, key, value in _MAPS
    )
    marks = _elements(f'"{family}"' for family in sorted(guard))
    guard_set = f"  set {_GUARD_SET} {{\n    type ifname\n    {marks}\n  }}\n" if guard else ""
    guard_rule = "".join(  # per family: a host that routed IPv4 before keeps doing so
        f'    meta nfproto {family} meta iifkind != "bridge" meta oifkind != "bridge" drop\n'
        for family in sorted(guard)
    )
    return f"""
table inet {name} {{}}
delete table inet {name}
table inet {name} {{
  comment "berthd: NAT, published ports and forwarding of its bridges"
{guard_set}  set bridges {{
    type ifname
    {_elements(devices)}
  }}
  set internal {{
    type ifname
    {_elements(internal)}
  }}
  set same_bridge {{
    type ifname . ifname
    {_elements(same)}
  }}
  set subnets4 {{
    type ipv4_addr; flags interval
    {_elements(subnets[4])}
  }}
  set subnets6 {{
    type ipv6_addr; flags interval
    {_elements(subnets[6])}
  }}
  set masq4 {{
    type ipv4_addr; flags interval
    {_elements(masq[4])}
  }}
  set masq6 {{
    type ipv6_addr; flags interval
    {_elements(masq[6])}
  }}
{maps}  chain publish {{
    meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @dnat4
    meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4_any
    meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6
    meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6_any
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump publish
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump publish
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat oifname @bridges ip saddr @subnets4 masquerade
    ct status dnat oifname @bridges ip6 saddr @subnets6 masquerade
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    oifname != @bridges ip saddr @masq4 masquerade
    oifname != @bridges ip6 saddr @masq6 masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname . oifname @same_bridge accept
    iifname @internal drop
    oifname @internal drop
    iifname @bridges oifname @bridges ct status != dnat drop
    oifname @bridges ct state established,related accept
    oifname @bridges ct status dnat accept
    oifname @bridges drop
    iifname @bridges accept
{guard_rule}  }}
}}
"""


class Firewall:
    """This daemon's table. Every method is one transaction; a failed update re-makes the table."""

    def __init__(self, bridge: str, nft: Nft | None = None) -> None:
        self.name = table_name(bridge)
        self._nft = nft or Nft()

    def available(self) -> bool:
        """libnftables is here (``BERTH_NFTABLES=off`` says no: the benchmarks' "before" daemon)."""
        return os.environ.get("BERTH_NFTABLES") != "off" and self._nft.available()

    def _has(self, table: str, set_name: str) -> bool:
        try:
            self._nft.run(f"list set inet {table} {set_name}")
        except NftablesError:
            return False
        return True

    def exists(self) -> bool:
        return self._has(self.name, "bridges")

    def guarded(self) -> set[str]:
        """The families whose forwarding the table says berthd turned on (kept across restarts)."""
        try:
            found = self._nft.query(f"list set inet {self.name} {_GUARD_SET}")
        except NftablesError:
            return set()
        return {str(e) for item in found for e in item.get("set", {}).get("elem", [])}

    def sync(self, bridges: Iterable[Bridge], ports: Iterable[PortRule], *, guard: AbstractSet[str]) -> None:
        self._nft.run(render(self.name, bridges, ports, guard=guard))

    def replace_ports(self, old: Iterable[PortRule], new: Iterable[PortRule]) -> None:
        """Swap one container's ports: ``old`` out, ``new`` in (raises NftablesError: the caller
        then syncs the whole table, which also repairs whatever made this fail)."""
        old_set, new_set = set(old), set(new)
        lines = []
        # One command per map and verb, however many elements: libnftables parses 10,000 one-element
        # commands into tens of MB it keeps; one command of 10,000 elements costs a fraction of that.
        for verb, rules, text in (
            ("delete", old_set - new_set, PortRule.key),
            ("add", new_set - old_set, PortRule.element),
        ):
            for name, _, _ in _MAPS:
                chosen = [text(rule) for rule in rules if rule.map_name() == name]
                if chosen:
                    lines.append(f"{verb} element inet {self.name} {name} {{ {', '.join(chosen)} }}")
        if lines:
            self._nft.run("\n".join(lines))

    def delete(self) -> bool:
        """Remove the table; whether there was one."""
        try:
            self._nft.run(f"delete table inet {self.name}")
        except NftablesError:
            return False
        return True

    def others(self) -> list[str]:
        """Other daemons' tables on this host, e.g. to know whether the last one goes."""
        try:
            tables = self._nft.query("list tables inet")
        except NftablesError:
            return []
        names = [str(t["table"]["name"]) for t in tables if "table" in t]
        return [n for n in names if n != self.name and n.startswith("berth") and self._has(n, "bridges")]
