"""``volume ls|create|rm|inspect|prune``."""

from __future__ import annotations

import sys

from berth.cli.command import Context, for_each, new_parser
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Size": "SIZE",
    "Links": "LINKS",
    "CreatedAt": "CREATED AT",
}


def ls(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "List volumes",
        ["berth volume ls", "berth volume ls -q"],
        aliases=["volume ls", "volume list"],
    )
    p.add_argument("--cluster", action="store_true", help="Display only cluster volumes")
    p.add_argument(
        "-f", "--filter", action="append", default=[], metavar="filter", help="Provide filter values"
    )
    p.add_format()
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli import format as fmt

    params = {"filters": filters.encode(filters.parse_cli(ns.filter))} if ns.filter else None
    result = ctx.client.get_json("/volumes", params) or {}
    vols = sorted(result.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    for warning in result.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    rows = [
        {
            "Name": v.get("Name", ""),
            "Driver": v.get("Driver", ""),
            "Scope": v.get("Scope", ""),
            "Mountpoint": v.get("Mountpoint", ""),
            "CreatedAt": v.get("CreatedAt", ""),
            "Labels": ",".join(f"{k}={val}" for k, val in sorted((v.get("Labels") or {}).items())),
            "Size": "N/A",
            "Links": "N/A",
        }
        for v in vols
    ]
    fmt.render(
        "{{.Name}}" if ns.quiet else ns.format,
        rows,
        HEADERS,
        "table {{.Driver}}\t{{.Name}}",
        type_name="formatter.volumeContext",
    )
    return 0


_CLUSTER_FLAGS = (
    "type",
    "group",
    "scope",
    "sharing",
    "availability",
    "secret",
    "limit_bytes",
    "required_bytes",
    "topology_required",
    "topology_preferred",
)


def create(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] [VOLUME]",
        "Create a volume",
        [
            "berth volume create data",
            "berth volume create",
            "berth volume create -o type=tmpfs -o device=tmpfs t",
        ],
    )
    from berth.cli import goparse
    from berth.cli.runflags import Flag, check, register

    cluster_flags = (
        Flag(
            ("--availability",),
            "value",
            metavar="string",
            default=None,
            help='Cluster Volume availability ("active", "pause", "drain")',
        ),
        Flag(
            ("--group",),
            "value",
            metavar="string",
            default=None,
            help="Cluster Volume group (cluster volumes)",
        ),
        Flag(
            ("--limit-bytes",),
            "value",
            metavar="bytes",
            default=None,
            check=goparse.ram_in_bytes,
            help="Minimum size of the Cluster Volume in bytes",
        ),
        Flag(
            ("--required-bytes",),
            "value",
            metavar="bytes",
            default=None,
            check=goparse.ram_in_bytes,
            help="Maximum size of the Cluster Volume in bytes",
        ),
        Flag(
            ("--scope",),
            "value",
            metavar="string",
            default=None,
            help='Cluster Volume access scope ("single", "multi")',
        ),
        Flag(("--secret",), "list", metavar="map", help="Cluster Volume secrets"),
        Flag(
            ("--sharing",),
            "value",
            metavar="string",
            default=None,
            help='Cluster Volume access sharing ("none", "readonly", "onewriter", "all")',
        ),
        Flag(
            ("--topology-preferred",),
            "list",
            metavar="list",
            help="A topology that the Cluster Volume would be preferred in",
        ),
        Flag(
            ("--topology-required",),
            "list",
            metavar="list",
            help="A topology that the Cluster Volume must be accessible from",
        ),
        Flag(
            ("--type",),
            "value",
            metavar="string",
            default=None,
            help='Cluster Volume access type ("mount", "block")',
        ),
    )
    p.add_argument(
        "-d",
        "--driver",
        default="local",
        metavar="string",
        help='Specify volume driver name (default "local")',
    )
    p.add_argument("--label", action="append", default=[], metavar="list", help="Set metadata for a volume")
    p.add_argument("--name", default="", metavar="string", help="Specify volume name")
    p.add_argument(
        "-o", "--opt", action="append", default=[], metavar="map", help="Set driver specific options"
    )
    register(p, cluster_flags)
    p.add_argument("volume", nargs="?", default="")
    ns = p.parse_args(argv)
    cluster = any(getattr(ns, name) not in (None, []) for name in _CLUSTER_FLAGS)
    check(vars(ns), cluster_flags, p.usage or "")
    if ns.volume and ns.name and ns.volume != ns.name:
        from berth.cli.command import CLIError

        raise CLIError(
            "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            prefix="",
        )
    body: dict[str, Any] = {}
    if cluster:
        body["ClusterVolumeSpec"] = _cluster_spec(ns)
    body["Driver"] = ns.driver
    for key, items in (("DriverOpts", ns.opt), ("Labels", ns.label)):
        if items:
            body[key] = dict(sorted(item.partition("=")[::2] for item in items))
    if ns.volume or ns.name:
        body["Name"] = ns.volume or ns.name
    result = ctx.client.post_json("/volumes/create", None, body) or {}
    sys.stdout.write(f"{result.get('Name', '')}\n")
    return 0


