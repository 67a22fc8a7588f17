"""``network ls|create|rm|inspect|connect|disconnect|prune``."""

from __future__ import annotations

import sys

from berth.cli.command import Context, for_each, new_parser
from berth.client.api import APIError
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

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
