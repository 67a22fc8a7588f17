"""``network ls|create|rm|inspect|connect|disconnect|prune``."""

from __future__ import annotations

import sys

from berth.cli.command import Context, for_each, new_parser
from berth.client.api import APIError
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def ls(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "List networks",
        ["berth network ls", "berth network ls -q"],
        aliases=["network ls", "network list"],
    )
    p.add_argument(
        "-f", "--filter", action="append", default=[], metavar="filter", help="Provide filter values"
    )
    p.add_format()
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli import format as fmt

    params = {"filters": filters.encode(filters.parse_cli(ns.filter))} if ns.filter else None
    nets = ctx.client.get_json("/networks", params) or []
    nets.sort(key=lambda n: n.get("Name", ""))
    rows = [
        {
            "ID": n.get("Id", "") if ns.no_trunc else n.get("Id", "")[:12],
            "Name": n.get("Name", ""),
            "Driver": n.get("Driver", ""),
            "Scope": n.get("Scope", ""),
            "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
            "Internal": str(bool(n.get("Internal"))).lower(),
            "CreatedAt": n.get("Created", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted((n.get("Labels") or {}).items())),
        }
        for n in nets
    ]
    fmt.render(
        "{{.ID}}" if ns.quiet else ns.format,
        rows,
        HEADERS,
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        type_name="formatter.networkContext",
    )
    return 0


def create(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK",
        "Create a network",
        ["berth network create mynet", "berth network create --subnet 10.10.0.0/24 mynet"],
    )
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
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
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument(
        "--ip-range",
        action="append",
        default=[],
        metavar="strings",
        help="Allocate container ip from a sub-range",
    )
    p.add_argument("--ipv6", action="store_true", help="Enable or disable IPv6 networking")
    p.add_argument("--label", action="append", default=[], metavar="list", help="Set metadata on a network")
    p.add_argument(
        "-o", "--opt", action="append", default=[], metavar="map", help="Set driver specific options"
    )
    p.add_argument("--subnet", action="append", default=[], metavar="strings", help="Subnet in CIDR format")
    p.add_argument("name")
    ns = p.parse_args(argv)
    config: list[dict[str, Any]] = []
    for i, subnet in enumerate(ns.subnet):
        entry: dict[str, Any] = {"Subnet": subnet}
        if i < len(ns.ip_range):
            entry["IPRange"] = ns.ip_range[i]
        if i < len(ns.gateway):
            entry["Gateway"] = ns.gateway[i]
        config.append(entry)
    body: dict[str, Any] = {
        "Name": ns.name,
        "Driver": ns.driver,
        "Scope": "",
        "EnableIPv6": ns.ipv6 if ns.ipv6 else None,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": ns.internal,
        "Attachable": ns.attachable,
        "Ingress": False,
        "ConfigOnly": False,
        "Options": dict(o.partition("=")[::2] for o in ns.opt),
        "Labels": dict(label.partition("=")[::2] for label in ns.label),
    }
    result = ctx.client.post_json("/networks/create", None, body) or {}
    if result.get("Warning"):
        sys.stderr.write(f"WARNING: {result['Warning']}\n")
    sys.stdout.write(f"{result.get('Id', '')}\n")
    return 0


def rm(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "NETWORK [NETWORK...]",
        "Remove one or more networks",
        ["berth network rm mynet"],
        aliases=["network rm", "network remove"],
    )
    p.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    ns = p.parse_args(argv)

    def remove(name: str) -> str | None:
        try:
            ctx.client.request("DELETE", f"/networks/{quote(name)}").read()
        except APIError as exc:
            if ns.force and exc.status == 404:
                return None
            raise
        return name

    return for_each(ns.networks, remove)


def inspect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK [NETWORK...]",
        "Display detailed information on one or more networks",
        ["berth network inspect bridge"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    ns = p.parse_args(argv)
    from berth.cli.inspect import typed_inspect

    return typed_inspect(ctx, "network", ns.networks, ns.format)


def connect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK CONTAINER",
        "Connect a container to a network",
        ["berth network connect mynet web", "berth network connect --ip 10.10.0.5 mynet web"],
    )
    p.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="strings",
        help="Add network-scoped alias for the container",
    )
    p.add_argument("--ip", default="", metavar="string", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--ip6", default="", metavar="string", help="IPv6 address")
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    endpoint: dict[str, Any] = {"Aliases": ns.alias or None}
    if ns.ip or ns.ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": ns.ip, "IPv6Address": ns.ip6}
    ctx.client.post(
        f"/networks/{quote(ns.network)}/connect",
        json_body={"Container": ns.container, "EndpointConfig": endpoint},
    )
    return 0


def disconnect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NETWORK CONTAINER",
        "Disconnect a container from a network",
        ["berth network disconnect mynet web"],
    )
    p.add_argument(
        "-f", "--force", action="store_true", help="Force the container to disconnect from a network"
    )
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    ctx.client.post(
        f"/networks/{quote(ns.network)}/disconnect", json_body={"Container": ns.container, "Force": ns.force}
    )
    return 0


def prune(ctx: Context, argv: list[str]) -> int:
    p = new_parser(ctx.command, "[OPTIONS]", "Remove all unused networks", ["berth network prune -f"])
    p.add_argument("--filter", action="append", default=[], metavar="filter", help="Provide filter values")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli.lifecycle import confirm

    confirm("WARNING! This will remove all custom networks not used by at least one container.", ns.force)
    params = {"filters": filters.encode(filters.parse_cli(ns.filter))} if ns.filter else None
    report = ctx.client.post_json("/networks/prune", params) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0
