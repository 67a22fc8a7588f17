"""NetworkNames: what the embedded DNS (``network/dns.py``) answers on each network, as Docker's does.

On a user-defined network a container is found by its name, its short id and its ``--network-alias``
(an alias several containers share answers with all of them, rotated per query: round-robin), and the
asking container also by the aliases of its own ``--link``s there. Reverse lookups give
``name.network``. The default bridge has no names (Docker's behaviour: ``--link`` writes /etc/hosts
there); its resolver only forwards. Other names go to the asking container's ``--dns`` servers, else
the host's resolvers; an internal network forwards nothing (it has no way out).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from berth.engine.containers.container import Container
from berth.engine.networks import settings

log = logging.getLogger("berthd.dns")

HOST_RESOLV = Path("/etc/resolv.conf")
_FIELDS = {4: "IPAddress", 6: "GlobalIPv6Address"}


def nameservers(text: str) -> list[str]:
    """The ``nameserver`` lines of a resolv.conf."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


class NetworkNames:
    """``dns.Names`` over the running containers (read at each query: nothing to keep in step)."""

    def __init__(
        self,
        containers: Callable[[], Iterable[Container]],
        *,
        named: Callable[[str], bool],
        internal: Callable[[str], bool],
        host_resolv: Path = HOST_RESOLV,
    ) -> None:
        self._containers = containers
        self._named = named  # whether a network serves names (user-defined), by its name
        self._internal = internal
        self._host_resolv = host_resolv
        self._turns = itertools.count()  # round-robin: each answer starts one further

    def _members(self, scope: str) -> list[tuple[Container, dict[str, Any]]]:
        return [
            (c, c.endpoints[scope])
            for c in self._containers()
            if c.status.is_alive() and scope in c.endpoints and c.endpoints[scope].get("IPAddress")
        ]

    def _asker(self, members: list[tuple[Container, dict[str, Any]]], client: str) -> Container | None:
        for container, endpoint in members:
            if client in (endpoint.get("IPAddress"), endpoint.get("GlobalIPv6Address")):
                return container
        return None

    def resolve(self, scope: str, client: str, name: str, family: int) -> list[str] | None:
        """The name on the network asked, then on the asker's other user-defined networks (Docker's
        resolver answers for every network a container is on)."""
        asker = self._asker(self._members(scope), client)
        networks = [scope] if self._named(scope) else []
        if asker is not None:  # e.g. a default-bridge container connected to a user network since
            networks += [n for n in sorted(asker.endpoints) if n != scope and self._named(n)]
        for network in networks:
            found = self._resolve_on(network, asker, name, family)
            if found is not None:
                return found
        return None

    def _resolve_on(self, scope: str, asker: Container | None, name: str, family: int) -> list[str] | None:
        linked: dict[str, str] = {}  # alias → container name: the asker's own links on this network
        if asker is not None:
            for link in (asker.endpoints.get(scope) or {}).get("Links") or []:
                target, alias = settings.parse_link(link)
                linked[alias.lower()] = target.lower()
        matched = []
        for container, endpoint in self._members(scope):
            own = container.name.removeprefix("/").lower()
            names = {own, container.short_id, *(str(a).lower() for a in endpoint.get("Aliases") or [])}
            if name in names or linked.get(name) in {own, container.container_id}:
                matched.append(endpoint)
        if not matched:
            return None
        addresses = [str(e[_FIELDS[family]]) for e in matched if e.get(_FIELDS[family])]
        if len(addresses) > 1:
            turn = next(self._turns) % len(addresses)
            addresses = addresses[turn:] + addresses[:turn]
        return addresses

    def reverse(self, scope: str, client: str, address: str) -> str | None:
        if not self._named(scope):
            return None
        for container, endpoint in self._members(scope):
            if address in (endpoint.get("IPAddress"), endpoint.get("GlobalIPv6Address")):
                return f"{container.name.removeprefix('/')}.{scope}"
        return None

    def upstreams(self, scope: str, client: str) -> list[str]:
        if self._internal(scope):
            return []
        asker = self._asker(self._members(scope), client)
        if asker is not None and asker.host_config.get("Dns"):
            return [str(server) for server in asker.host_config["Dns"]]
        try:
            return nameservers(self._host_resolv.read_text())
        except OSError as exc:
            log.warning("cannot read %s: %s", self._host_resolv, exc)
            return []
