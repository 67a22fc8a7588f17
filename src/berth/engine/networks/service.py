"""NetworkService: Docker's networks — the predefined bridge, host and none, and user-defined bridges.

A bridge network is a Linux bridge with the network's gateway address; a container on it gets a network
namespace of its own, made before its init runs (``network/netns.py``), and one veth pair per network
(``network/links.py``), with addresses from the network's subnet (``network/ipam.py``). Published
ports are relays in the daemon's loop (``engine/networks/ports.py`` over ``network/proxy.py``).

Names resolve through ``/etc/hosts``: on a user-defined network every container sees the others by
name, id prefix and alias (Docker's embedded DNS does this); the files are rewritten in place as
containers come and go, since they are bind-mounted. There is no NAT: containers reach the host and
each other, and the host reaches them; nothing is routed beyond.

State: user networks in ``data-root/networks/<id>.json``; a container's endpoints in its own record
(``Container.endpoints``), so addresses in use are those of the running containers, found again by
restore after a daemon restart.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from berth.engine.containers.container import Container, now_rfc3339
from berth.engine.containers.create import BASE_HOSTS, extra_hosts, is_word
from berth.engine.networks.ports import PublishedPorts
from berth.errors import AlreadyExists, Conflict, Forbidden, InvalidArgument, NotFound
from berth.network import ipam, links, netns
from berth.util.atomic import read_json, write_json

log = logging.getLogger("berthd.networks")

PREDEFINED = ("bridge", "host", "none")
_SHARED = "container:"  # NetworkMode of a container in another's namespace
# What an endpoint holds only while its container runs ("Ifname": the link's name inside, ours only).
_RUNTIME_FIELDS = ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID", "NetworkID", "Ifname")


def primary_network(container: Container) -> str:
    """The network ``HostConfig.NetworkMode`` names ("default" is the bridge, as in Docker)."""
    mode = container.host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


@dataclass(slots=True)
class Network:
    name: str
    network_id: str
    created: str
    driver: str  # bridge | host | null
    device: str = ""  # the Linux bridge
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        return not self.predefined

    def to_record(self) -> dict[str, Any]:
        return {
            "Name": self.name, "Id": self.network_id, "Created": self.created, "Driver": self.driver,
            "Device": self.device, "Subnet": str(self.subnet), "Gateway": str(self.gateway),
            "Internal": self.internal, "Attachable": self.attachable, "Labels": self.labels,
            "Options": self.options,
        }  # fmt: skip

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Network:
        return cls(
            name=raw["Name"], network_id=raw["Id"], created=raw["Created"], driver=raw["Driver"],
            device=raw["Device"], subnet=IPv4Network(raw["Subnet"]), gateway=IPv4Address(raw["Gateway"]),
            internal=bool(raw.get("Internal")), attachable=bool(raw.get("Attachable")),
            labels=dict(raw.get("Labels") or {}), options=dict(raw.get("Options") or {}),
        )  # fmt: skip


class NetworkService:
    def __init__(
        self,
        root: Path,
        *,
        netns_root: Path,
        daemon_id: str,
        since: str,
        bridge: str,
        bip: str,
        containers: Callable[[], Iterable[Container]],
        container: Callable[[str], Container],
    ) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._netns_root = netns_root
        self._containers = containers
        self._container = container  # Docker's lookup of one, for --network container:NAME
        self._lock = threading.Lock()  # addresses are handed out from worker threads
        self._ports = PublishedPorts()  # engine/networks/ports.py
        self._bridges: dict[str, int] = {}  # device → link index, once made or found in this daemon's life
        try:
            gateway = IPv4Interface(bip)
        except ValueError:
            raise InvalidArgument(
                f"invalid --bip {bip}: an address with its prefix, e.g. 172.30.0.1/16"
            ) from None
        created = since  # the predefined networks are as old as the daemon's root, as in Docker
        self._networks: dict[str, Network] = {
            "bridge": Network(
                "bridge", _derived_id(daemon_id, "bridge"), created, "bridge", device=bridge,
                subnet=gateway.network, gateway=gateway.ip,
                options={"com.docker.network.bridge.name": bridge, "com.docker.network.bridge.default_bridge": "true"},
            ),
            "host": Network("host", _derived_id(daemon_id, "host"), created, "host"),
            "none": Network("none", _derived_id(daemon_id, "none"), created, "null"),
        }  # fmt: skip
        for path in sorted(self._root.glob("*.json")):
            try:
                network = Network.from_record(read_json(path))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipping unreadable network record %s: %s", path, exc)
                continue
            self._networks[network.name] = network

    # ---------------------------------------------------------------- lookup

    def all(self) -> list[Network]:
        return sorted(self._networks.values(), key=lambda n: n.name)

    def get(self, ref: str) -> Network:
        """Docker's lookup: full name, then full id, then a unique id prefix."""
        if ref in self._networks:
            return self._networks[ref]
        for network in self._networks.values():
            if network.network_id == ref:
                return network
        matches = [n for n in self._networks.values() if ref and n.network_id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {ref} not found")

    def members(self, network: Network) -> list[Container]:
        """Running containers on ``network``: its endpoints, in Docker's words."""
        return [c for c in self._containers() if c.status.is_alive() and network.name in self.memberships(c)]

    @staticmethod
    def memberships(container: Container) -> list[str]:
        """The networks a container is on, its primary (``NetworkMode``) first. On bridges that is its
        endpoints: a container disconnected from every network keeps its mode and has loopback only."""
        primary = primary_network(container)
        if primary in {"host", "none"} or primary.startswith(_SHARED):
            return [primary]
        return sorted(container.endpoints, key=lambda name: name != primary)

    # ---------------------------------------------------------------- networks

    def create(self, body: dict[str, Any]) -> Network:
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise InvalidArgument("network name cannot be empty")
        if name in PREDEFINED:
            raise Forbidden(f"operation is not permitted on predefined {name} network ")
        if name in self._networks:
            raise AlreadyExists(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found: Berth has the bridge driver only')
        if body.get("EnableIPv6"):
            raise InvalidArgument("IPv6 networks are not supported: create the network without --ipv6")
        subnet, gateway = self._address_plan(body.get("IPAM") or {})
        network_id = secrets.token_hex(32)
        network = Network(
            name, network_id, now_rfc3339(), "bridge", device=f"br-{network_id[:12]}", subnet=subnet, gateway=gateway,
            internal=bool(body.get("Internal")), attachable=bool(body.get("Attachable")),
            labels=dict(body.get("Labels") or {}), options=dict(body.get("Options") or {}),
        )  # fmt: skip
        with self._lock:
            write_json(self._root / f"{network_id}.json", network.to_record(), mode=0o600)
            self._networks[name] = network
        return network

    def _address_plan(self, ipam_body: dict[str, Any]) -> tuple[IPv4Network, IPv4Address]:
        configs = [c for c in (ipam_body.get("Config") or []) if isinstance(c, dict)]
        if len(configs) > 1:
            raise InvalidArgument("only one IPv4 subnet per network is supported")
        config = configs[0] if configs else {}
        taken = [n.subnet for n in self._networks.values() if n.subnet is not None]
        if config.get("Subnet"):
            subnet = ipam.parse_subnet(str(config["Subnet"]))
            if any(t.overlaps(subnet) for t in taken):
                raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
            host = [r for r in self._host_routes() if r.overlaps(subnet)]
            if host:
                raise Forbidden(f"subnet {subnet} overlaps a route of this host ({host[0]})")
        else:
            subnet = ipam.free_subnet([*taken, *self._host_routes()])
        gateway = (
            ipam.parse_address(str(config["Gateway"]), "gateway")
            if config.get("Gateway")
            else ipam.first_host(subnet)
        )
        if gateway not in subnet:
            raise InvalidArgument(f"gateway {gateway} is not in subnet {subnet}")
        return subnet, gateway

    def remove(self, ref: str) -> Network:
        network = self.get(ref)
        if network.predefined:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        active = self.members(network)
        if active:
            names = ", ".join(f'name:"{c.name.removeprefix("/")}" id:"{c.short_id}"' for c in active)
            raise Forbidden(
                f"error while removing network: network {network.name} has active endpoints ({names})"
            )
        with self._lock:
            links.delete_link(network.device)
            self._bridges.pop(network.device, None)
            (self._root / f"{network.network_id}.json").unlink(missing_ok=True)
            del self._networks[network.name]
        return network

    def endpoints_for(self, host: dict[str, Any], networking: Any) -> dict[str, dict[str, Any]]:
        """At create: check ``HostConfig.NetworkMode`` (naming its network by name from now on) and
        ``NetworkingConfig.EndpointsConfig``; the container's endpoints, one per bridge network."""
        mode = host.get("NetworkMode") or "default"
        if mode.startswith(_SHARED):
            if host.get("PortBindings") or host.get("PublishAllPorts"):
                raise InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                )
            host["NetworkMode"] = _SHARED + self._container(mode.removeprefix(_SHARED)).container_id
            return {}
        primary = self.get("bridge" if mode == "default" else mode)
        if mode != "default":
            host["NetworkMode"] = primary.name
        configs = (networking or {}).get("EndpointsConfig") if isinstance(networking, dict) else None
        out: dict[str, dict[str, Any]] = {}
        for name, config in (configs or {}).items():
            network = primary if name == "default" else self.get(name)
            config = config if isinstance(config, dict) else {}
            aliases, ipam_config = _aliases(config.get("Aliases")), config.get("IPAMConfig") or None
            endpoint: dict[str, Any] = {"Aliases": aliases, "IPAMConfig": ipam_config}
            if network.name == "bridge" and isinstance(ipam_config, dict) and ipam_config.get("IPv4Address"):
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if network.name == "bridge" and aliases:
                raise InvalidArgument(
                    "network-scoped alias is supported only for containers in user defined networks"
                )
            if network.driver == "bridge":
                out[network.name] = endpoint
            elif network is not primary:
                raise InvalidArgument(
                    f"container cannot be connected to network {network.name} and {primary.name}"
                )
        if primary.driver == "bridge":
            out.setdefault(primary.name, {"Aliases": None, "IPAMConfig": None})
        return out

    # ---------------------------------------------------------------- containers: start and stop

    def _host_routes(self) -> list[IPv4Network]:
        """The host's routes, except those of Berth's own bridges: subnets a network must not take."""
        return links.host_routes(exclude={n.device for n in self._networks.values() if n.device})

    def _sandbox_path(self, container: Container) -> Path:
        return self._netns_root / container.container_id

    def attach(self, container: Container) -> Path | None:
        """Before init runs (worker thread): the container's namespace, wired to each of its networks.
        None when the runtime should make the namespace itself (``none``) or use the host's."""
        if primary_network(container).startswith(_SHARED):
            return self._shared_namespace(container)
        primary = self.get(primary_network(container))
        if primary.driver != "bridge":
            return None
        path = self._sandbox_path(container)
        netns.delete(path)  # a leftover of a run that ended while the daemon was down
        netns.create(path)
        try:
            for name in self.memberships(container):
                self._plug(container, self.get(name), path)
        except BaseException:
            self.detach(container)
            raise
        self.refresh_hosts(container)
        return path

    def _shared_namespace(self, container: Container) -> Path:
        """``--network container:X``: X's own namespace, while X runs."""
        target = self._container(primary_network(container).removeprefix(_SHARED))
        if not target.status.is_alive() or not target.pid:
            raise Conflict(f"cannot join network of a non running container: {target.container_id}")
        return Path(f"/proc/{target.pid}/ns/net")

    def _plug(self, container: Container, network: Network, path: Path) -> None:
        assert network.subnet is not None and network.gateway is not None
        endpoint = container.endpoints.setdefault(network.name, {})
        in_use = {e.get("Ifname") for e in container.endpoints.values()}
        inner_name = next(f"eth{n}" for n in range(len(in_use) + 1) if f"eth{n}" not in in_use)
        primary = network.name == (self.memberships(container) or [""])[0]  # gets the default route
        with self._lock:
            bridge_index = self._bridge_index(network)
            taken = {
                IPv4Address(c.endpoints[network.name]["IPAddress"])
                for c in self._containers()
                if c is not container and c.endpoints.get(network.name, {}).get("IPAddress")
            }
            taken.add(network.gateway)
            requested = ((endpoint.get("IPAMConfig") or {}).get("IPv4Address")) or ""
            if requested:
                address = ipam.parse_address(requested)
                ipam.check_address(network.subnet, network.gateway, address, taken)
            else:
                address = ipam.free_address(network.subnet, taken)
            endpoint_id, mac = secrets.token_hex(32), ipam.mac_for(address)
            endpoint.update(
                IPAddress=str(address), IPPrefixLen=network.subnet.prefixlen, Gateway=str(network.gateway),
                MacAddress=mac, EndpointID=endpoint_id, NetworkID=network.network_id,
                Ifname=inner_name,
            )  # fmt: skip
        plug = functools.partial(
            links.plug,
            path,
            host_name=f"veth{endpoint_id[:7]}",
            inner_name=inner_name,
            address=IPv4Interface(f"{address}/{network.subnet.prefixlen}"),
            mac=mac,
            gateway=network.gateway if primary and not network.internal else None,
        )
        try:
            plug(bridge_index=bridge_index)
        except links.StaleBridge:  # deleted behind our back: make it again, once
            with self._lock:
                self._bridges.pop(network.device, None)
                bridge_index = self._bridge_index(network)
            plug(bridge_index=bridge_index)

    def _bridge_index(self, network: Network) -> int:
        """The network's bridge, made and addressed on first use in this daemon's life (cached: a
        start then costs no netlink round trip for it). Call with the lock held."""
        assert network.subnet is not None and network.gateway is not None
        index = self._bridges.get(network.device)
        if index is not None:
            return index
        if network.name == "bridge" and not links.link_exists(network.device):
            clash = [r for r in self._host_routes() if r.overlaps(network.subnet)]
            if clash:
                raise Conflict(
                    f"the bridge network's subnet {network.subnet} overlaps a route of this host ({clash[0]}): "
                    "start berthd with another --bip"
                )
        index = links.ensure_bridge(
            network.device, IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}")
        )
        self._bridges[network.device] = index
        return index

    def detach(self, container: Container) -> None:
        """After the container is gone (worker thread): its namespace and addresses are released."""
        path = self._sandbox_path(container)
        plugged = any(e.get("IPAddress") for e in container.endpoints.values())
        if not plugged and not path.exists():
            return  # host, none, container:…, or never started: nothing of ours to release
        netns.delete(path)
        for endpoint in container.endpoints.values():
            for key in _RUNTIME_FIELDS:
                endpoint.pop(key, None)
        self.refresh_hosts(container, leaving=True)

    # ---------------------------------------------------------------- connect / disconnect

    def connect(self, ref: str, container: Container, config: dict[str, Any]) -> None:
        """``network connect`` (worker thread, under the container's lock): plugged at once if it runs."""
        network = self.get(ref)
        if primary_network(container).startswith(_SHARED):
            raise Forbidden("container sharing a network namespace cannot be connected to any other network")
        primary = self.get(primary_network(container))
        if network.driver != "bridge" or primary.driver != "bridge":
            raise Forbidden(
                f"container cannot be connected to network {network.name} while on {primary.name}"
            )
        if network.name in self.memberships(container):
            name = container.name.removeprefix("/")
            raise Forbidden(f"endpoint with name {name} already exists in network {network.name}")
        container.endpoints[network.name] = {
            "Aliases": _aliases(config.get("Aliases")),
            "IPAMConfig": config.get("IPAMConfig") or None,
        }
        if container.status.is_alive():
            try:
                self._plug(container, network, self._sandbox_path(container))
            except BaseException:
                container.endpoints.pop(network.name, None)
                raise
            self.refresh_hosts(container)

    def disconnect(self, ref: str, container: Container) -> None:
        """``network disconnect``: the container's link on ``ref`` goes; a running container keeps the rest."""
        network = self.get(ref)
        if network.name not in container.endpoints:
            raise Forbidden(f"container {container.short_id} is not connected to network {network.name}")
        ifname = container.endpoints[network.name].get("Ifname")
        if container.status.is_alive() and ifname:
            links.unplug(self._sandbox_path(container), ifname)
        del container.endpoints[network.name]  # NetworkMode stays, as in Docker: connect may follow
        self.refresh_hosts(container, left={network.name})

    # ---------------------------------------------------------------- /etc/hosts

    def refresh_hosts(
        self, container: Container, *, leaving: bool = False, left: AbstractSet[str] = frozenset()
    ) -> None:
        """Rewrite the hosts files of ``container`` and of everyone sharing a user network with it (or
        sharing one of the networks it has ``left``)."""
        shared = {
            name
            for name in [*self.memberships(container), *left]
            if self.get_or_none(name) and name not in PREDEFINED
        }
        affected = [container] if not leaving else []
        affected += [
            c for c in self._containers()
            if c is not container and c.status.is_alive() and shared & set(self.memberships(c))
        ]  # fmt: skip
        for target in affected:
            self._write_hosts(target)

    def get_or_none(self, name: str) -> Network | None:
        return self._networks.get(name)

    def _write_hosts(self, container: Container) -> None:
        lines = [BASE_HOSTS]
        own = [e.get("IPAddress") for e in container.endpoints.values() if e.get("IPAddress")]
        if own:
            lines.append(f"{own[0]}\t{container.config.get('Hostname') or container.short_id}\n")
        seen: set[str] = set()
        for name in self.memberships(container):
            if name in PREDEFINED:
                continue
            for peer in self._containers():
                endpoint = peer.endpoints.get(name) or {}
                address = endpoint.get("IPAddress")
                if peer is container or not address:  # an address: plugged in (or being plugged in) now
                    continue
                names = [peer.name.removeprefix("/"), peer.short_id, *(endpoint.get("Aliases") or [])]
                entry = f"{address}\t{' '.join(dict.fromkeys(names))}\n"
                if entry not in seen:
                    seen.add(entry)
                    lines.append(entry)
        lines.append(extra_hosts(container))
        path = container.directory / "hosts"
        text = "".join(lines)
        with contextlib.suppress(FileNotFoundError), open(path, "r+") as f:  # in place: it is bind-mounted
            f.write(text)
            f.truncate()

    # ---------------------------------------------------------------- published ports

    async def publish(self, container: Container) -> None:
        """Open the host ports of a started container (on the loop), towards its primary address."""
        await self._ports.publish(container, self._primary_address(container))

    async def unpublish(self, container: Container) -> None:
        await self._ports.unpublish(container)

    def _primary_address(self, container: Container) -> str | None:
        for name in self.memberships(container):
            address = (container.endpoints.get(name) or {}).get("IPAddress")
            if address:
                return str(address)
        return None


def _aliases(value: Any) -> list[str] | None:
    """``--network-alias`` values: single words (they become /etc/hosts fields)."""
    aliases = [str(a) for a in value or []]
    for alias in aliases:
        if not is_word(alias):
            raise InvalidArgument(f"invalid network alias {alias!r}: a single word without spaces")
    return aliases or None


def _derived_id(daemon_id: str, name: str) -> str:
    return hashlib.sha256(f"{daemon_id}\0network\0{name}".encode()).hexdigest()