def _cluster_spec(ns: Any) -> dict[str, Any]:
    """docker's ClusterVolumeSpec (swarm CSI volumes; Berth's daemon refuses them)."""
    access: dict[str, Any] = {"Scope": ns.scope or "single", "Sharing": ns.sharing or "none"}
    kind = ns.type or "block"
    if kind == "mount":
        access["MountVolume"] = {}
    elif kind == "block":
        access["BlockVolume"] = {}
    spec: dict[str, Any] = {}
    if ns.group:
        spec["Group"] = ns.group
    spec["AccessMode"] = access

    def topology(items: list[str]) -> list[dict[str, Any]]:
        return [{"Segments": dict(seg.partition("=")[::2] for seg in item.split(","))} for item in items]

    requirements: dict[str, Any] = {}
    if ns.topology_required:
        requirements["Requisite"] = topology(ns.topology_required)
    if ns.topology_preferred:
        requirements["Preferred"] = topology(ns.topology_preferred)
    spec["AccessibilityRequirements"] = requirements
    capacity: dict[str, Any] = {}
    if ns.required_bytes:
        capacity["RequiredBytes"] = ns.required_bytes
    if ns.limit_bytes:
        capacity["LimitBytes"] = ns.limit_bytes
    spec["CapacityRange"] = capacity
    secrets = sorted(s.partition("=")[::2] for s in ns.secret)
    if secrets:
        spec["Secrets"] = [{"Key": k, "Secret": v} for k, v in secrets]
    spec["Availability"] = ns.availability or "active"
    return spec


def rm(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] VOLUME [VOLUME...]",
        "Remove one or more volumes",
        ["berth volume rm data"],
        aliases=["volume rm", "volume remove"],
    )
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    ns = p.parse_args(argv)
    params = {"force": "1"} if ns.force else None

    def remove(name: str) -> str:
        ctx.client.request("DELETE", f"/volumes/{quote(name)}", params).read()
        return name

    return for_each(ns.volumes, remove)


def inspect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] VOLUME [VOLUME...]",
        "Display detailed information on one or more volumes",
        ["berth volume inspect data"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    ns = p.parse_args(argv)
    from berth.cli.inspect import typed_inspect

    return typed_inspect(ctx, "volume", ns.volumes, ns.format)


def prune(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Remove unused local volumes",
        ["berth volume prune -f", "berth volume prune -a -f"],
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones"
    )
    p.add_argument("--filter", action="append", default=[], metavar="filter", help="Provide filter values")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli.format import human_size
    from berth.cli.lifecycle import confirm

    if ns.all:
        confirm("WARNING! This will remove all local volumes not used by at least one container.", ns.force)
    else:
        confirm(
            "WARNING! This will remove anonymous local volumes not used by at least one container.", ns.force
        )
    flt = filters.parse_cli(ns.filter)
    if ns.all:
        flt["all"] = ["true"]
    report = ctx.client.post_json("/volumes/prune", {"filters": filters.encode(flt)} if flt else None) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n")
    return 0
