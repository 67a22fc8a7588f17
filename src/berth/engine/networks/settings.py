"""A new container's network settings, checked as dockerd checks them at create (pure functions).

``check_container``: the conflicts between ``HostConfig.NetworkMode`` and the other network fields
(moby's ``validateNetContainerMode``), and ``PortBindings`` (moby's ``validatePortBindings``).
``endpoint_config``: one ``EndpointSettings`` of ``NetworkingConfig.EndpointsConfig`` (or of a
``network connect``), normalised to what an endpoint keeps in the container's record.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from berth.engine.containers.container import Container
from berth.engine.containers.create import is_word
from berth.errors import InvalidArgument

SHARED = "container:"
# Interface names inside the container: ``DriverOpts`` may name one, as Docker 28's bridge driver.
IFNAME_OPT = "com.docker.network.endpoint.ifname"
_PROTOCOLS = ("tcp", "udp", "sctp")


def _conflict(what: str) -> InvalidArgument:
    return InvalidArgument(f"conflicting options: {what}")


def check_container(config: dict[str, Any], host: dict[str, Any], networking: Any) -> None:
    """Docker's refusals for a container's network fields, before anything is made."""
    mode = str(host.get("NetworkMode") or "default")
    shared = mode.startswith(SHARED)
    if shared and not mode.removeprefix(SHARED):
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    if shared:
        if config.get("Hostname"):
            raise _conflict("hostname and the network mode")
        if host.get("Links"):
            raise _conflict(
                "container type network can't be used with links. This would result in undefined behavior"
            )
        if host.get("Dns") or host.get("DnsSearch") or host.get("DnsOptions"):
            raise _conflict("dns and the network mode")
        if host.get("ExtraHosts"):
            raise _conflict("custom host-to-IP mapping and the network mode")
    if mode in {"host", "none"} or shared:
        macs = [config.get("MacAddress")] + [
            (c or {}).get("MacAddress") for c in _endpoints_config(networking).values() if isinstance(c, dict)
        ]
        if any(macs):
            raise _conflict("mac-address and the network mode")
    if shared and (host.get("PortBindings") or host.get("PublishAllPorts")):
        raise _conflict("port publishing and the container type network mode")
    if shared and config.get("ExposedPorts"):
        raise _conflict("port exposing and the container type network mode")
    if mode == "host" and host.get("Links"):
        raise _conflict(
            "host type networking can't be used with links. This would result in undefined behavior"
        )
    check_port_bindings(host.get("PortBindings"))


def _endpoints_config(networking: Any) -> dict[str, Any]:
    configs = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    return configs if isinstance(configs, dict) else {}


def _quoted(text: str) -> str:
    return json.dumps(text)  # Go's %q, for the strings that can reach it


def _port_number(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value < 65536 else None


def check_port_bindings(bindings: Any) -> None:
    """``PortBindings``: keys ``PORT[/PROTO]``, HostPort a port or a range, HostIp an address."""
    if not bindings:
        return
    if not isinstance(bindings, dict):
        raise InvalidArgument("invalid port bindings: an object of PORT/PROTO keys")
    for key, binds in bindings.items():
        port, _, proto = str(key).partition("/")
        if _port_number(port) is None:
            raise InvalidArgument(f"invalid port specification: {_quoted(port)}")
        if (proto or "tcp") not in _PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        for bind in binds or []:
            if not isinstance(bind, dict):
                raise InvalidArgument(f"invalid port binding for {key}: an object with HostIp and HostPort")
            host_port = str(bind.get("HostPort") or "")
            if host_port and not _port_range(host_port):
                raise InvalidArgument(f"invalid port specification: {_quoted(host_port)}")
            host_ip = str(bind.get("HostIp") or "")
            if host_ip:
                try:
                    ipaddress.ip_address(host_ip.strip("[]"))
                except ValueError:
                    raise InvalidArgument(f"invalid host IP address: {host_ip}") from None


def _port_range(text: str) -> bool:
    start, sep, end = text.partition("-")
    first, last = _port_number(start), _port_number(end) if sep else _port_number(start)
    if text == "0":
        return True
    return first is not None and last is not None and first <= last


def parse_link(value: Any) -> tuple[str, str]:
    """``NAME[:ALIAS]`` (or ``/NAME:/PARENT/ALIAS``, as inspect shows it) → (name, alias): moby's ParseLink."""
    text = str(value or "")
    if not text:
        raise InvalidArgument("empty string specified for links")
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"bad format for links: {text}")
    if len(parts) == 1:
        return text, text
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    if not name or not alias:
        raise InvalidArgument(f"bad format for links: {text}")
    return name, alias


