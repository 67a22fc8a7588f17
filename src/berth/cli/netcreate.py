"""``network create`` and ``network connect`` with every flag of docker 28.2.2, the request bodies it
sends and its client-side checks (subnets, gateways, ranges and aux addresses must fit together)."""

from __future__ import annotations

import sys

from berth.cli import goparse
from berth.cli.command import CLIError, Context, new_parser
from berth.cli.runflags import Flag, check, register
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _strings(values: list[str]) -> list[str]:
    """pflag's ``strings`` type: each value is itself a comma-separated (CSV) list."""
    from berth.cli.mountspec import csv_fields

    out: list[str] = []
    for value in values:
        out += csv_fields(value) if value else []
    return out


def _kv(items: list[str]) -> dict[str, str]:
    return dict(sorted((k, v) for k, _, v in (i.partition("=") for i in items)))


def _contains(subnet: str, data: str) -> bool:
    import ipaddress

    try:
        network = ipaddress.ip_network(subnet, strict=False)
    except ValueError as exc:
        raise CLIError(f"invalid subnet: invalid CIDR address: {subnet}", prefix="") from exc
    try:
        address = ipaddress.ip_interface(data).ip if "/" in data else ipaddress.ip_address(data)
    except ValueError:
        return False
    return address.version == network.version and address in network


