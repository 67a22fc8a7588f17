"""Container data commands: ``top``, ``port``, ``diff``, ``export``, ``commit`` (``cp`` and ``stats``
have their own modules)."""

from __future__ import annotations

import sys

from berth.cli.command import CLIError, Context, new_parser
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def top(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER [ps OPTIONS]",
        "Display the running processes of a container",
        ["berth top web", "berth top web aux"],
        aliases=["container top", "top"],
    )
    p.add_argument("container")
    p.add_argument("ps_args", nargs="*")
    ns = p.parse_args(argv)
    from berth.cli.format import tabwrite

    params = {"ps_args": " ".join(ns.ps_args)} if ns.ps_args else None
    result = ctx.client.get_json(f"/containers/{quote(ns.container)}/top", params) or {}
    rows = [list(result.get("Titles") or [])] + [
        [str(v) for v in proc] for proc in result.get("Processes") or []
    ]
    sys.stdout.write(tabwrite(rows, minwidth=20))
    return 0


def _port_lines(ports: dict[str, Any], wanted: str = "") -> list[str]:
    lines = []

    def key(k: str) -> tuple[int, str]:
        num, _, proto = k.partition("/")
        return (int(num) if num.isdigit() else 0, proto)

    for port in sorted(ports or {}, key=key):
        for binding in ports[port] or []:
            ip = binding.get("HostIp") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip else ip
            addr = f"{host}:{binding.get('HostPort', '')}"
            lines.append(addr if wanted else f"{port} -> {addr}")
        if wanted and lines:
            break
    return lines


def port(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "List port mappings or a specific mapping for the container",
        ["berth port web", "berth port web 80/tcp"],
        aliases=["container port", "port"],
    )
    p.add_argument("container")
    p.add_argument("private_port", nargs="?", default="")
    ns = p.parse_args(argv)
    info = ctx.client.inspect_container(ns.container)
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if ns.private_port:
        num, _, proto = ns.private_port.partition("/")
        wanted = f"{num}/{proto or 'tcp'}"
        lines = _port_lines({wanted: ports[wanted]} if ports.get(wanted) else {}, wanted)
        if not lines:
            raise CLIError(f"No public port '{ns.private_port}' published for {ns.container}")
    else:
        lines = _port_lines(ports)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def diff(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER",
        "Inspect changes to files or directories on a container's filesystem",
        ["berth diff web"],
        aliases=["container diff", "diff"],
    )
    p.add_argument("container")
    ns = p.parse_args(argv)
    changes = ctx.client.get_json(f"/containers/{quote(ns.container)}/changes") or []
    kinds = {0: "C", 1: "A", 2: "D"}
    sys.stdout.write("".join(f"{kinds.get(c.get('Kind'), '?')} {c.get('Path')}\n" for c in changes))
    return 0


def export(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER",
        "Export a container's filesystem as a tar archive",
        ["berth export -o web.tar web", "berth export web > web.tar"],
        aliases=["container export", "export"],
    )
    p.add_argument("-o", "--output", default="", metavar="string", help="Write to a file, instead of STDOUT")
    p.add_argument("container")
    ns = p.parse_args(argv)
    from berth.cli.archive import check_output, write_stream

    if not ns.output and sys.stdout.isatty():
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    check_output(ns.output, "failed to export container")
    resp = ctx.client.request("GET", f"/containers/{quote(ns.container)}/export")
    write_stream(resp.iter_chunks(), ns.output)
    return 0


def commit(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "Create a new image from a container's changes",
        ["berth commit web web:snap", "berth commit -c 'CMD [\"sh\"]' -m 'msg' web app:2"],
        aliases=["container commit", "commit"],
    )
    p.add_argument("-a", "--author", default="", metavar="string", help="Author")
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="list",
        help="Apply Dockerfile instruction to the created image",
    )
    p.add_argument("-m", "--message", default="", metavar="string", help="Commit message")
    p.add_argument(
        "-p",
        "--pause",
        default="true",
        metavar="bool",
        nargs="?",
        const="true",
        help="Pause container during commit (default true)",
    )
    p.add_argument("container")
    p.add_argument("repository", nargs="?", default="")
    ns = p.parse_args(argv)
    params: dict[str, Any] = {"container": ns.container}
    if ns.repository:
        from berth.oci.reference import parse

        try:
            ref = parse(ns.repository)
        except Exception as exc:  # noqa: BLE001 - InvalidArgument with the reason
            raise CLIError(f"invalid reference format: {exc}") from exc
        params["repo"] = ref.repository
        params["tag"] = ref.tag or ""
    else:
        params["repo"] = ""
        params["tag"] = ""
    params["author"] = ns.author
    params["comment"] = ns.message
    if str(ns.pause).lower() in ("false", "0"):
        params["pause"] = "0"
    if ns.change:
        params["changes"] = ns.change
    result = ctx.client.post_json("/commit", params, {}) or {}
    sys.stdout.write(f"{result.get('Id', '')}\n")
    return 0