def endpoint_config(network: str, raw: Any, *, user_defined: bool) -> dict[str, Any]:
    """One ``EndpointSettings`` as given: checked, and kept as the endpoint's configured part."""
    config = raw if isinstance(raw, dict) else {}
    errors: list[str] = []
    aliases = [str(a) for a in config.get("Aliases") or []]
    for alias in aliases:
        if not is_word(alias):
            errors.append(f"invalid network alias {alias!r}: a single word without spaces")
    raw_ipam = config.get("IPAMConfig")
    ipam: dict[str, Any] = raw_ipam if isinstance(raw_ipam, dict) else {}
    ipam_out: dict[str, Any] = {}
    v4 = str(ipam.get("IPv4Address") or "")
    if v4:
        try:
            address = ipaddress.IPv4Address(v4)
            if address.is_unspecified:
                raise ValueError(v4)
            ipam_out["IPv4Address"] = str(address)
        except ValueError:
            errors.append(f"invalid IPv4 address: {v4}")
    v6 = str(ipam.get("IPv6Address") or "")
    if v6:
        try:  # Go's net.ParseIP: no zone, and not an IPv4 address (nor an IPv4-mapped one)
            address6 = ipaddress.IPv6Address(v6)
            if address6.is_unspecified or address6.ipv4_mapped is not None or address6.scope_id:
                raise ValueError(v6)
            ipam_out["IPv6Address"] = str(address6)
        except ValueError:
            errors.append(f"invalid IPv6 address: {v6}")
    link_local = []
    for text in ipam.get("LinkLocalIPs") or []:
        try:
            ip = ipaddress.ip_address(str(text))
        except ValueError:
            errors.append(f"invalid link-local IP address: {text}")
            continue
        if ip.version != 4 or not ip.is_link_local:
            errors.append(f"link-local IP address {text}: only IPv4 link-local addresses (169.254.0.0/16)")
            continue
        link_local.append(str(ip))
    if link_local:
        ipam_out["LinkLocalIPs"] = link_local
    if not user_defined and (v4 or v6):
        errors.append("user specified IP address is supported on user defined networks only")
    if not user_defined and aliases:
        errors.append("network-scoped alias is supported only for containers in user defined networks")
    mac = str(config.get("MacAddress") or "")
    if mac and not _is_mac(mac):
        raise InvalidArgument(f"invalid config for network {network}: invalid MAC address {mac}")
    if mac and int(mac[:2], 16) & 1:
        errors.append(f"MAC address {mac} is a multicast address: an interface cannot have it")
    links = [str(link) for link in config.get("Links") or []]
    for link in links:
        parse_link(link)
    if links and not user_defined:
        errors.append("links on the default bridge are legacy links: give them as HostConfig.Links (--link)")
    driver_opts = {str(k): str(v) for k, v in (config.get("DriverOpts") or {}).items()}
    for key, value in driver_opts.items():
        if key != IFNAME_OPT:
            errors.append(
                f"driver option {key} is not supported by Berth's bridge driver (only {IFNAME_OPT})"
            )
        elif not is_ifname(value):
            errors.append(f"invalid interface name {value!r}: 1 to 15 characters, no '/' or spaces")
    priority = config.get("GwPriority") or 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        errors.append(f"invalid GwPriority {priority!r}: an integer")
        priority = 0
    if errors:
        detail = "\n".join(errors)
        raise InvalidArgument(f"invalid config for network {network}: invalid endpoint settings:\n{detail}")
    return {
        "Aliases": aliases or None,
        "IPAMConfig": ipam_out or None,
        "Links": links or None,
        "DesiredMacAddress": mac.lower(),
        "DriverOpts": driver_opts or None,
        "GwPriority": priority,
    }


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
    )


def is_ifname(text: str) -> bool:
    """A Linux interface name: 1 to 15 characters, none of them '/', ':' or a space."""
    return (
        0 < len(text) <= 15
        and text not in {".", ".."}
        and is_word(text)
        and "/" not in text
        and ":" not in text
    )


def network_files_dir(container: Container) -> Path:
    """Where the container's hostname, hosts and resolv.conf are: its own directory, or with
    ``--network container:X`` X's (Docker shares them; NetworkMode names X by id after create)."""
    mode = str(container.host_config.get("NetworkMode") or "")
    if mode.startswith(SHARED) and mode.removeprefix(SHARED):
        return container.directory.parent / mode.removeprefix(SHARED)
    return container.directory
