"""``NetworkingConfig.EndpointsConfig`` from ``--network`` (plain or ``name=…,alias=…`` form),
``--network-alias``, ``--link``, ``--ip``, ``--ip6``, ``--link-local-ip`` and ``--mac-address``, as the
docker CLI 28 combines them: the legacy flags apply to the first network; without ``--network`` the
``default`` endpoint is always sent; a lone network with nothing to say gets no endpoint at all.
"""

from __future__ import annotations

from berth.cli.runopts import RunFlagError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _long_network_syntax(text: str) -> bool:
    """Go's ``\\w+=\\w+`` found anywhere in the value."""
    word = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    return any(
        ch == "=" and i > 0 and text[i - 1] in word and i + 1 < len(text) and text[i + 1] in word
        for i, ch in enumerate(text)
    )


def network_attachment(text: str) -> dict[str, Any]:
    """``--network NAME`` or ``--network name=N,alias=A,ip=…,ip6=…,mac-address=…,link-local-ip=…,
    driver-opt=K=V,gw-priority=N`` -> the attachment's options (keys and values lower-cased, as docker)."""
    opt: dict[str, Any] = {
        "Target": text,
        "Aliases": [],
        "IPv4Address": "",
        "IPv6Address": "",
        "MacAddress": "",
        "LinkLocalIPs": [],
        "DriverOpts": None,
        "GwPriority": 0,
        "Links": [],
    }
    if not _long_network_syntax(text):
        return opt
    from berth.cli.mountspec import csv_fields

    opt["Target"] = ""
    for field in csv_fields(text):
        key, eq, value = field.lower().partition("=")
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        key, value = key.strip(), value.strip()
        if key == "name":
            opt["Target"] = value
        elif key == "alias":
            opt["Aliases"].append(value)
        elif key == "ip":
            opt["IPv4Address"] = value
        elif key == "ip6":
            opt["IPv6Address"] = value
        elif key == "mac-address":
            opt["MacAddress"] = value
        elif key == "link-local-ip":
            opt["LinkLocalIPs"].append(value)
        elif key == "driver-opt":
            name, value = driver_opt(value)
            opt["DriverOpts"] = {**(opt["DriverOpts"] or {}), name: value}
        elif key == "gw-priority":
            from berth.cli.goparse import parse_int

            try:
                opt["GwPriority"] = parse_int(value)
            except ValueError:
                raise ValueError(f"invalid gw-priority ({value}): invalid syntax") from None
        else:
            raise ValueError(f"invalid field key {key}")
    if not opt["Target"]:
        raise ValueError("network name/id is not specified")
    return opt


def driver_opt(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--driver-opt`` (lower-cased and trimmed, as docker does)."""
    key, eq, value = text.lower().partition("=")
    if not eq or not key:
        raise ValueError("invalid key value pair format in driver options")
    return key.strip(), value.strip()


def user_defined(mode: str) -> bool:
    return mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")


def endpoint_settings(opt: dict[str, Any]) -> dict[str, Any]:
    """A full ``EndpointSettings`` (every field, in Go's order) for one attachment."""
    ipam = None
    if opt["IPv4Address"] or opt["IPv6Address"] or opt["LinkLocalIPs"]:
        ipam = {}
        if opt["IPv4Address"]:
            ipam["IPv4Address"] = opt["IPv4Address"]
        if opt["IPv6Address"]:
            ipam["IPv6Address"] = opt["IPv6Address"]
        if opt["LinkLocalIPs"]:
            ipam["LinkLocalIPs"] = list(opt["LinkLocalIPs"])
    return {
        "IPAMConfig": ipam,
        "Links": list(opt["Links"]) or None,
        "Aliases": list(opt["Aliases"]) or None,
        "MacAddress": opt["MacAddress"],
        "DriverOpts": opt["DriverOpts"],
        "GwPriority": opt["GwPriority"],
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def _apply_legacy_flags(opt: dict[str, Any], ns: Any) -> None:
    if opt["Aliases"] and ns.network_alias:
        raise RunFlagError("conflicting options: cannot specify both --network-alias and per-network alias")
    if opt["IPv4Address"] and ns.ip:
        raise RunFlagError("conflicting options: cannot specify both --ip and per-network IPv4 address")
    if opt["IPv6Address"] and ns.ip6:
        raise RunFlagError("conflicting options: cannot specify both --ip6 and per-network IPv6 address")
    if opt["MacAddress"] and ns.mac_address:
        raise RunFlagError(
            "conflicting options: cannot specify both --mac-address and per-network MAC address"
        )
    if ns.network_alias:
        opt["Aliases"] = list(ns.network_alias)
    if ns.link and user_defined(opt["Target"]):
        opt["Links"] = list(ns.link)
    opt["IPv4Address"] = ns.ip or opt["IPv4Address"]
    opt["IPv6Address"] = ns.ip6 or opt["IPv6Address"]
    opt["MacAddress"] = ns.mac_address or opt["MacAddress"]
    if ns.link_local_ip:
        opt["LinkLocalIPs"] = list(ns.link_local_ip)


def _is_empty(opt: dict[str, Any]) -> bool:
    return not any(opt[k] for k in opt if k != "Target")


def from_flags(ns: Any) -> dict[str, Any]:
    """The EndpointsConfig map (see the module docstring); RunFlagError for docker's conflicts."""
    given = [dict(opt) for opt in ns.network]
    implicit = not given
    if implicit:
        given = [network_attachment("default")]
    endpoints: dict[str, Any] = {}
    has_user, has_other = False, False
    for i, opt in enumerate(given):
        if user_defined(opt["Target"]):
            has_user = True
        else:
            has_other = True
        if i == 0:
            _apply_legacy_flags(opt, ns)
        if not opt["Target"].strip():
            raise RunFlagError("no name set for network")
        if not user_defined(opt["Target"]) and opt["Aliases"]:
            raise RunFlagError("network-scoped aliases are only supported for user-defined networks")
        if opt["Target"] in endpoints:
            raise RunFlagError(f'network "{opt["Target"]}" is specified multiple times')
        if i == 0 and len(given) == 1 and not implicit and _is_empty(opt):
            continue
        endpoints[opt["Target"]] = endpoint_settings(opt)
    if has_user and has_other:
        raise RunFlagError(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        )
    return endpoints


__all__ = ["driver_opt", "endpoint_settings", "from_flags", "network_attachment", "user_defined"]