def ipam_config(
    subnets: list[str], ranges: list[str], gateways: list[str], aux: dict[str, str]
) -> list[dict[str, Any]]:
    """docker's ``createIPAMConfig``: one entry per subnet, with its range, gateway and aux addresses."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise CLIError("every ip-range or gateway must have a corresponding subnet", prefix="")
    data: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        if len(subnets) > 1 and any(_contains(subnet, other) or _contains(other, subnet) for other in data):
            raise CLIError("multiple overlapping subnet configuration is not supported", prefix="")
        data[subnet] = {"Subnet": subnet}
    for what, values, key in (("range", ranges, "IPRange"), ("gateway", gateways, "Gateway")):
        for value in values:
            matched = False
            for subnet in subnets:
                if not _contains(subnet, value):
                    continue
                if data[subnet].get(key):
                    plural = "ranges" if what == "range" else "gateways"
                    on = "on the same subnet" if what == "range" else "for the same subnet"
                    raise CLIError(
                        f"cannot configure multiple {plural} ({value}, {data[subnet][key]}) {on} ({subnet})",
                        prefix="",
                    )
                data[subnet][key] = value
                matched = True
            if not matched:
                raise CLIError(f"no matching subnet for {what} {value}", prefix="")
    for name, address in aux.items():
        matched = False
        for subnet in subnets:
            if _contains(subnet, address):
                data[subnet].setdefault("AuxiliaryAddresses", {})[name] = address
                matched = True
        if not matched:
            raise CLIError(f"no matching subnet for aux-address {address}", prefix="")
    order = ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses")
    return [{k: entry[k] for k in order if k in entry} for entry in data.values()]


def create(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK",
        "Create a network",
        [
            "berth network create mynet",
            "berth network create --subnet 10.10.0.0/24 --gateway 10.10.0.1 mynet",
            "berth network create --internal -o com.docker.network.bridge.name=br-iso iso",
        ],
    )
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument(
        "--aux-address",
        action="append",
        default=[],
        metavar="map",
        help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
    )
    p.add_argument(
        "--config-from", default="", metavar="string", help="The network from which to copy the configuration"
    )
    p.add_argument("--config-only", action="store_true", help="Create a configuration only network")
    p.add_argument(
        "-d",
        "--driver",
        default="bridge",
        metavar="string",
        help='Driver to manage the Network (default "bridge")',
    )
    p.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="strings",
        help="IPv4 or IPv6 Gateway for the master subnet",
    )
    p.add_argument("--ingress", action="store_true", help="Create swarm routing-mesh network")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument(
        "--ip-range",
        action="append",
        default=[],
        metavar="strings",
        help="Allocate container ip from a sub-range",
    )
    p.add_argument(
        "--ipam-driver",
        default="default",
        metavar="string",
        help='IP Address Management Driver (default "default")',
    )
    p.add_argument(
        "--ipam-opt", action="append", default=[], metavar="map", help="Set IPAM driver specific options"
    )
    p.add_argument("--label", action="append", default=[], metavar="list", help="Set metadata on a network")
    p.add_argument(
        "-o", "--opt", action="append", default=[], metavar="map", help="Set driver specific options"
    )
    p.add_argument("--scope", default="", metavar="string", help="Control the network's scope")
    p.add_argument(
        "--subnet",
        action="append",
        default=[],
        metavar="strings",
        help="Subnet in CIDR format that represents a network segment",
    )
    p.add_argument("name", metavar="NETWORK")
    bools = (
        Flag(("--ipv4",), "bool", help="Enable or disable IPv4 address assignment (default true)"),
        Flag(("--ipv6",), "bool", help="Enable or disable IPv6 address assignment"),
    )
    register(p, bools)
    head, tri_state = _tri_state(argv, bools)
    ns = p.parse_args(head)
    config = ipam_config(
        _strings(ns.subnet), _strings(ns.ip_range), _strings(ns.gateway), _kv(ns.aux_address)
    )
    body: dict[str, Any] = {"Driver": ns.driver, "Scope": ns.scope}
    if "ipv4" in tri_state or ns.ipv4:
        body["EnableIPv4"] = tri_state.get("ipv4", True)
    if "ipv6" in tri_state or ns.ipv6:
        body["EnableIPv6"] = tri_state.get("ipv6", True)
    body |= {
        "IPAM": {"Driver": ns.ipam_driver, "Options": _kv(ns.ipam_opt), "Config": config},
        "Internal": ns.internal,
        "Attachable": ns.attachable,
        "Ingress": ns.ingress,
        "ConfigOnly": ns.config_only,
        "ConfigFrom": {"Network": ns.config_from} if ns.config_from else None,
        "Options": _kv(ns.opt),
        "Labels": _kv(ns.label),
        "Name": ns.name,
    }
    result = ctx.client.post_json("/networks/create", None, body) or {}
    if result.get("Warning"):
        sys.stderr.write(f"WARNING: {result['Warning']}\n")
    sys.stdout.write(f"{result.get('Id', '')}\n")
    return 0


def _tri_state(argv: list[str], bools: tuple[Flag, ...]) -> tuple[list[str], dict[str, bool]]:
    """``--ipv4=false``: the explicit values of these bool flags, taken out of argv."""
    from berth.cli.command import UsageError
    from berth.cli.runflags import goquote

    names = {f.names[0]: f for f in bools}
    kept: list[str] = []
    explicit: dict[str, bool] = {}
    for arg in argv:
        name, eq, value = arg.partition("=")
        if name in names and eq:
            try:
                explicit[names[name].dest] = goparse.parse_bool(value)
            except ValueError as exc:
                raise UsageError(f'invalid argument {goquote(value)} for "{name}" flag: {exc}') from None
            continue
        kept.append(arg)
    return kept, explicit


def _link(value: str) -> str:
    from berth.cli.runvalues import link

    return link(value)


CONNECT_FLAGS = (
    Flag(("--alias",), "list", metavar="strings", help="Add network-scoped alias for the container"),
    Flag(("--driver-opt",), "list", metavar="strings", help="driver options for the network"),
    Flag(
        ("--gw-priority",),
        "value",
        metavar="int",
        default=0,
        check=goparse.parse_int,
        help="Highest gw-priority provides the default gateway. Accepts positive and negative values.",
    ),
    Flag(("--ip",), "value", metavar="string", default="", help='IPv4 address (e.g., "172.30.100.104")'),
    Flag(("--ip6",), "value", metavar="string", default="", help='IPv6 address (e.g., "2001:db8::33")'),
    Flag(("--link",), "list", metavar="list", check=_link, help="Add link to another container"),
    Flag(("--link-local-ip",), "list", metavar="strings", help="Add a link-local address for the container"),
)


def connect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK CONTAINER",
        "Connect a container to a network",
        ["berth network connect mynet web", "berth network connect --ip 10.10.0.5 --alias db mynet web"],
    )
    register(p, CONNECT_FLAGS)
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    ns = p.parse_args(argv)
    check(vars(ns), CONNECT_FLAGS, p.usage or "")
    from berth.cli.endpoints import driver_opt

    try:
        driver_opts = dict(driver_opt(o) for o in _strings(ns.driver_opt))
    except ValueError as exc:  # docker's wording differs here from run's --network driver-opt=…
        raise CLIError("invalid key/value pair format in driver options", prefix="") from exc
    ipam: dict[str, Any] = {}
    if ns.ip:
        ipam["IPv4Address"] = ns.ip
    if ns.ip6:
        ipam["IPv6Address"] = ns.ip6
    if ns.link_local_ip:
        ipam["LinkLocalIPs"] = _strings(ns.link_local_ip)
    from berth.cli.endpoints import endpoint_settings

    endpoint = endpoint_settings(
        {
            "IPv4Address": "",
            "IPv6Address": "",
            "LinkLocalIPs": [],
            "Links": ns.link,
            "Aliases": [],
            "MacAddress": "",
            "DriverOpts": driver_opts,
            "GwPriority": ns.gw_priority,
        }
    )
    endpoint["IPAMConfig"] = ipam
    endpoint["Aliases"] = _strings(ns.alias)
    ctx.client.post(
        f"/networks/{quote(ns.network)}/connect",
        json_body={"Container": ns.container, "EndpointConfig": endpoint},
    )
    return 0
