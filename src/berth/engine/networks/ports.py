"""PublishedPorts: a running container's ``-p``/``-P`` bindings, as relays (``network/proxy.py``).

Opened at start (before init can accept on them), closed at exit; an ephemeral host port is asked for
again by number at the next start or after a daemon restart, so that a client keeps finding it, and
falls back to a fresh one when another program took it meanwhile.
"""

from __future__ import annotations

from typing import Any

from berth.engine.containers.container import Container
from berth.errors import Conflict, InvalidArgument
from berth.network.proxy import Binding, Relay, relay_for

PROTOCOLS = ("tcp", "udp")


class PublishedPorts:
    def __init__(self) -> None:
        self._relays: dict[str, list[Relay]] = {}

    async def publish(self, container: Container, address: str | None, default_ip: str = "") -> None:
        """Open every binding towards ``address`` (the container's primary one) and record the host
        ports chosen in ``container.ports``; all or nothing. ``default_ip``: where a binding without
        HostIp listens (its network's ``host_binding_ipv4``; "" is every address)."""
        await self.unpublish(container)
        wanted = requested_bindings(container)
        if not wanted or address is None:
            container.ports = {}
            return
        relays: list[Relay] = []
        resolved: dict[str, list[dict[str, str]]] = {}
        try:
            for key, binds in wanted.items():
                port, proto = split_port(key)
                previous = container.ports.get(key) or []
                for index, bind in enumerate(binds):
                    remembered = int(previous[index]["HostPort"]) if index < len(previous) else 0
                    relay = await _open(str(bind.get("HostIp") or default_ip), bind.get("HostPort"), remembered,
                                        address, port, proto)  # fmt: skip
                    relays.append(relay)
                    resolved.setdefault(key, []).append(
                        {"HostIp": relay.binding.listen_ip, "HostPort": str(relay.binding.host_port)}
                    )
        except BaseException:
            for relay in relays:
                await relay.close()
            raise
        self._relays[container.container_id] = relays
        container.ports = resolved

    async def unpublish(self, container: Container) -> None:
        for relay in self._relays.pop(container.container_id, []):
            await relay.close()


async def _open(host_ip: str, asked: Any, remembered: int, address: str, port: int, proto: str) -> Relay:
    fixed = host_port(str(asked or ""))
    if not fixed and remembered:  # the ephemeral port it had, if still free
        relay = relay_for(Binding(host_ip, remembered, address, port, proto))
        try:
            await relay.open()
            return relay
        except Conflict:
            pass
    relay = relay_for(Binding(host_ip, fixed, address, port, proto))
    await relay.open()
    return relay


def port_key(key: str) -> str:
    """``"80"`` → ``"80/tcp"``: Docker's key for a port."""
    port, _, proto = key.partition("/")
    return f"{port}/{proto or 'tcp'}"


def split_port(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"publishing {proto} ports is not supported: {key}")
    try:
        return int(port), proto
    except ValueError:
        raise InvalidArgument(f"invalid port {key}") from None


def host_port(text: str) -> int:
    """``HostPort``: "" or "0" is an ephemeral port (0); a range "8000-8010" takes its first."""
    if text in {"", "0"}:
        return 0
    try:
        value = int(text.split("-")[0])
    except ValueError:
        raise InvalidArgument(f"invalid host port {text}") from None
    if not 0 < value < 65536:
        raise InvalidArgument(f"invalid host port {text}: must be 1-65535")
    return value


def requested_bindings(container: Container) -> dict[str, list[dict[str, Any]]]:
    """``PortBindings``, plus every exposed port on an ephemeral one with ``PublishAllPorts``."""
    host = container.host_config
    wanted: dict[str, list[dict[str, Any]]] = {
        port_key(k): list(v or [{}]) for k, v in (host.get("PortBindings") or {}).items()
    }
    if host.get("PublishAllPorts"):
        for key in container.config.get("ExposedPorts") or {}:
            wanted.setdefault(port_key(key), [{}])
    return wanted
