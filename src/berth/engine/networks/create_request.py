"""``POST /networks/create``'s body (NetworkCreateRequest), checked field by field as dockerd does.

Every field either takes effect (``NetworkService.create``) or is refused here in Docker's words:
Berth has the bridge driver and the default IPAM driver, IPv4 only, no swarm.
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
    """One entry of ``IPAM.Config``, checked (the subnet may still be chosen by the service)."""

    subnet: ipaddress.IPv4Network | None = None
    ip_range: ipaddress.IPv4Network | None = None
    gateway: ipaddress.IPv4Address | None = None
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


def check_fields(body: dict[str, Any]) -> None:
    """The fields that are Berth's to refuse whatever the network (driver, scope, swarm, IPv6)."""
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
    enable_v6 = body.get("EnableIPv6")
    if enable_v6 is None and ENABLE_IPV6 in options:
        enable_v6 = go_bool(ENABLE_IPV6, str(options[ENABLE_IPV6]))
    enable_v4 = body.get("EnableIPv4")
    if enable_v4 is None and ENABLE_IPV4 in options:
        enable_v4 = go_bool(ENABLE_IPV4, str(options[ENABLE_IPV4]))
    if enable_v6:
        raise InvalidArgument(
            "IPv6 networks are not supported by Berth yet: create the network without --ipv6"
        )
    if enable_v4 is False:
        raise InvalidArgument("IPv4 or IPv6 must be enabled (Berth has no IPv6 networks yet: keep IPv4)")
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


def address_configs(ipam: dict[str, Any]) -> list[AddressConfig]:
    """``IPAM.Config``: moby's ValidateIPAM checks and messages, IPv4 only."""
    out: list[AddressConfig] = []
    errors: list[str] = []
    for raw in ipam.get("Config") or []:
        if not isinstance(raw, dict):
            raise InvalidArgument("invalid network config: each IPAM.Config entry is an object")
        config = AddressConfig()
        text = str(raw.get("Subnet") or "")
        if not text:
            if raw.get("IPRange") or raw.get("Gateway") or raw.get("AuxiliaryAddresses"):
                errors.append("invalid subnet : invalid CIDR block notation")
            out.append(config)
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            errors.append(f"invalid subnet {text}: invalid CIDR block notation")
            continue
        if network.version == 6:
            raise InvalidArgument(f"invalid subnet {text}: Berth has no IPv6 networks yet")
        network = ipaddress.IPv4Network(text, strict=False)
        if str(network) != text and ipaddress.ip_interface(text).ip != network.network_address:
            errors.append(f"invalid subnet {text}: it should be {network}")
        config.subnet = network
        if raw.get("IPRange"):
            errors += _ip_range(str(raw["IPRange"]), network, config)
        if raw.get("Gateway"):
            gateway = _address(str(raw["Gateway"]), network)
            if isinstance(gateway, str):
                errors.append(f"invalid gateway {raw['Gateway']}: {gateway}")
            else:
                config.gateway = gateway
        for name, value in (raw.get("AuxiliaryAddresses") or {}).items():
            aux = _address(str(value), network)
            if isinstance(aux, str):
                errors.append(f"invalid auxiliary address {name}: {aux}")
            else:
                config.aux[str(name)] = str(aux)
        out.append(config)
    if errors:
        raise InvalidArgument("invalid network config:\n" + "\n".join(errors))
    if len(out) > 1:
        raise InvalidArgument("only one IPv4 subnet per network is supported by Berth")
    return out


def _ip_range(text: str, subnet: ipaddress.IPv4Network, config: AddressConfig) -> list[str]:
    try:
        prefix = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return [f"invalid ip-range {text}: invalid CIDR block notation"]
    if prefix.version != 4:
        return [f"invalid ip-range {text}: parent subnet is an IPv4 block"]
    prefix = ipaddress.IPv4Network(text, strict=False)
    errors = []
    if prefix.prefixlen < subnet.prefixlen:
        errors.append(f"invalid ip-range {text}: CIDR block is bigger than its parent subnet {subnet}")
    if ipaddress.ip_interface(text).ip != prefix.network_address:
        errors.append(f"invalid ip-range {text}: it should be {prefix}")
    if not subnet.overlaps(prefix):
        errors.append(f"invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range")
    if not errors:
        config.ip_range = prefix
    return errors


def _address(text: str, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address | str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "invalid address"
    if address.version != 4:
        return "parent subnet is an IPv4 block"
    address = ipaddress.IPv4Address(text)
    if address not in subnet:
        return f"it should belong to the parent subnet {subnet}"
    return address


def config_from(body: dict[str, Any]) -> str:
    """``ConfigFrom.Network``: the configuration-only network to take the configuration of, or ""."""
    raw = body.get("ConfigFrom")
    return str(raw.get("Network") or "") if isinstance(raw, dict) else ""
