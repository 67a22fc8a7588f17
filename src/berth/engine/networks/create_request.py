"""``POST /networks/create``'s body (NetworkCreateRequest), checked field by field as dockerd does.

Every field either takes effect (``NetworkService.create``) or is refused here in Docker's words:
Berth has the bridge driver and the default IPAM driver, IPv4 and (with ``EnableIPv6``) dual-stack
IPv6 networks, no IPv6-only ones, no swarm.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from berth.engine.networks.settings import is_ifname
from berth.errors import Forbidden, InvalidArgument, NotFound

BRIDGE_NAME = "com.docker.network.bridge.name"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
ENABLE_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
MTU = "com.docker.network.driver.mtu"
IFACE_PREFIX = "com.docker.network.container_iface_prefix"
ENABLE_IPV4 = "com.docker.network.enable_ipv4"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
SUPPORTED_OPTIONS = (BRIDGE_NAME, ENABLE_ICC, ENABLE_MASQUERADE, HOST_BINDING_IPV4, MTU, IFACE_PREFIX,
                     ENABLE_IPV4, ENABLE_IPV6)  # fmt: skip

NO_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
    "node to swarm and try again."
)
_BUILTIN_ELSEWHERE = ("macvlan", "ipvlan", "overlay", "host", "null", "ipvlan")
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(slots=True)
class AddressConfig:
    """The IPv4 entry of ``IPAM.Config``, checked (the subnet may still be chosen by the service)."""

    subnet: ipaddress.IPv4Network | None = None
    ip_range: ipaddress.IPv4Network | None = None
    gateway: ipaddress.IPv4Address | None = None
    aux: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class AddressConfig6:
    """The IPv6 entry of ``IPAM.Config`` of a network with ``EnableIPv6``, checked (no subnet: the
    service takes a /64 of the daemon's unique local prefix)."""

    subnet: ipaddress.IPv6Network | None = None
    ip_range: ipaddress.IPv6Network | None = None
    gateway: ipaddress.IPv6Address | None = None
    aux: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:  # one entry as given, of either family
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    ip_range: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    aux: dict[str, str] = field(default_factory=dict)


def go_bool(key: str, value: str) -> bool:
    """strconv.ParseBool, with the bridge driver's error."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise InvalidArgument(
        f'failed to parse {key} value: {value} (strconv.ParseBool: parsing "{value}": invalid syntax)'
    )


def _enabled(body: dict[str, Any], field_name: str, option: str) -> bool | None:
    """``EnableIPv4``/``EnableIPv6``, else their driver option (as dockerd reads them); None: neither."""
    value = body.get(field_name)
    options = body.get("Options")
    if value is None and isinstance(options, dict) and option in options:
        return go_bool(option, str(options[option]))
    return None if value is None else bool(value)


def ipv6_enabled(body: dict[str, Any]) -> bool:
    """Whether the network asked for is dual-stack (``EnableIPv6``, or the enable_ipv6 option)."""
    return bool(_enabled(body, "EnableIPv6", ENABLE_IPV6))


def check_fields(body: dict[str, Any]) -> None:
    """The fields that are Berth's to refuse whatever the network (driver, scope, swarm, IPv6-only)."""
    driver = str(body.get("Driver") or "bridge")
    if driver == "overlay":
        raise Forbidden(NO_SWARM)
    if driver in {"host", "null"}:
        raise Forbidden(f'only one instance of "{driver}" network is allowed')
    if driver in _BUILTIN_ELSEWHERE:
        raise InvalidArgument(
            f'network driver "{driver}" is not supported by Berth: it has the bridge driver only'
        )
    if driver != "bridge":
        raise NotFound(f"could not find plugin {driver} in v1 plugin registry: plugin not found")
    scope = str(body.get("Scope") or "local")
    if scope in {"swarm", "global"}:
        raise Forbidden(NO_SWARM)
    if scope != "local":
        raise InvalidArgument(f"invalid scope {scope!r}: local, global or swarm")
    if body.get("Ingress"):
        raise Forbidden(NO_SWARM)
    options = body.get("Options") or {}
    if not isinstance(options, dict):
        raise InvalidArgument("Options must be an object of strings")
    enable_v6 = ipv6_enabled(body)
    if _enabled(body, "EnableIPv4", ENABLE_IPV4) is False:
        if not enable_v6:
            raise InvalidArgument("IPv4 or IPv6 must be enabled")
        raise InvalidArgument(
            "IPv6-only networks are not supported by Berth: create the network with IPv4 enabled "
            "(without --ipv4=false)"
        )
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgument("IPAM must be an object")
    ipam_driver = str(ipam.get("Driver") or "default")
    if ipam_driver != "default":
        raise NotFound(f"could not find plugin {ipam_driver} in v1 plugin registry: plugin not found")
    if ipam.get("Options"):
        raise InvalidArgument(
            "IPAM options are not supported by Berth's default IPAM driver: create without --ipam-opt"
        )
    if body.get("ConfigOnly"):
        for key in ("Ingress", "Internal", "Attachable"):
            if body.get(key):
                raise Forbidden(
                    "configuration network can only contain network specific fields. Network operator "
                    "fields like [ ingress | internal | attachable | scope ] are not supported."
                )
    if config_from(body):
        if body.get("ConfigOnly"):
            raise Forbidden("a configuration network cannot depend on another configuration network")
        if ipam.get("Config") or body.get("Labels") or enable_v6:
            raise Forbidden(
                "user specified configurations are not supported if the network depends on a configuration network"
            )
        if options:
            raise Forbidden(
                "network driver options are not supported if the network depends on a configuration network"
            )


def check_options(options: dict[str, Any], *, taken_devices: dict[str, str]) -> dict[str, str]:
    """The driver options (``-o``): the bridge driver's own are checked (and those of Docker's Berth
    does not have refused); ``taken_devices``: {bridge name: network id} of the other networks."""
    out = {str(k): str(v) for k, v in options.items()}
    for key, value in out.items():
        if key.startswith("com.docker.") and key not in SUPPORTED_OPTIONS:
            raise InvalidArgument(f"network option {key} is not supported by Berth's bridge driver")
        # other keys mean nothing to the bridge driver, in Docker too: kept and shown, as there
        if key in {ENABLE_ICC, ENABLE_MASQUERADE, ENABLE_IPV4, ENABLE_IPV6}:
            go_bool(key, value)
        elif key == MTU:
            try:
                mtu = int(value)
            except ValueError:
                raise InvalidArgument(
                    f'failed to parse {key} value: {value} (strconv.Atoi: parsing "{value}": invalid syntax)'
                ) from None
            if not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU number: {mtu}")
        elif key == HOST_BINDING_IPV4:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise InvalidArgument(f"failed to parse {key} value: {value} (not an IPv4 address)") from None
        elif key == BRIDGE_NAME:
            if not is_ifname(value):
                raise InvalidArgument(
                    f"invalid bridge name {value!r}: 1 to 15 characters, none of them '/', ':' or a space"
                )
            if value in taken_devices:
                raise Forbidden(
                    f"cannot create network: conflicts with network {taken_devices[value]} ({value}): "
                    "networks have same bridge name"
                )
        elif key == IFACE_PREFIX and (
            not is_ifname(value + "0") or not value.isascii() or not value.isalpha()
        ):
            raise InvalidArgument(f"invalid {key} {value!r}: letters only, at most 14")
    return out


def address_configs(
    ipam: dict[str, Any], *, enable_ipv6: bool = False
) -> tuple[AddressConfig, AddressConfig6 | None]:
    """``IPAM.Config``: moby's ValidateIPAM checks and messages; at most one entry per family (the
    bridge driver's rule). The IPv4 entry (empty when none is given), and the IPv6 one when
    ``enable_ipv6`` (empty when none is given; None without IPv6)."""
    v4: list[_Entry] = []
    v6: list[_Entry] = []
    errors: list[str] = []
    for raw in ipam.get("Config") or []:
        if not isinstance(raw, dict):
            raise InvalidArgument("invalid network config: each IPAM.Config entry is an object")
        entry = _Entry()
        text = str(raw.get("Subnet") or "")
        if not text:
            if raw.get("IPRange") or raw.get("Gateway") or raw.get("AuxiliaryAddresses"):
                errors.append("invalid subnet : invalid CIDR block notation")
            v4.append(entry)
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            errors.append(f"invalid subnet {text}: invalid CIDR block notation")
            continue
        if network.version == 6 and not enable_ipv6:
            # dockerd keeps such an entry unused (ValidateIPAM skips it): refused rather than ignored
            raise InvalidArgument(
                f"invalid network config: IPv6 subnet {text} on a network without IPv6: create the "
                "network with --ipv6 (EnableIPv6)"
            )
        if str(network) != text and ipaddress.ip_interface(text).ip != network.network_address:
            errors.append(f"invalid subnet {text}: it should be {network}")
        entry.subnet = network
        if raw.get("IPRange"):
            entry.ip_range = _ip_range(str(raw["IPRange"]), network, errors)
        if raw.get("Gateway"):
            gateway = _address(str(raw["Gateway"]), network)
            if isinstance(gateway, str):
                errors.append(f"invalid gateway {raw['Gateway']}: {gateway}")
            else:
                entry.gateway = gateway
        for name, value in (raw.get("AuxiliaryAddresses") or {}).items():
            aux = _address(str(value), network)
            if isinstance(aux, str):
                errors.append(f"invalid auxiliary address {name}: {aux}")
            else:
                entry.aux[str(name)] = str(aux)
        (v6 if network.version == 6 else v4).append(entry)
    if errors:
        raise InvalidArgument("invalid network config:\n" + "\n".join(errors))
    if len(v4) > 1 or len(v6) > 1:
        raise Forbidden("bridge driver doesn't support multiple subnets")  # libnetwork's bridge driver
    first4 = v4[0] if v4 else _Entry()
    config4 = AddressConfig(
        subnet=ipaddress.IPv4Network(str(first4.subnet)) if first4.subnet else None,
        ip_range=ipaddress.IPv4Network(str(first4.ip_range)) if first4.ip_range else None,
        gateway=ipaddress.IPv4Address(str(first4.gateway)) if first4.gateway else None,
        aux=first4.aux,
    )
    if not enable_ipv6:
        return config4, None
    first6 = v6[0] if v6 else _Entry()
    return config4, AddressConfig6(
        subnet=ipaddress.IPv6Network(str(first6.subnet)) if first6.subnet else None,
        ip_range=ipaddress.IPv6Network(str(first6.ip_range)) if first6.ip_range else None,
        gateway=ipaddress.IPv6Address(str(first6.gateway)) if first6.gateway else None,
        aux=first6.aux,
    )


def _ip_range(
    text: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, errors: list[str]
) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        prefix = ipaddress.ip_network(text, strict=False)
    except ValueError:
        errors.append(f"invalid ip-range {text}: invalid CIDR block notation")
        return None
    if prefix.version != subnet.version:
        errors.append(f"invalid ip-range {text}: parent subnet is an IPv{subnet.version} block")
        return None
    found = []
    if prefix.prefixlen < subnet.prefixlen:
        found.append(f"invalid ip-range {text}: CIDR block is bigger than its parent subnet {subnet}")
    if ipaddress.ip_interface(text).ip != prefix.network_address:
        found.append(f"invalid ip-range {text}: it should be {prefix}")
    if not subnet.overlaps(prefix):
        found.append(f"invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range")
    errors += found
    return None if found else prefix


def _address(
    text: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "invalid address"
    if address.version != subnet.version:
        return f"parent subnet is an IPv{subnet.version} block"
    if address not in subnet:
        return f"it should belong to the parent subnet {subnet}"
    return address


def config_from(body: dict[str, Any]) -> str:
    """``ConfigFrom.Network``: the configuration-only network to take the configuration of, or ""."""
    raw = body.get("ConfigFrom")
    return str(raw.get("Network") or "") if isinstance(raw, dict) else ""
