"""``inspect`` (generic, with docker's fallback chain) and the typed ``container|image inspect``.

The generic form asks, for each name, containers -> images -> networks -> volumes until one is
found; names found nowhere print ``Error: No such object: NAME`` (after ``[]`` or the objects found).
"""

from __future__ import annotations

import sys

from berth.cli.command import Context, StatusExit, new_parser
from berth.cli.quickflags import Flags, Options
from berth.client.api import APIError, APINotFound
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_ENDPOINTS = {
    "container": "/containers/{}/json",
    "image": "/images/{}/json",
    "network": "/networks/{}",
    "volume": "/volumes/{}",
}


def _fetch(ctx: Context, kind: str, name: str, size: bool) -> Any:
    params = {"size": "1"} if size and kind == "container" else None
    return ctx.client.get_json(_ENDPOINTS[kind].format(quote(name)), params)


def print_objects(objects: list[Any], template: str | None) -> None:
    """Indented JSON array (default), one compact JSON line per object (``json``), or a template line
    per object."""
    if not template:
        from berth.cli.format import print_json

        print_json(objects)
        return
    if template == "json":  # docker: the array, compact, keys in the daemon's order
        import json

        text = json.dumps(objects, separators=(",", ":"), ensure_ascii=False)
        sys.stdout.write(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n")
        return
    from berth.cli.template import Template

    tmpl = Template(template.replace("\\t", "\t").replace("\\n", "\n"))
    sys.stdout.write("".join(tmpl.execute(obj) + "\n" for obj in objects))


def _run(names: list[str], fetch: Callable[[str], Any], template: str | None, generic: bool) -> int:
    found: list[Any] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(fetch(name))
        except APINotFound as exc:
            errors.append(
                f"Error: No such object: {name}" if generic else f"Error response from daemon: {exc}"
            )
        except APIError as exc:
            errors.append(f"Error response from daemon: {exc}")
    print_objects(found, template)
    if errors:
        sys.stdout.flush()
        sys.stderr.write("\n".join(errors) + "\n")
        raise StatusExit(1)
    return 0


_INSPECT_FLAGS = Flags(
    bools={"-s": "size", "--size": "size"},
    values={"-f": "format", "--format": "format", "--type": "type"},
    defaults={"type": ""},
)


def _inspect_args(ctx: Context, argv: list[str]) -> Any:
    """The usual ``inspect [-f T] [-s] [--type K] NAME...`` by hand (see ``quickflags``: argparse and
    the modules it pulls in cost ``inspect -f`` ~5 ms); anything else through argparse."""
    quick = _INSPECT_FLAGS.parse(argv, positionals=True)
    if quick is not None and quick[1] and not any(a.startswith("-") for a in quick[1]):
        return Options({**quick[0], "names": quick[1]})
    p = new_parser(
        ctx.command,
        "[OPTIONS] NAME|ID [NAME|ID...]",
        "Return low-level information on Berth objects",
        ["berth inspect web", "berth inspect -f '{{.State.Pid}}' web", "berth inspect --type image busybox"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    p.add_argument(
        "-s", "--size", action="store_true", help="Display total file sizes if the type is container"
    )
    p.add_argument("--type", default="", metavar="string", help="Only inspect objects of the given type")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    return p.parse_args(argv)


def inspect(ctx: Context, argv: list[str]) -> int:
    ns = _inspect_args(ctx, argv)
    if ns.type and ns.type not in _ENDPOINTS:
        from berth.cli.command import CLIError

        raise CLIError(f'"{ns.type}" is not a valid value for --type')
    kinds = [ns.type] if ns.type else list(_ENDPOINTS)

    def fetch(name: str) -> Any:
        for kind in kinds:
            try:
                return _fetch(ctx, kind, name, ns.size)
            except APINotFound:
                continue
        raise APINotFound(404, f"No such object: {name}")

    return _run(ns.names, fetch, ns.format, generic=True)


def container_inspect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Display detailed information on one or more containers",
        ["berth container inspect web", "berth container inspect -f '{{.State.Status}}' web"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    p.add_argument("names", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    return _run(ns.names, lambda n: _fetch(ctx, "container", n, ns.size), ns.format, generic=False)


def image_inspect(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] IMAGE [IMAGE...]",
        "Display detailed information on one or more images",
        ["berth image inspect busybox", "berth image inspect -f '{{.Config.Cmd}}' busybox"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    p.add_argument("--platform", default="", metavar="string", help="Inspect a specific platform")
    p.add_argument("names", nargs="+", metavar="IMAGE")
    ns = p.parse_args(argv)
    return _run(ns.names, lambda n: _fetch(ctx, "image", n, False), ns.format, generic=False)


def typed_inspect(ctx: Context, kind: str, names: list[str], template: str | None) -> int:
    """Used by ``network inspect`` and ``volume inspect``."""
    return _run(names, lambda n: _fetch(ctx, kind, n, False), template, generic=False)
