"""NetworkService: Docker's networks — the predefined bridge, host and none, and user-defined bridges.

A bridge network is a Linux bridge with the network's gateway address; a container on it gets a network
namespace of its own, made before its init runs (``network/netns.py``), and one veth pair per network
(``network/links.py``), with addresses from the network's subnet (``network/ipam.py``). Published
ports are relays in the daemon's loop (``engine/networks/ports.py`` over ``network/proxy.py``).

Names resolve through ``/etc/hosts``: on a user-defined network every container sees the others by
name, id prefix and alias (Docker's embedded DNS does this), and its own ``Links`` as aliases of
theirs; on the default bridge a container sees its legacy links' children (``legacy_links.py``); the
files are rewritten in place as containers come and go, since they are bind-mounted. A container on
``container:X`` shares X's namespace and X's files. There is no NAT: containers reach the host and
each other, and the host reaches them; nothing is routed beyond. A network with ``EnableIPv6`` is
dual-stack: its bridge and each container also get an address of its IPv6 subnet (given, or a /64 of
the daemon's unique local /48), the same way.

State: user networks in ``data-root/networks/<id>.json``; a container's endpoints in its own record
(``Container.endpoints``), so addresses in use are those of the running containers, found again by
restore after a daemon restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.containers.container import Container, now_rfc3339
from berth.engine.containers.create import BASE_HOSTS, extra_hosts, resolv_conf
from berth.engine.networks import create_request as requests
from berth.engine.networks import legacy_links, settings
from berth.engine.networks.names import HOST_RESOLV, NetworkNames
from berth.engine.networks.ports import PublishedPorts
from berth.errors import AlreadyExists, Conflict, Forbidden, InvalidArgument, NotFound
from berth.network import ipam, links, netns, sysctl
from berth.network.firewall import Bridge, Firewall, PortRule
from berth.network.nftables import NftablesError
from berth.util.atomic import read_json, write_json
from berth.util.faults import crash_point
from berth.util.records import Shape, require

if TYPE_CHECKING:
    from berth.network.dns import EmbeddedDNS

log = logging.getLogger("berthd.networks")

PREDEFINED = ("bridge", "host", "none")
_SHARED = settings.SHARED  # NetworkMode of a container in another's namespace
# What an endpoint holds only while its container runs ("Ifname": the link's name inside, ours only).
_RUNTIME_FIELDS = (
    "IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID", "NetworkID", "Ifname", legacy_links.ENV_KEY,
    "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPv6Gateway",
)  # fmt: skip
_NO_USER_SUBNET = (
    "user specified IP address is supported only when connecting to networks with user configured subnets"
)
_CONFIG_ONLY_ENDPOINT = "cannot create endpoint on configuration-only network"


def primary_network(container: Container) -> str:
    """The network ``HostConfig.NetworkMode`` names ("default" is the bridge, as in Docker)."""
    mode = container.host_config.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


_RECORD_SHAPE: Shape = {"Name": str, "Id": str, "Created": str, "Driver": str, "Device": str}
_RECORD_OPTIONAL: Shape = {"Labels": dict, "Options": dict, "AuxiliaryAddresses": dict, "AuxiliaryAddresses6": dict,
                    "Subnet": str, "Gateway": str, "IPRange": str, "Subnet6": str, "Gateway6": str,
                    "IPRange6": str, "ConfigFrom": str}  # fmt: skip


@dataclass(slots=True)
class Network:
    name: str
    network_id: str
    created: str
    driver: str  # bridge | host | null (null: the predefined none, and configuration-only networks)
    device: str = ""  # the Linux bridge
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ip_range: IPv4Network | None = None  # IPAM.Config[0].IPRange: where dynamic addresses come from
    aux_addresses: dict[str, str] = field(default_factory=dict)  # reserved, never handed out
    config_only: bool = False
    config_from: str = ""  # the configuration-only network this one took its configuration from
    configured_subnet: bool = True  # IPAM.Config named the subnet (static addresses need one, as Docker)
    # IPv6 (EnableIPv6): the same, for the network's IPv6 entry of IPAM.Config
    enable_ipv6: bool = False
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None
    ip_range6: IPv6Network | None = None
    aux_addresses6: dict[str, str] = field(default_factory=dict)
    configured_subnet6: bool = False

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        return not self.predefined

    @property
    def mtu(self) -> int:
        return int(self.options.get(requests.MTU) or 0)

    @property
    def icc(self) -> bool:
        """Inter-container traffic (``enable_icc``): off, the bridge ports are isolated from each other."""
        return requests.go_bool(requests.ENABLE_ICC, self.options.get(requests.ENABLE_ICC, "true"))

    @property
    def host_binding_ipv4(self) -> str:
        return self.options.get(requests.HOST_BINDING_IPV4, "")

    @property
    def iface_prefix(self) -> str:
        return self.options.get(requests.IFACE_PREFIX) or "eth"

    def to_record(self) -> dict[str, Any]:
        return {
            "Name": self.name, "Id": self.network_id, "Created": self.created, "Driver": self.driver,
            "Device": self.device, "Subnet": str(self.subnet or ""), "Gateway": str(self.gateway or ""),
            "Internal": self.internal, "Attachable": self.attachable, "Labels": self.labels,
            "Options": self.options, "IPRange": str(self.ip_range or ""), "AuxiliaryAddresses": self.aux_addresses,
            "ConfigOnly": self.config_only, "ConfigFrom": self.config_from,
            "ConfiguredSubnet": self.configured_subnet,
            "EnableIPv6": self.enable_ipv6, "Subnet6": str(self.subnet6 or ""), "Gateway6": str(self.gateway6 or ""),
            "IPRange6": str(self.ip_range6 or ""), "AuxiliaryAddresses6": self.aux_addresses6,
            "ConfiguredSubnet6": self.configured_subnet6,
        }  # fmt: skip

    @classmethod
    def from_record(cls, raw: object) -> Network:
        """The network of a stored record; ``ValueError`` for one of the wrong shape."""
        record = require(raw, _RECORD_SHAPE, optional=_RECORD_OPTIONAL)
        try:
            return cls._from_fields(record)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed network record: {exc!r}") from exc

    @classmethod
    def _from_fields(cls, raw: dict[str, Any]) -> Network:
        return cls(
            name=raw["Name"], network_id=raw["Id"], created=raw["Created"], driver=raw["Driver"],
            device=raw["Device"], subnet=IPv4Network(raw["Subnet"]) if raw.get("Subnet") else None,
            gateway=IPv4Address(raw["Gateway"]) if raw.get("Gateway") else None,
            internal=bool(raw.get("Internal")), attachable=bool(raw.get("Attachable")),
            labels=dict(raw.get("Labels") or {}), options=dict(raw.get("Options") or {}),
            ip_range=IPv4Network(raw["IPRange"]) if raw.get("IPRange") else None,
            aux_addresses=dict(raw.get("AuxiliaryAddresses") or {}),
            config_only=bool(raw.get("ConfigOnly")), config_from=str(raw.get("ConfigFrom") or ""),
            configured_subnet=bool(raw.get("ConfiguredSubnet", True)),
            # records written before IPv6 have none of these keys: an IPv4-only network
            enable_ipv6=bool(raw.get("EnableIPv6")),
            subnet6=IPv6Network(raw["Subnet6"]) if raw.get("Subnet6") else None,
            gateway6=IPv6Address(raw["Gateway6"]) if raw.get("Gateway6") else None,
            ip_range6=IPv6Network(raw["IPRange6"]) if raw.get("IPRange6") else None,
            aux_addresses6=dict(raw.get("AuxiliaryAddresses6") or {}),
            configured_subnet6=bool(raw.get("ConfiguredSubnet6")),
        )  # fmt: skip

    def check_static_address(self, endpoint: dict[str, Any]) -> None:
        """A requested IPv4Address or IPv6Address: only on a network whose subnet of that family was
        given, and inside it (Docker's words: a network without IPv6 has no IPv6 subnet given)."""
        ipam_config = endpoint.get("IPAMConfig") or {}
        if not self.user_defined:
            return
        requested = ipam_config.get("IPv4Address")
        if requested:
            if not self.configured_subnet:
                raise InvalidArgument(_NO_USER_SUBNET)
            if self.subnet is not None and IPv4Address(requested) not in self.subnet:
                raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {requested}")
        requested6 = ipam_config.get("IPv6Address")
        if requested6:
            if not self.enable_ipv6 or not self.configured_subnet6:
                raise InvalidArgument(_NO_USER_SUBNET)
            if self.subnet6 is not None and IPv6Address(requested6) not in self.subnet6:
                raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {requested6}")


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
        ip_forward: bool = True,
        ip_masq: bool = True,
        firewall: Firewall | None = None,
    ) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._netns_root = netns_root
        self._containers = containers
        self._container = container  # Docker's lookup of one, for --network container:NAME
        self._lock = threading.Lock()  # addresses are handed out from worker threads
        self._ip_forward, self._ip_masq = ip_forward, ip_masq
        self._firewall = firewall  # None until start_host_networking finds nftables here
        self._guard: set[str] = set()  # families berthd turned forwarding on for (its table drops others')
        self._ports = PublishedPorts()  # engine/networks/ports.py; kernel ports once the table is made
        self._names = NetworkNames(
            containers,
            named=self._serves_names,
            internal=lambda n: bool(self._networks.get(n, None) and self._networks[n].internal),
        )
        self._dns: EmbeddedDNS | None = None  # made on the loop at the first start (network/dns.py)
        self._dns_failed: set[str] = set()  # networks whose gateway port 53 could not be bound
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bridges: dict[str, int] = {}  # device → link index, once made or found in this daemon's life
        self._ula = ipam.ula_prefix(daemon_id)  # where IPv6 networks without a subnet take a /64
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
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable network record %s: %s (see berth system check)", path, exc)
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
        """``POST /networks/create``: every NetworkCreateRequest field takes effect or is refused
        (``create_request.py``)."""
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise InvalidArgument("network name cannot be empty")
        if not name.strip() or "/" in name or not name.isprintable():
            # libnetwork refuses blank names only; a "/" would make /networks/{name} unreachable
            raise InvalidArgument(f"invalid name: {name}")
        if name in PREDEFINED:
            raise Forbidden(f"operation is not permitted on predefined {name} network ")
        if name in self._networks:
            raise AlreadyExists(f"network with name {name} already exists")
        requests.check_fields(body)
        ipam_body = body.get("IPAM") or {}
        options = body.get("Options") or {}
        internal, attachable = bool(body.get("Internal")), bool(body.get("Attachable"))
        config_from = requests.config_from(body)
        source: Network | None = None
        if config_from:
            source = self._networks.get(config_from)
            if source is None or not source.config_only:
                raise NotFound(f'configuration network "{config_from}" does not exist')
            options = dict(source.options)
        devices = {n.device: n.network_id for n in self._networks.values() if n.device}
        options = requests.check_options(options, taken_devices=devices)
        network_id = secrets.token_hex(32)
        address6: requests.AddressConfig6 | None
        if source is not None:
            address = requests.AddressConfig(
                subnet=source.subnet,
                ip_range=source.ip_range,
                gateway=source.gateway,
                aux=dict(source.aux_addresses),
            )
            address6 = None
            if source.enable_ipv6:  # IPv6 comes with the rest of the configuration, as in libnetwork
                address6 = requests.AddressConfig6(
                    subnet=source.subnet6, ip_range=source.ip_range6, gateway=source.gateway6,
                    aux=dict(source.aux_addresses6),
                )  # fmt: skip
        else:
            address, address6 = requests.address_configs(ipam_body, enable_ipv6=requests.ipv6_enabled(body))
        network = Network(
            name, network_id, now_rfc3339(), "bridge", internal=internal, attachable=attachable,
            labels=dict(body.get("Labels") or {}), options=options, ip_range=address.ip_range,
            aux_addresses=address.aux, config_from=source.name if source else "",
        )  # fmt: skip
        if address6 is not None:
            network.enable_ipv6 = True
            network.ip_range6, network.aux_addresses6 = address6.ip_range, address6.aux
        if body.get("ConfigOnly"):  # kept for others to take (ConfigFrom): no bridge, no addresses
            network.driver, network.config_only = "null", True
            network.subnet, network.gateway = address.subnet, address.gateway
            if address6 is not None:
                network.subnet6, network.gateway6 = address6.subnet, address6.gateway
                network.configured_subnet6 = address6.subnet is not None
        else:
            network.device = options.get(requests.BRIDGE_NAME) or f"br-{network_id[:12]}"
            if requests.BRIDGE_NAME in options and links.link_exists(network.device):
                raise Forbidden(f"cannot create network: the host already has a link named {network.device}")
            network.subnet, network.gateway = self._address_plan(address)
            network.configured_subnet = address.subnet is not None
            if address6 is not None:
                network.subnet6, network.gateway6 = self._address_plan6(address6)
                network.configured_subnet6 = address6.subnet is not None
        with self._lock:
            record = require(network.to_record(), _RECORD_SHAPE, optional=_RECORD_OPTIONAL)  # as read back
            write_json(self._root / f"{network_id}.json", record, mode=0o600)
            self._networks[name] = network
        crash_point("network.before-firewall")
        self._sync_after_change()
        return network

    def _sync_after_change(self) -> None:
        try:
            self.sync_firewall()
        except NftablesError as exc:  # the network stands; its NAT follows at the next check
            log.warning("cannot update nftables table: %s", exc)

    def _address_plan(self, config: requests.AddressConfig) -> tuple[IPv4Network, IPv4Address]:
        taken = [n.subnet for n in self._networks.values() if n.subnet is not None and not n.config_only]
        if config.subnet is not None:
            subnet = config.subnet
            _check_free(subnet, taken, self._host_routes())
        else:
            subnet = ipam.free_subnet([*taken, *self._host_routes()])
        gateway = config.gateway or ipam.first_host(subnet)
        return subnet, gateway

    def _address_plan6(self, config: requests.AddressConfig6) -> tuple[IPv6Network, IPv6Address]:
        """``_address_plan`` for IPv6: the given subnet (checked as a v4 one is), else the first /64 of
        the daemon's unique local /48 that no network and no route of the host's has."""
        taken = [n.subnet6 for n in self._networks.values() if n.subnet6 is not None and not n.config_only]
        if config.subnet is not None:
            subnet = config.subnet
            _check_free(subnet, taken, self._host_routes6())
        else:
            subnet = ipam.free_subnet6(self._ula, [*taken, *self._host_routes6()])
        gateway = config.gateway or ipam.first_host(subnet)
        return subnet, gateway

    def remove(self, ref: str) -> Network:
        network = self.get(ref)
        if network.predefined:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        if network.config_only:
            users = [n.name for n in self._networks.values() if n.config_from == network.name]
            if users:
                raise Forbidden(f'configuration network "{network.name}" is in use')
        active = self.members(network)
        if active:
            names = ", ".join(f'name:"{c.name.removeprefix("/")}" id:"{c.short_id}"' for c in active)
            raise Forbidden(
                f"error while removing network: network {network.name} has active endpoints ({names})"
            )
        with self._lock:
            if network.device:
                links.delete_link(network.device)
                self._bridges.pop(network.device, None)
            (self._root / f"{network.network_id}.json").unlink(missing_ok=True)
            del self._networks[network.name]
        self._sync_after_change()
        if self._dns is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._dns.close(network.name), self._loop)
        return network

    def endpoints_for(
        self, host: dict[str, Any], networking: Any, config: dict[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """At create: check the network fields of the request (``config``: its Config part, whose
        deprecated ``MacAddress`` moves to the main endpoint) and ``HostConfig.NetworkMode`` (naming
        its network by name from now on); the container's endpoints, one per bridge network of
        ``NetworkingConfig.EndpointsConfig`` (Docker 28 takes several) and its mode's."""
        config = config if config is not None else {}
        settings.check_container(config, host, networking)
        mode = host.get("NetworkMode") or "default"
        if mode.startswith(_SHARED):
            host["NetworkMode"] = _SHARED + self._container(mode.removeprefix(_SHARED)).container_id
            return {}
        primary = self.get("bridge" if mode == "default" else mode)
        if mode != "default":
            host["NetworkMode"] = primary.name
        if primary.config_only:
            raise Forbidden(_CONFIG_ONLY_ENDPOINT)
        configs = (networking or {}).get("EndpointsConfig") if isinstance(networking, dict) else None
        out: dict[str, dict[str, Any]] = {}
        for name, raw in (configs or {}).items():
            network = primary if name == "default" else self.get(name)
            if network.config_only:
                raise Forbidden(_CONFIG_ONLY_ENDPOINT)
            endpoint = settings.endpoint_config(network.name, raw, user_defined=network.user_defined)
            network.check_static_address(endpoint)
            if network.driver == "bridge":
                out[network.name] = endpoint
            elif network is not primary:
                raise InvalidArgument(
                    f"container cannot be connected to network {network.name} and {primary.name}"
                )
        if primary.driver == "bridge":
            main = out.setdefault(primary.name, settings.endpoint_config(primary.name, {}, user_defined=True))
            mac = str(config.pop("MacAddress", "") or "")  # deprecated since API 1.44: the endpoint's now
            if mac:
                wanted = settings.endpoint_config(primary.name, {"MacAddress": mac}, user_defined=True)
                if main["DesiredMacAddress"] and main["DesiredMacAddress"] != wanted["DesiredMacAddress"]:
                    raise InvalidArgument(
                        "the container-wide MAC address must match the endpoint-specific MAC address for "
                        "the main network, or be left empty"
                    )
                main["DesiredMacAddress"] = wanted["DesiredMacAddress"]
        if config.get("NetworkDisabled"):
            return {}  # loopback only, whatever the mode says (as Docker: no sandbox, no endpoint)
        return out

    def register_links(self, container: Container) -> None:
        """At create, after ``endpoints_for``: ``HostConfig.Links``. On the default bridge they are
        legacy links, kept as inspect shows them (``/child:/parent/alias``) and by the child's id; on a
        user-defined network they are aliases of the main endpoint (its ``Links``), as in Docker."""
        raw = container.host_config.get("Links") or []
        if not raw:
            return
        if not isinstance(raw, list):
            raise InvalidArgument("HostConfig.Links must be a list of NAME[:ALIAS]")
        parsed = [settings.parse_link(link) for link in raw]
        primary = primary_network(container)
        if primary not in container.endpoints and primary != "bridge":
            raise InvalidArgument(f"legacy links need the default bridge network, not {primary}")
        if primary != "bridge":
            endpoint = container.endpoints[primary]
            endpoint["Links"] = endpoint.get("Links") or [f"{name}:{alias}" for name, alias in parsed]
            container.host_config["Links"] = None  # nothing is registered: inspect shows none
            return
        registered: dict[str, str] = {}
        shown: list[str] = []
        for name, alias in parsed:
            try:
                child = self._container(name)
            except NotFound as exc:
                raise InvalidArgument(f"could not get container for {name}: {exc}") from None
            while primary_network(child).startswith(_SHARED):
                child = self._container(primary_network(child).removeprefix(_SHARED))
            if primary_network(child) == "host":
                raise InvalidArgument(
                    "conflicting options: host type networking can't be used with links. "
                    "This would result in undefined behavior"
                )
            registered[alias] = child.container_id
            shown.append(f"{child.name}:{container.name}/{alias}")
        if "bridge" in container.endpoints:
            container.endpoints["bridge"][legacy_links.LINKS_KEY] = registered
        container.host_config["Links"] = shown

    def remove_link(self, ref: str) -> Container:
        """``DELETE /containers/{/parent/alias}?link=true`` (``docker rm --link``): the parent forgets
        that link (its /etc/hosts at once; its variables at its next start). The parent, saved."""
        name = ref if ref.startswith("/") else "/" + ref
        parent_name, _, _ = name.rpartition("/")
        parents = [c for c in self._containers() if c.name == parent_name]
        if not parent_name:
            self._container(name)  # a container of that name, or Docker's 404
            raise Conflict("Conflict, cannot remove the default link name of the container")
        links_of = legacy_links.legacy_links(parents[0]) if parents else {}
        if name not in links_of:
            if not parents:
                self._container(name)  # Docker's 404 when no container answers to the name either
                raise NotFound(f"Cannot get parent {parent_name} for link name {name}")
            raise NotFound(f"No such container: {name}")
        parent = parents[0]
        del parent.endpoints["bridge"][legacy_links.LINKS_KEY][name.rsplit("/", 1)[1]]
        parent.host_config["Links"] = self.links_shown(parent)
        parent.save()
        if parent.status.is_alive():
            self._write_hosts(parent)
        return parent

    def links_shown(self, container: Container) -> list[str] | None:
        """``HostConfig.Links`` as Docker's inspect shows it: ``/child:/parent/alias``, today's names
        (null on a user-defined network, where links are the endpoint's)."""
        if legacy_links.LINKS_KEY not in (container.endpoints.get("bridge") or {}):
            return container.host_config.get("Links") or None
        names = {c.container_id: c.name for c in self._containers()}
        shown = [
            f"{names[child]}:{link}"
            for link, child in legacy_links.legacy_links(container).items()
            if child in names
        ]
        return shown or None

    # ---------------------------------------------------------------- containers: start and stop

    def _host_routes(self) -> list[IPv4Network]:
        """The host's routes, except those of Berth's own bridges: subnets a network must not take."""
        return links.host_routes(exclude={n.device for n in self._networks.values() if n.device})

    def _host_routes6(self) -> list[IPv6Network]:
        return links.host_routes6(exclude={n.device for n in self._networks.values() if n.device})

    def _sandbox_path(self, container: Container) -> Path:
        return self._netns_root / container.container_id

    def sandbox_key(self, container: Container) -> str:
        """``NetworkSettings.SandboxKey``: the path of the running container's network namespace (the
        bind mount Berth made, as dockerd's /var/run/docker/netns/…; the runtime's own for ``none``)."""
        mode = primary_network(container)
        if not container.status.is_alive() or mode == "host" or mode.startswith(_SHARED):
            return ""
        path = self._sandbox_path(container)
        if path.exists():
            return str(path)
        return f"/proc/{container.pid}/ns/net" if container.pid else ""

    def attach(self, container: Container) -> Path | None:
        """Before init runs (worker thread): the container's namespace, wired to each of its networks.
        None when the runtime should make the namespace itself (``none``, ``NetworkDisabled``) or use
        the host's."""
        if primary_network(container).startswith(_SHARED):
            return self._shared_namespace(container)
        if container.config.get("NetworkDisabled") and primary_network(container) != "host":
            return None
        primary = self.get(primary_network(container))
        if primary.driver != "bridge":
            return None
        link_env = self._legacy_link_env(container)  # its children must run: checked before any work
        path = self._sandbox_path(container)
        netns.delete(path)  # a leftover of a run that ended while the daemon was down
        netns.create(path)
        gateway, gateway6 = self._gateway_network(container), self._gateway_network(container, ipv6=True)
        try:
            for name in self.memberships(container):
                self._plug(
                    container, self.get(name), path, gateway=name == gateway, gateway6=name == gateway6
                )
        except BaseException:
            self.detach(container)
            raise
        if "bridge" in container.endpoints:
            container.endpoints["bridge"][legacy_links.ENV_KEY] = link_env
        self._write_resolv(container)
        self.refresh_hosts(container)
        return path

    def _legacy_link_env(self, container: Container) -> list[str]:
        """Docker's checks of a start with legacy links, and the variables they give the parent."""
        if "bridge" not in container.endpoints:
            return []  # disconnected from the default bridge: links are not set up (as in Docker)
        by_id = {c.container_id: c for c in self._containers()}
        env: list[str] = []
        for link_name, child_id in legacy_links.legacy_links(container).items():
            child = by_id.get(child_id)
            if child is None:
                continue  # removed since: the link went with it, as in Docker
            if "bridge" not in child.endpoints:
                raise InvalidArgument(
                    f"Cannot link to {child.name}, as it does not belong to the default network"
                )
            address = child.endpoints["bridge"].get("IPAddress")
            if not child.status.is_alive() or not address:
                raise Conflict(f"Cannot link to a non running container: {child.name} AS {link_name}")
            env += legacy_links.env_vars(
                link_name, str(address), list(child.config.get("Env") or []), child.config.get("ExposedPorts")
            )
        return env

    def _gateway_network(self, container: Container, *, without: str = "", ipv6: bool = False) -> str | None:
        """The network whose gateway is the container's default route: the highest ``GwPriority``
        among its non-internal bridge networks, then its main network, then by name. ``ipv6``: the
        default IPv6 route's, among its IPv6 networks (Docker 28 picks one per family)."""
        primary = primary_network(container)
        candidates = []
        for name in sorted(self.memberships(container)):
            network = self.get_or_none(name)
            if name == without or network is None or network.driver != "bridge" or network.internal:
                continue
            if ipv6 and not network.enable_ipv6:
                continue
            priority = int((container.endpoints.get(name) or {}).get("GwPriority") or 0)
            candidates.append(((priority, name == primary), name))
        return max(candidates, key=lambda c: c[0])[1] if candidates else None

    def _shared_namespace(self, container: Container) -> Path:
        """``--network container:X``: X's own namespace, while X runs; the joiner takes X's hostname and
        domain name, and shares its hostname, hosts and resolv.conf files (as Docker)."""
        target = self._container(primary_network(container).removeprefix(_SHARED))
        if not target.status.is_alive() or not target.pid:
            raise Conflict(f"cannot join network of a non running container: {target.container_id}")
        container.config["Hostname"] = target.config.get("Hostname", "")
        container.config["Domainname"] = target.config.get("Domainname", "")
        return Path(f"/proc/{target.pid}/ns/net")

    def _interface_name(self, container: Container, network: Network, endpoint: dict[str, Any]) -> str:
        wanted = (endpoint.get("DriverOpts") or {}).get(settings.IFNAME_OPT)
        in_use = {e.get("Ifname") for e in container.endpoints.values() if e is not endpoint}
        if wanted:
            if wanted in in_use:
                raise Conflict(f"interface name {wanted} is already in use in the container")
            return str(wanted)
        prefix = network.iface_prefix
        return next(f"{prefix}{n}" for n in range(len(in_use) + 1) if f"{prefix}{n}" not in in_use)

    def _plug(
        self, container: Container, network: Network, path: Path, *, gateway: bool, gateway6: bool = False
    ) -> None:
        """Wire ``container`` to ``network``: its addresses (IPv4, and IPv6 on an IPv6 network), kept
        in its endpoint, and the veth pair; ``gateway``/``gateway6``: this network's gateways are the
        container's default routes."""
        if network.subnet is None or network.gateway is None:
            raise Forbidden(_CONFIG_ONLY_ENDPOINT)
        subnet, network_gateway = network.subnet, network.gateway
        endpoint = container.endpoints.setdefault(network.name, {})
        inner_name = self._interface_name(container, network, endpoint)
        requested_ipam = endpoint.get("IPAMConfig") or {}
        with self._lock:
            bridge_index = self._bridge_index(network)
            taken = {
                IPv4Address(c.endpoints[network.name]["IPAddress"])
                for c in self._containers()
                if c is not container and c.endpoints.get(network.name, {}).get("IPAddress")
            }
            taken.add(network_gateway)
            taken |= {IPv4Address(a) for a in network.aux_addresses.values()}
            requested = requested_ipam.get("IPv4Address") or ""
            if requested:
                address = ipam.parse_address(requested)
                ipam.check_address(subnet, network_gateway, address, taken)
            else:
                address = ipam.free_address(subnet, taken, network.ip_range)
            address6 = self._address6(container, network, str(requested_ipam.get("IPv6Address") or ""))
            endpoint_id = secrets.token_hex(32)
            mac = str(endpoint.get("DesiredMacAddress") or "") or ipam.mac_for(address)
            endpoint.update(
                IPAddress=str(address), IPPrefixLen=subnet.prefixlen, Gateway=str(network_gateway),
                MacAddress=mac, EndpointID=endpoint_id, NetworkID=network.network_id,
                Ifname=inner_name,
            )  # fmt: skip
            if address6 is not None:
                endpoint.update(
                    GlobalIPv6Address=str(address6.ip), GlobalIPv6PrefixLen=address6.network.prefixlen,
                    IPv6Gateway=str(network.gateway6),
                )  # fmt: skip
        link_local = [IPv4Address(a) for a in (endpoint.get("IPAMConfig") or {}).get("LinkLocalIPs") or []]
        plug = functools.partial(
            links.plug,
            path,
            host_name=f"veth{endpoint_id[:7]}",
            inner_name=inner_name,
            address=IPv4Interface(f"{address}/{subnet.prefixlen}"),
            mac=mac,
            gateway=network_gateway if gateway else None,
            mtu=network.mtu,
            isolated=not network.icc,
            link_local=link_local,
            address6=address6,
            gateway6=network.gateway6 if gateway6 and address6 is not None else None,
        )
        try:
            plug(bridge_index=bridge_index)
        except links.StaleBridge:  # deleted behind our back: make it again, once
            with self._lock:
                self._bridges.pop(network.device, None)
                bridge_index = self._bridge_index(network)
            plug(bridge_index=bridge_index)

    def _address6(self, container: Container, network: Network, requested: str) -> IPv6Interface | None:
        """The container's IPv6 address on ``network`` (None: not an IPv6 network): ``requested``
        (``--ip6``) once checked, else the lowest free one of the IPRange or subnet. Call with the lock
        held; in use are the running containers' addresses, the gateway and the auxiliary ones."""
        if not network.enable_ipv6 or network.subnet6 is None or network.gateway6 is None:
            return None
        taken = {
            IPv6Address(c.endpoints[network.name]["GlobalIPv6Address"])
            for c in self._containers()
            if c is not container and c.endpoints.get(network.name, {}).get("GlobalIPv6Address")
        }
        taken.add(network.gateway6)
        taken |= {IPv6Address(a) for a in network.aux_addresses6.values()}
        if requested:
            address = IPv6Address(requested)  # checked at create or connect (settings.endpoint_config)
            ipam.check_address(network.subnet6, network.gateway6, address, taken)
        else:
            address = ipam.free_address(network.subnet6, taken, network.ip_range6)
        return IPv6Interface(f"{address}/{network.subnet6.prefixlen}")

    def _bridge_index(self, network: Network) -> int:
        """The network's bridge, made and addressed on first use in this daemon's life (cached: a
        start then costs no netlink round trip for it). Call with the lock held."""
        if network.subnet is None or network.gateway is None:
            raise Forbidden(_CONFIG_ONLY_ENDPOINT)
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
        gateway6 = None
        if network.enable_ipv6 and network.subnet6 is not None and network.gateway6 is not None:
            gateway6 = IPv6Interface(f"{network.gateway6}/{network.subnet6.prefixlen}")
        index = links.ensure_bridge(
            network.device,
            IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}"),
            network.mtu,
            gateway6,
        )
        sysctl.bridge_localnet(network.device)  # 127.0.0.1 ports DNAT out through it
        self._bridges[network.device] = index
        return index

    def attached(self, container: Container) -> bool:
        """Whether ``container`` holds a namespace or addresses of ours (False: host, none,
        container:…, or never started)."""
        plugged = any(e.get("IPAddress") for e in container.endpoints.values())
        return plugged or self._sandbox_path(container).exists()

    def detach(self, container: Container) -> None:
        """After the container is gone (worker thread): its namespace and addresses are released."""
        if not self.attached(container):
            return
        netns.delete(self._sandbox_path(container))
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
        if network.config_only:
            raise Forbidden(_CONFIG_ONLY_ENDPOINT)
        primary = self.get(primary_network(container))
        if (
            network.driver != "bridge"
            or primary.driver != "bridge"
            or container.config.get("NetworkDisabled")
        ):
            raise Forbidden(
                f"container cannot be connected to network {network.name} while on {primary.name}"
            )
        if network.name in self.memberships(container):
            name = container.name.removeprefix("/")
            raise Forbidden(f"endpoint with name {name} already exists in network {network.name}")
        endpoint = settings.endpoint_config(network.name, config, user_defined=network.user_defined)
        network.check_static_address(endpoint)
        container.endpoints[network.name] = endpoint
        if container.status.is_alive():
            path = self._sandbox_path(container)
            before = self._gateway_network(container, without=network.name)
            before6 = self._gateway_network(container, without=network.name, ipv6=True)
            try:
                self._plug(container, network, path, gateway=False)
                after, after6 = self._gateway_network(container), self._gateway_network(container, ipv6=True)
                if after == network.name != before or after6 == network.name != before6:
                    self._set_default_routes(path, after, after6)
            except BaseException:
                container.endpoints.pop(network.name, None)
                raise
            self.refresh_hosts(container)
            crash_point("network.connect-before-record")

    def unplug_unrecorded(self, container: Container) -> None:
        """Remove the running ``container``'s links its record does not name: a ``network connect`` a
        killed daemon made but did not record (not acknowledged, so undone; its address is free again)."""
        path = self._sandbox_path(container)
        if not container.status.is_alive() or not path.exists():
            return
        recorded = {endpoint.get("Ifname") for endpoint in container.endpoints.values()}
        for name in links.veth_names(path):
            if name not in recorded:
                log.warning("container %s: removing link %s, which no record names", container.short_id, name)
                links.unplug(path, name)

    def disconnect(self, ref: str, container: Container) -> None:
        """``network disconnect``: the container's link on ``ref`` goes; a running container keeps the
        rest (and its default route moves to the next gateway network, if it was this one's)."""
        network = self.get(ref)
        if network.name not in container.endpoints:
            raise Forbidden(f"container {container.short_id} is not connected to network {network.name}")
        ifname = container.endpoints[network.name].get("Ifname")
        was_gateway = network.name in {
            self._gateway_network(container),
            self._gateway_network(container, ipv6=True),
        }
        if container.status.is_alive() and ifname:
            links.unplug(self._sandbox_path(container), ifname)
        del container.endpoints[network.name]  # NetworkMode stays, as in Docker: connect may follow
        if container.status.is_alive() and ifname and was_gateway:
            successor, successor6 = (
                self._gateway_network(container),
                self._gateway_network(container, ipv6=True),
            )
            if successor is not None:
                self._set_default_routes(self._sandbox_path(container), successor, successor6)
        self.refresh_hosts(container)

    def _set_default_routes(self, path: Path, name: str | None, name6: str | None) -> None:
        """The running container's default routes: via the gateways of ``name`` and (IPv6) ``name6``."""
        network, network6 = self.get_or_none(name or ""), self.get_or_none(name6 or "")
        links.set_default_route(
            path, network.gateway if network else None, network6.gateway6 if network6 else None
        )

    # ---------------------------------------------------------------- /etc/hosts

    def refresh_hosts(self, container: Container, *, leaving: bool = False) -> None:
        """Rewrite the hosts files of ``container`` and of the containers with a legacy link to it.
        Names on user-defined networks are the embedded DNS's (``names.py``), not lines here: Docker
        keeps only localhost, the container's own name, ``--add-host`` and legacy links in the file."""
        affected = [container] if not leaving else []
        affected += [
            c for c in self._containers()
            if c is not container and c.status.is_alive()
            and container.container_id in legacy_links.legacy_links(c).values()
        ]  # fmt: skip
        for target in affected:
            self._write_hosts(target)

    def get_or_none(self, name: str) -> Network | None:
        return self._networks.get(name)

    def _write_hosts(self, container: Container) -> None:
        lines = [BASE_HOSTS]
        own = [e for e in container.endpoints.values() if e.get("IPAddress")]
        if own:  # and its IPv6 address on that network, as Docker writes both
            hostname = container.config.get("Hostname") or container.short_id
            lines.append(f"{own[0]['IPAddress']}\t{hostname}\n")
            if own[0].get("GlobalIPv6Address"):
                lines.append(f"{own[0]['GlobalIPv6Address']}\t{hostname}\n")
        peers = list(self._containers())
        if "bridge" in container.endpoints:  # legacy links: the child by alias, hostname and name
            by_id = {c.container_id: c for c in peers}
            for link_name, child_id in legacy_links.legacy_links(container).items():
                child = by_id.get(child_id)
                address = ((child.endpoints.get("bridge") or {}).get("IPAddress")) if child else None
                if child is not None and address:
                    lines.append(f"{address}\t{legacy_links.hosts_names(link_name, child)}\n")
        lines.append(extra_hosts(container))
        path = container.directory / "hosts"
        text = "".join(lines)
        with contextlib.suppress(FileNotFoundError), open(path, "r+") as f:  # in place: it is bind-mounted
            f.write(text)
            f.truncate()

    # ---------------------------------------------------------------- NAT, forwarding, the kernel's ports

    def start_host_networking(self) -> None:
        """At daemon start, before restore: Berth's nftables table, made again from what is running (in
        one transaction: the ports of containers that lived on keep answering), and ip_forward."""
        firewall = self._firewall
        if firewall is None:
            return
        if not firewall.available():
            log.warning(
                "nftables is not available (install Debian's nftables and python3-nftables): no NAT for "
                "bridge networks, published ports are relayed by berthd"
            )
            self._firewall = None
            return
        self._guard = firewall.guarded()  # kept from the daemon that turned forwarding on
        if self._ip_forward and sysctl.enable_forwarding():
            self._guard.add("ipv4")
            log.info("turned on net.ipv4.ip_forward for bridge networks (--ip-forward=false to leave it)")
        for container in self._containers():
            if container.status.is_alive():
                self._ports.adopt(
                    container, self._primary_address(container), self._primary_address(container, 6)
                )
        try:
            self.sync_firewall()
        except NftablesError as exc:
            log.error("cannot make nftables table %s (%s): no NAT, ports relayed", firewall.name, exc)
            self._firewall = None
            return
        self._ports.use_kernel(self)

    def sync_firewall(self) -> None:
        """Make the whole table again from the networks and the ports held (one transaction)."""
        if self._firewall is None:
            return
        has_ipv6 = any(n.subnet6 is not None for n in self._networks.values())
        if self._ip_forward and has_ipv6 and sysctl.enable_forwarding(sysctl.IPV6_FORWARD):
            self._guard.add("ipv6")  # only once an IPv6 network exists, as Docker
        self._firewall.sync(self._firewall_bridges(), self._ports.all_rules(), guard=self._guard)

    def _firewall_bridges(self) -> list[Bridge]:
        out = []
        for network in self._networks.values():
            if network.driver != "bridge" or not network.device or network.subnet is None:
                continue
            masquerade = self._ip_masq and requests.go_bool(
                requests.ENABLE_MASQUERADE, network.options.get(requests.ENABLE_MASQUERADE, "true")
            )
            subnets: tuple[IPv4Network | IPv6Network, ...] = (network.subnet,)
            if network.subnet6 is not None:
                subnets += (network.subnet6,)
            out.append(Bridge(network.device, subnets, network.internal, masquerade))
        return out

    def replace_ports(self, old: list[PortRule], new: list[PortRule]) -> None:
        """PublishedPorts' kernel side: one container's rules swapped; on any failure (the table was
        deleted, an element is missing) the whole table is made again, with ``new`` in it."""
        assert self._firewall is not None
        try:
            self._firewall.replace_ports(old, new)
        except NftablesError as exc:
            log.warning("nftables table %s out of step (%s): making it again", self._firewall.name, exc)
            dropped = set(old)
            rules = [r for r in self._ports.all_rules() if r not in dropped] + new
            self._firewall.sync(self._firewall_bridges(), rules, guard=self._guard)

    def check_firewall(self) -> None:
        """The table must exist while berthd runs: deleted by hand (``nft flush ruleset``), it is made
        again (called every few seconds by the daemon)."""
        if self._firewall is not None and not self._firewall.exists():
            log.warning("nftables table %s was deleted: making it again", self._firewall.name)
            self.sync_firewall()

    # ---------------------------------------------------------------- embedded DNS

    def _serves_names(self, name: str) -> bool:
        network = self._networks.get(name)
        return network is not None and network.user_defined and network.driver == "bridge"

    def _embedded_dns(self, container: Container) -> IPv4Address | None:
        """The resolver the container's resolv.conf names: its main network's gateway, where berthd
        answers (user-defined networks always, as Docker's 127.0.0.11; the default bridge unless
        ``--dns`` is given, as a forwarder only); None: the host's resolv.conf, as Docker."""
        network = self._networks.get(primary_network(container))
        if network is None or network.driver != "bridge" or network.gateway is None:
            return None
        if network.name in self._dns_failed or (network.predefined and container.host_config.get("Dns")):
            return None
        return network.gateway

    def _write_resolv(self, container: Container) -> None:
        """resolv.conf for a container about to start (rewritten in place: it is bind-mounted)."""
        try:
            host_text = HOST_RESOLV.read_text()
        except OSError:
            host_text = ""
        host = container.host_config
        gateway = self._embedded_dns(container)
        if gateway is not None:
            options = list(host.get("DnsOptions") or [])
            if not any(str(o).startswith("ndots:") for o in options):
                options.append("ndots:0")  # as Docker's: a bare name goes to the resolver first
            host = {**host, "Dns": [str(gateway)], "DnsOptions": options}
        path = container.directory / "resolv.conf"
        with contextlib.suppress(FileNotFoundError), open(path, "r+") as f:
            f.write(resolv_conf(host_text, host))
            f.truncate()

    async def _serve_dns(self, container: Container) -> None:
        """The resolver on the gateway of each of the container's bridge networks, opened on first use."""
        self._loop = asyncio.get_running_loop()
        if self._dns is None:
            from berth.network.dns import EmbeddedDNS  # dnspython: only once a network is used

            self._dns = EmbeddedDNS(self._names)
        for name in self.memberships(container):
            network = self._networks.get(name)
            if network is None or network.driver != "bridge" or network.gateway is None:
                continue
            if self._dns.listening(name) or name in self._dns_failed:
                continue
            try:
                await self._dns.open(name, str(network.gateway))
            except OSError as exc:
                log.warning("network %s: cannot serve DNS on %s:53 (%s): containers use the host's "
                            "resolvers", name, network.gateway, exc)  # fmt: skip
                self._dns_failed.add(name)
                await asyncio.to_thread(self._write_resolv, container)

    @staticmethod
    def prewarm() -> None:
        """Import the DNS server (dnspython: ~100 ms) ahead of the first container start."""
        import berth.network.dns  # noqa: F401

    async def close_dns(self) -> None:
        if self._dns is not None:
            await self._dns.close_all()

    # ---------------------------------------------------------------- published ports

    async def publish(self, container: Container) -> None:
        """Open the host ports of a started container (on the loop), towards its primary address; a
        binding without HostIp listens on its network's ``host_binding_ipv4`` (default: all)."""
        network = self.get_or_none(primary_network(container))
        default_ip = network.host_binding_ipv4 if network is not None else ""
        await self._serve_dns(container)
        await self._ports.publish(
            container, self._primary_address(container), default_ip, self._primary_address(container, 6)
        )

    async def unpublish(self, container: Container) -> None:
        await self._ports.unpublish(container)

    def _primary_address(self, container: Container, family: int = 4) -> str | None:
        key = "GlobalIPv6Address" if family == 6 else "IPAddress"
        for name in self.memberships(container):
            address = (container.endpoints.get(name) or {}).get(key)
            if address:
                return str(address)
        return None


def _check_free(
    subnet: IPv4Network | IPv6Network,
    taken: Iterable[IPv4Network | IPv6Network],
    routes: Iterable[IPv4Network | IPv6Network],
) -> None:
    """A given subnet overlaps no other network's (Docker's words) and no route of the host's."""
    if any(t.overlaps(subnet) for t in taken):
        raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
    host = [r for r in routes if r.overlaps(subnet)]
    if host:
        raise Forbidden(f"subnet {subnet} overlaps a route of this host ({host[0]})")


def _derived_id(daemon_id: str, name: str) -> str:
    return hashlib.sha256(f"{daemon_id}\0network\0{name}".encode()).hexdigest()
