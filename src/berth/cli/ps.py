"""``berth ps`` (``container ls``): the start-up-critical command, so it imports only what it uses."""

from __future__ import annotations

from berth.cli.command import Context, new_parser
from berth.cli.quickflags import Flags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Platform": "PLATFORM",
    "Label": "LABEL",
}


_FLAGS = Flags(
    bools={
        "-a": "all",
        "--all": "all",
        "-q": "quiet",
        "--quiet": "quiet",
        "-s": "size",
        "--size": "size",
        "-l": "latest",
        "--latest": "latest",
        "--no-trunc": "no_trunc",
    },
    values={"-f": "filter", "--filter": "filter", "--format": "format", "-n": "last", "--last": "last"},
    lists={"filter"},
    convert={"last": int},
    defaults={"last": -1},
)


def fast_args(argv: list[str]) -> dict[str, Any] | None:
    """ps's flags parsed by hand (see ``quickflags``); None sends anything unusual to argparse."""
    parsed = _FLAGS.parse(argv)
    return parsed[0] if parsed else None


def _argparse_args(ctx: Context, argv: list[str]) -> dict[str, Any]:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "List containers",
        ["berth ps", "berth ps -a --filter status=exited", "berth ps --format '{{.Names}}\\t{{.Status}}'"],
        aliases=["container ls", "container list", "container ps", "ps"],
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="Show all containers (default shows just running)"
    )
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter", help="Filter output")
    p.add_format()
    p.add_argument("-n", "--last", type=int, default=-1, metavar="int", help="Show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    return vars(p.parse_args(argv))


def ps(ctx: Context, argv: list[str]) -> int:
    opts = fast_args(argv)
    if opts is None:
        opts = _argparse_args(ctx, argv)
    params: dict[str, Any] = {}
    limit = 1 if opts["latest"] else opts["last"]
    if opts["all"] or limit > 0:
        params["all"] = "1"
    if limit > 0:
        params["limit"] = limit
    if opts["size"]:
        params["size"] = "1"
    if opts["filter"]:
        from berth.api import filters

        try:
            params["filters"] = filters.encode(filters.parse_cli(opts["filter"]))
        except ValueError as exc:
            from berth.cli.command import CLIError

            raise CLIError(str(exc)) from exc
    containers = ctx.client.get_json("/containers/json", params) or []
    no_trunc, template = opts["no_trunc"], opts["format"]
    if opts["quiet"] and not template:
        import sys

        sys.stdout.write(
            "".join((c.get("Id", "") if no_trunc else c.get("Id", "")[:12]) + "\n" for c in containers)
        )
        return 0
    from berth.cli import format as fmt

    rows = [row(c, trunc=not no_trunc) for c in containers]
    if opts["quiet"]:
        template = "{{.ID}}"
    if not template or template == "table":
        # the default table without the template engine (same output, no ``re`` import)
        import sys

        columns = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
        if opts["size"]:
            columns.append("Size")
        lines = [[HEADERS[c] for c in columns]] + [[r[c] for c in columns] for r in rows]
        sys.stdout.write(fmt.tabwrite(lines))
        return 0
    fmt.render(template, rows, HEADERS, DEFAULT_FORMAT, type_name="formatter.ContainerContext")
    return 0


def row(c: dict[str, Any], *, trunc: bool = True, now: float | None = None) -> dict[str, Any]:
    """The fields docker's ContainerContext offers for one ``/containers/json`` entry."""
    from berth.cli import format as fmt
    from berth.cli.format import go_quote

    cid = c.get("Id", "")
    command = c.get("Command", "") or ""
    created = c.get("Created", 0) or 0
    names = [n[1:] if n.startswith("/") else n for n in (c.get("Names") or [])]
    if trunc:
        for n in names:
            if "/" not in n:
                names = [n]
                break
    mounts = []
    for m in c.get("Mounts") or []:
        name = m.get("Name") or m.get("Source") or ""
        mounts.append(fmt.ellipsis(name, 15) if trunc else name)
    networks = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    size = fmt.human_size(c.get("SizeRw") or 0)
    if c.get("SizeRootFs"):
        size = f"{size} (virtual {fmt.human_size(c['SizeRootFs'])})"
    labels = c.get("Labels") or {}
    return {
        "ID": cid[:12] if trunc else cid,
        "Image": _image(c, trunc),
        "Command": go_quote(fmt.ellipsis(command, 20) if trunc else command),
        "CreatedAt": fmt.format_local_time(created),
        "RunningFor": fmt.time_ago(created, now),
        "Ports": format_ports(c.get("Ports") or []),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(mounts),
        "Networks": ",".join(networks),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        "Platform": ((c.get("ImageManifestDescriptor") or {}).get("platform")),
        "Label": lambda key: str(labels.get(key, "")),  # {{.Label "com.example"}}, a method in docker
    }


def _image(c: dict[str, Any], trunc: bool) -> str:
    image = c.get("Image", "") or ""
    if not image:
        return "<no image>"
    if trunc:
        from berth.cli.format import short_id

        image_id = c.get("ImageID", "") or ""
        if image_id and short_id(image_id) == short_id(image):
            return short_id(image)
        if "@" in image:
            image = image.split("@", 1)[0]
        for prefix in ("docker.io/library/", "docker.io/"):
            if image.startswith(prefix):
                image = image[len(prefix) :]
                break
    return image


def format_ports(ports: list[dict[str, Any]]) -> str:
    """docker's DisplayablePorts: ``0.0.0.0:8080->80/tcp, 443/tcp`` (consecutive ports grouped)."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    order: list[tuple[str, str]] = []
    for port in ports:
        private = int(port.get("PrivatePort") or 0)
        public = int(port.get("PublicPort") or 0)
        proto = port.get("Type") or "tcp"
        ip = port.get("IP") or ""
        key = (ip if public else "", proto)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((private, public))
    out: list[str] = []
    for ip, proto in sorted(order, key=lambda k: (k[1], k[0])):
        items = sorted(set(groups[(ip, proto)]))
        run_start = 0
        for i in range(1, len(items) + 1):
            if (
                i < len(items)
                and items[i][0] == items[i - 1][0] + 1
                and ((items[i][1] == items[i - 1][1] + 1) if items[i][1] else not items[i - 1][1])
            ):
                continue
            first, last = items[run_start], items[i - 1]
            priv = str(first[0]) if first == last else f"{first[0]}-{last[0]}"
            if first[1]:
                pub = str(first[1]) if first == last else f"{first[1]}-{last[1]}"
                host = f"[{ip}]" if ":" in ip else ip
                out.append(f"{host}:{pub}->{priv}/{proto}")
            else:
                out.append(f"{priv}/{proto}")
            run_start = i
    return ", ".join(out)
