"""PublishedPorts: a running container's ``-p``/``-P`` bindings, in the kernel where it can carry them.

A binding on an IPv4 address (``0.0.0.0``, ``127.0.0.1``, any of the host's) to the container's IPv4
address is a DNAT element in Berth's nftables table (``network/firewall.py``) plus a bound socket that
holds the port (``network/reservation.py``): it answers while berthd is down. The rest — IPv6
loopback, an IPv6 host address in front of an IPv4-only container — goes through a relay in the
daemon's loop (``network/proxy.py``), as docker-proxy carries them for Docker.

Opened at start (before init can accept on them), closed at exit; an ephemeral host port is asked for
again by number at the next start or after a daemon restart, so that a client keeps finding it, and
falls back to a fresh one when another program took it meanwhile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from berth.engine.containers.container import Container
from berth.engine.containers.portruns import Bindings, HostBinding, HostPorts, PortRuns
from berth.errors import Conflict, InvalidArgument
from berth.network.firewall import PortRule, kernel_path
from berth.network.proxy import Binding, Relay, relay_for
from berth.network.reservation import Reservations

PROTOCOLS = ("tcp", "udp")
_PROTOCOL = {name: name for name in PROTOCOLS}  # one string object each, however many ports


class KernelPorts(Protocol):
    """Where kernel bindings go (NetworkService over its Firewall)."""

    def replace_ports(self, old: list[PortRule], new: list[PortRule]) -> None: ...


@dataclass(slots=True)
class _Held:
    """What one running container's ports hold. Its kernel rules are not kept but derived from its
    record when needed (``kernel_rules``): a range of 10,000 ports is one dict, not two."""

    container: Container
    address: str
    address6: str | None
    kernel: bool  # whether its kernel-carried bindings are in the table
    reservations: Reservations = field(default_factory=Reservations)
    relays: list[Relay] = field(default_factory=list)

    def rules(self) -> list[PortRule]:
        return kernel_rules(self.container, self.address, self.address6) if self.kernel else []

    async def close(self) -> None:
        self.reservations.close()
        for relay in self.relays:
            await relay.close()


class PublishedPorts:
    def __init__(self, kernel: KernelPorts | None = None) -> None:
        self._kernel = kernel  # None: no nftables here, every binding is relayed
        self._held: dict[str, _Held] = {}
        self._adopted: dict[str, _Held] = {}  # in the kernel since before this daemon's start

    def use_kernel(self, kernel: KernelPorts) -> None:
        self._kernel = kernel

    def all_rules(self) -> list[PortRule]:
        """Every kernel binding this daemon holds or adopted (what a re-made table must contain)."""
        return [rule for held in (*self._held.values(), *self._adopted.values()) for rule in held.rules()]

    def adopt(self, container: Container, address: str | None, address6: str | None) -> None:
        """A container still running from before this daemon's start: the table is made with the
        kernel rules of its record; its next publish or unpublish swaps them out."""
        if address is not None:  # its rules are derived when needed: none is nothing to swap
            self._adopted[container.container_id] = _Held(container, address, address6, kernel=True)

    async def publish(
        self, container: Container, address: str | None, default_ip: str = "", address6: str | None = None
    ) -> None:
        """Hold every binding towards ``address`` (the container's primary IPv4 address; ``address6``
        its IPv6 one, if any) and record the host ports chosen in ``container.ports``; all or nothing.
        ``default_ip``: where a binding without HostIp listens (its network's ``host_binding_ipv4``);
        without one, every IPv4 address, and every IPv6 address too when the container has one."""
        before = await self._release(container)
        if address is None or not has_bindings(container):
            container.ports = HostPorts()
            self._swap(before, [])
            return
        held = _Held(container, address, address6, kernel=self._kernel is not None)
        rules: list[PortRule] = []  # this start's, for the swap (then derived from the record)
        resolved = HostPorts.builder()
        try:
            for key, binds in requested_bindings(container):
                port, proto = split_port(key)
                previous = container.ports.get(key) or ()
                chosen_here: list[HostBinding] = []
                for bind_ip, asked in binds:
                    given = (bind_ip or default_ip).strip("[]")
                    host_ip = given or "0.0.0.0"
                    done = sum(1 for ip, _ in chosen_here if ip == host_ip)
                    candidates = _candidates(asked, _remembered(previous, host_ip, done))
                    chosen = str(await self._hold(held, rules, host_ip, candidates, port, proto))
                    chosen_here.append((host_ip, chosen))
                    if not given and address6:  # [::] too, on the same port, as Docker binds both
                        await self._hold(held, rules, "::", [int(chosen)], port, proto)
                        chosen_here.append(("::", chosen))
                resolved.add(key, tuple(chosen_here))
            self._swap(before, rules)
        except BaseException:
            await held.close()
            raise
        self._held[container.container_id] = held
        container.ports = resolved.build()

    async def _hold(
        self, held: _Held, rules: list[PortRule], host_ip: str, candidates: list[int], port: int, proto: str
    ) -> int:
        """One binding: a kernel rule and its reservation where the kernel can carry it, else a relay."""
        target = target_for(host_ip, held.address, held.address6)
        if self._kernel is not None and kernel_path(host_ip, target):
            host_port = _reserve(held.reservations, host_ip, candidates, proto)
            rules.append(PortRule(proto, host_ip, host_port, target, port))
            return host_port
        relay = await _relay(host_ip, candidates, target, port, proto)
        held.relays.append(relay)
        return relay.binding.host_port

    async def unpublish(self, container: Container) -> None:
        self._swap(await self._release(container), [])

    async def _release(self, container: Container) -> list[PortRule]:
        """Close what this daemon holds for ``container``; the kernel rules it has (kept until swapped,
        so that a republish leaves no gap): this daemon's, or those adopted at start."""
        held = self._held.pop(container.container_id, None)
        if held is not None:
            await held.close()
            return held.rules()
        adopted = self._adopted.pop(container.container_id, None)
        return adopted.rules() if adopted is not None else []

    def _swap(self, old: list[PortRule], new: list[PortRule]) -> None:
        if self._kernel is not None and (old or new):
            self._kernel.replace_ports(old, new)


def target_for(host_ip: str, address: str, address6: str | None) -> str:
    """The container address a host address leads to: the same family where it has one."""
    return address6 if address6 and ipaddress.ip_address(host_ip).version == 6 else address


def _remembered(previous: Bindings, host_ip: str, index: int) -> int:
    """The host port this binding had at the last start (ephemeral ports are asked for again)."""
    same = [port for ip, port in previous if (ip or "0.0.0.0").strip("[]") == host_ip]
    return int(same[index]) if index < len(same) and same[index] else 0


def kernel_rules(container: Container, address: str | None, address6: str | None = None) -> list[PortRule]:
    """The kernel bindings a running container's record says it has (``container.ports``)."""
    if not address:
        return []
    rules = []
    for key, binds in container.ports.items():
        port, proto = split_port(key)
        for ip, host_port in binds:
            host_ip = (ip or "0.0.0.0").strip("[]")
            target = target_for(host_ip, address, address6)
            if host_port and kernel_path(host_ip, target):
                rules.append(PortRule(proto, host_ip, int(host_port), target, port))
    return rules


def _candidates(asked: str, remembered: int) -> list[int]:
    """Host ports to try in order: the asked one (every one of an asked range), or for an ephemeral
    port the one it had before, then a fresh one (0)."""
    first, last = host_port_range(asked)
    if first:
        return list(range(first, last + 1))
    return [remembered, 0] if remembered else [0]


def _reserve(reservations: Reservations, host_ip: str, candidates: list[int], proto: str) -> int:
    for index, candidate in enumerate(candidates):
        try:
            return reservations.hold(host_ip, candidate, proto)
        except Conflict:
            if index == len(candidates) - 1:
                raise
    raise AssertionError("no candidate ports")  # candidates is never empty


async def _relay(host_ip: str, candidates: list[int], address: str, port: int, proto: str) -> Relay:
    for index, candidate in enumerate(candidates):
        relay = relay_for(Binding(host_ip, candidate, address, port, proto))
        try:
            await relay.open()
            return relay
        except Conflict:
            if index == len(candidates) - 1:
                raise
    raise AssertionError("no candidate ports")


def port_key(key: str) -> str:
    """``"80"`` → ``"80/tcp"``: Docker's key for a port."""
    port, _, proto = key.partition("/")
    return key if proto else f"{port}/tcp"


def split_port(key: str) -> tuple[int, str]:
    port, _, given = key.partition("/")
    proto = _PROTOCOL.get(given or "tcp")
    if proto is None:
        raise InvalidArgument(f"publishing {given} ports is not supported: {key}")
    try:
        return int(port), proto
    except ValueError:
        raise InvalidArgument(f"invalid port {key}") from None


def host_port_range(text: str) -> tuple[int, int]:
    """``HostPort``: "" or "0" is an ephemeral port (0, 0); "8000-8010" the first free of that range."""
    if text in {"", "0"}:
        return 0, 0
    start, _, end = text.partition("-")
    try:
        first, last = int(start), int(end or start)
    except ValueError:
        raise InvalidArgument(f"invalid host port {text}") from None
    if not 0 < first <= last < 65536:
        raise InvalidArgument(f"invalid host port {text}: must be 1-65535")
    return first, last


def has_bindings(container: Container) -> bool:
    host = container.host_config
    return bool(
        host.get("PortBindings") or (host.get("PublishAllPorts") and container.config.get("ExposedPorts"))
    )


def requested_bindings(container: Container) -> Iterator[tuple[str, Bindings]]:
    """``PortBindings`` as (HostIp, HostPort) pairs, plus every exposed port on an ephemeral one with
    ``PublishAllPorts``; made one port at a time (a range of 10,000 is not copied)."""
    host = container.host_config
    bindings: Mapping[str, Any] = host.get("PortBindings") or {}
    for key, binds in _binding_pairs(bindings):
        yield port_key(key), binds or (("", ""),)
    if host.get("PublishAllPorts"):
        for key in container.config.get("ExposedPorts") or {}:
            if (
                key not in bindings
                and port_key(key) not in bindings
                and key.removesuffix("/tcp") not in bindings
            ):
                yield port_key(key), (("", ""),)


def _binding_pairs(bindings: Mapping[str, Any]) -> Iterator[tuple[str, Bindings]]:
    if isinstance(bindings, PortRuns):
        for key, pairs in bindings.bindings_items():
            yield key, pairs if pairs is not None else _pairs(bindings[key])
    else:
        for key, value in bindings.items():
            yield key, _pairs(value)


def _pairs(value: Any) -> Bindings:
    """Docker's [{"HostIp": …, "HostPort": …}, …] (or null) as pairs."""
    return tuple(
        (str(b.get("HostIp") or ""), str(b.get("HostPort") or "")) for b in value or [] if isinstance(b, dict)
    )
