"""Container lifecycle verbs: ``start stop restart kill rm pause unpause rename wait`` and
``container prune``. Multi-container verbs print each name as given on success, report each failure
as ``Error response from daemon: …`` and exit 1 if any failed (docker's behaviour)."""

from __future__ import annotations

import contextlib
import sys

from berth.cli.command import Context, StatusExit, for_each, new_parser
from berth.client.api import APIError, APINotModified
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def _path(name: str) -> str:
    return f"/containers/{quote(name)}"


def start(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Start one or more stopped containers",
        ["berth start web", "berth start -a box"],
        aliases=["container start", "start"],
    )
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument(
        "--detach-keys", default=None, metavar="string", help="Override the key sequence for detaching"
    )
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    if ns.attach or ns.interactive:
        if len(ns.containers) > 1:
            from berth.cli.command import CLIError

            raise CLIError("you cannot start and attach multiple containers at once")
        from berth.cli.run import attach_start_wait

        info = ctx.client.inspect_container(ns.containers[0])
        config = info.get("Config") or {}
        host_config = info.get("HostConfig") or {}
        return attach_start_wait(
            ctx,
            info.get("Id") or ns.containers[0],
            tty=bool(config.get("Tty")),
            stdin=bool(ns.interactive and config.get("OpenStdin")),
            auto_remove=bool(host_config.get("AutoRemove")),
            detach_keys=ns.detach_keys,
            sig_proxy=not config.get("Tty"),
        )

    failed: list[str] = []

    def act(name: str) -> str:
        try:
            with contextlib.suppress(APINotModified):  # already running: docker prints the name, succeeds
                ctx.client.post(f"{_path(name)}/start")
        except APIError:
            failed.append(name)
            raise
        return name

    code = for_each(ns.containers, act)
    if failed:
        sys.stderr.write(f"Error: failed to start containers: {', '.join(failed)}\n")
    return code


def _stop_like(ctx: Context, argv: list[str], verb: str, summary: str) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        summary,
        [f"berth {verb} web", f"berth {verb} -t 1 web db"],
        aliases=[f"container {verb}", verb],
    )
    p.add_argument("-s", "--signal", default="", metavar="string", help="Signal to send to the container")
    from berth.cli.goparse import parse_int
    from berth.cli.runflags import Flag, check, register

    timeout = Flag(
        ("-t", "--timeout"),
        "value",
        metavar="int",
        default=None,
        check=parse_int,
        help="Seconds to wait before killing the container",
    )
    register(p, (timeout,))
    p.add_argument("--time", dest="timeout", help=argparse_suppress())  # docker's deprecated spelling
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    check(vars(ns), (timeout,), p.usage or "")
    params: dict[str, Any] = {}
    if ns.signal:
        params["signal"] = ns.signal
    if ns.timeout is not None:
        params["t"] = ns.timeout

    def act(name: str) -> str:
        with contextlib.suppress(APINotModified):  # already stopped
            ctx.client.post(f"{_path(name)}/{verb}", params or None)
        return name

    return for_each(ns.containers, act)


def stop(ctx: Context, argv: list[str]) -> int:
    return _stop_like(ctx, argv, "stop", "Stop one or more running containers")


def restart(ctx: Context, argv: list[str]) -> int:
    return _stop_like(ctx, argv, "restart", "Restart one or more containers")


def kill(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Kill one or more running containers",
        ["berth kill web", "berth kill -s HUP web"],
        aliases=["container kill", "kill"],
    )
    p.add_argument("-s", "--signal", default="", metavar="string", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    params = {"signal": ns.signal} if ns.signal else None
    return for_each(ns.containers, lambda n: (ctx.client.post(f"{_path(n)}/kill", params), n)[1])


def rm(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Remove one or more containers",
        ["berth rm web", "berth rm -f -v web"],
        aliases=["container rm", "container remove", "rm"],
    )
    p.add_argument(
        "-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)"
    )
    p.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    p.add_argument(
        "-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container"
    )
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    params: dict[str, Any] = {}
    if ns.volumes:
        params["v"] = "1"
    if ns.link:
        params["link"] = "1"
    if ns.force:
        params["force"] = "1"

    def act(name: str) -> str:
        ctx.client.request("DELETE", _path(name), params or None).read()
        return name

    return for_each(ns.containers, act)


def _simple(ctx: Context, argv: list[str], verb: str, summary: str) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER [CONTAINER...]",
        summary,
        [f"berth {verb} web"],
        aliases=[f"container {verb}", verb],
    )
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    return for_each(ns.containers, lambda n: (ctx.client.post(f"{_path(n)}/{verb}"), n)[1])


def pause(ctx: Context, argv: list[str]) -> int:
    return _simple(ctx, argv, "pause", "Pause all processes within one or more containers")


def unpause(ctx: Context, argv: list[str]) -> int:
    return _simple(ctx, argv, "unpause", "Unpause all processes within one or more containers")


def rename(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER NEW_NAME",
        "Rename a container",
        ["berth rename web web2"],
        aliases=["container rename", "rename"],
    )
    p.add_argument("container")
    p.add_argument("new_name")
    ns = p.parse_args(argv)
    ctx.client.post(f"{_path(ns.container)}/rename", {"name": ns.new_name})
    return 0


def wait(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "CONTAINER [CONTAINER...]",
        "Block until one or more containers stop, then print their exit codes",
        ["berth wait web"],
        aliases=["container wait", "wait"],
    )
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)

    def act(name: str) -> str:
        result = ctx.client.post_json(f"{_path(name)}/wait") or {}
        return str(result.get("StatusCode", 0))

    return for_each(ns.containers, act)


def confirm(message: str, force: bool) -> None:
    """docker's prune prompt; leaves with status 0 (docker prints nothing more) when not confirmed."""
    if force:
        return
    sys.stdout.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise StatusExit(0)


def prune(ctx: Context, argv: list[str]) -> int:
    p = new_parser(ctx.command, "[OPTIONS]", "Remove all stopped containers", ["berth container prune -f"])
    p.add_argument("--filter", action="append", default=[], metavar="filter", help="Provide filter values")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse_args(argv)
    confirm("WARNING! This will remove all stopped containers.", ns.force)
    from berth.api import filters
    from berth.cli.format import human_size

    params = {"filters": filters.encode(filters.parse_cli(ns.filter))} if ns.filter else None
    report = ctx.client.post_json("/containers/prune", params) or {}
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n")
    return 0
