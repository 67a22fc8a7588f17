"""Streaming container commands: ``attach``, ``exec`` and ``logs``."""

from __future__ import annotations

import sys

from berth.cli.command import CLIError, Context, new_parser, split_at_positional
from berth.cli.quickflags import Flags
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def attach(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER",
        "Attach local standard input, output, and error streams to a running container",
        ["berth attach web", "berth attach --no-stdin web"],
        aliases=["container attach", "attach"],
    )
    p.add_argument(
        "--detach-keys", default=None, metavar="string", help="Override the key sequence for detaching"
    )
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument(
        "--sig-proxy", default="true", metavar="bool", help="Proxy all received signals to the process"
    )
    p.add_argument("container")
    ns = p.parse_args(argv)
    from berth.cli import streams
    from berth.cli.run import wait_status

    client = ctx.client
    info = client.inspect_container(ns.container)
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is running")
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not ns.no_stdin
    path = f"/containers/{quote(info.get('Id') or ns.container)}"
    pending = client.begin("POST", f"{path}/wait")
    params: dict[str, Any] = {"stream": "1", "stdout": "1", "stderr": "1"}
    if stdin:
        params["stdin"] = "1"
    if ns.detach_keys is not None:
        params["detachKeys"] = ns.detach_keys
    conn = client.hijack(f"{path}/attach", params)
    fork = client.fork()
    if tty and streams.terminal_size(1):
        streams.watch_resize(streams.resizer(fork, path))
    if ns.sig_proxy.lower() in ("true", "1") and not tty:
        streams.proxy_signals(streams.killer(fork, path))
    if streams.pump_session(conn, tty=tty, stdin=stdin, detach_keys=ns.detach_keys):
        pending.cancel()
        # As docker attach (unlike run -it): detaching is reported and exits 1; the container runs on.
        sys.stderr.write("read escape sequence\n")
        return 1
    return wait_status(client, pending)


_EXEC_FLAGS = Flags(
    bools={
        "-d": "detach",
        "--detach": "detach",
        "-i": "interactive",
        "--interactive": "interactive",
        "--privileged": "privileged",
        "-t": "tty",
        "--tty": "tty",
    },
    values={
        "--detach-keys": "detach_keys",
        "-e": "env",
        "--env": "env",
        "--env-file": "env_file",
        "-u": "user",
        "--user": "user",
        "-w": "workdir",
        "--workdir": "workdir",
    },
    lists={"env", "env_file"},
    defaults={"detach_keys": "", "user": "", "workdir": ""},
)


def _exec_args(ctx: Context, argv: list[str]) -> tuple[dict[str, Any], str, list[str]]:
    """(options, container, command): the usual flags by hand (``exec`` is latency-critical, see
    ``quickflags``), anything else through argparse."""
    quick = _EXEC_FLAGS.parse(argv, positionals=True)
    if quick is not None and quick[1]:
        opts, (container, *command) = quick
        return opts, container, command
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "Execute a command in a running container",
        ["berth exec web ls /", "berth exec -it web sh", "berth exec -e A=1 -w /tmp -u nobody web env"],
        aliases=["container exec", "exec"],
    )
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument(
        "--detach-keys", default="", metavar="string", help="Override the key sequence for detaching"
    )
    p.add_argument(
        "-e", "--env", action="append", default=[], metavar="list", help="Set environment variables"
    )
    p.add_argument(
        "--env-file",
        action="append",
        default=[],
        metavar="list",
        help="Read in a file of environment variables",
    )
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument(
        "-u",
        "--user",
        default="",
        metavar="string",
        help="Username or UID (format: <name|uid>[:<group|gid>])",
    )
    p.add_argument(
        "-w", "--workdir", default="", metavar="string", help="Working directory inside the container"
    )
    p.add_argument("container")
    head, command = split_at_positional(p, argv)
    opts = vars(p.parse_args(head))
    return opts, opts.pop("container"), command


def exec_(ctx: Context, argv: list[str]) -> int:
    opts, container, command = _exec_args(ctx, argv)
    detach, tty, interactive = opts["detach"], opts["tty"], opts["interactive"]
    from berth.cli import streams

    streams.check_tty(tty and interactive and not detach)
    if not command:
        raise CLIError(
            "'berth exec' requires at least 2 arguments\n\nUsage:  berth exec [OPTIONS] CONTAINER COMMAND "
            "[ARG...]\n\nSee 'berth exec --help' for more information",
            prefix="berth: ",
        )
    from berth.cli.envvars import env_list, parse_env_file

    env: list[str] = []
    for path in opts["env_file"]:
        env += parse_env_file(path)
    env += env_list(opts["env"])
    client = ctx.client
    info = client.inspect_container(container)
    if not (info.get("State") or {}).get("Running"):
        raise CLIError(
            f"Error response from daemon: container {info.get('Id', container)} is not running", prefix=""
        )
    size = streams.terminal_size(1) if tty else None
    body: dict[str, Any] = {"User": opts["user"], "Privileged": opts["privileged"], "Tty": tty}
    if size:  # docker sends it only with a terminal (omitempty)
        body["ConsoleSize"] = list(size)
    body |= {
        "AttachStdin": bool(interactive and not detach),
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": opts["detach_keys"],
        "Env": env or None,
        "WorkingDir": opts["workdir"],
        "Cmd": command,
    }
    created = client.post_json(f"/containers/{quote(container)}/exec", None, body) or {}
    exec_id = str(created.get("Id", ""))
    start_body: dict[str, Any] = {"Detach": detach, "Tty": tty}
    if size:
        start_body["ConsoleSize"] = list(size)
    if detach:
        client.request("POST", f"/exec/{exec_id}/start", json_body=start_body).read()
        return 0
    conn = client.hijack(f"/exec/{exec_id}/start", json_body=start_body)
    if tty and size:
        fork = client.fork()
        streams.watch_resize(streams.resizer(fork, f"/exec/{exec_id}"))
    if streams.pump_session(conn, tty=tty, stdin=interactive, detach_keys=opts["detach_keys"] or None):
        return 0  # detached from the exec session
    result = client.get_json(f"/exec/{exec_id}/json") or {}
    code = result.get("ExitCode")
    return int(code) if code is not None else 0


def parse_timestamp(value: str, now: float | None = None) -> str:
    """docker's ``GetTimestamp`` for --since/--until: durations are relative to now, RFC 3339 dates
    and unix seconds are absolute; returns ``seconds[.nanoseconds]``."""
    import time

    from berth.cli.format import parse_rfc3339
    from berth.cli.runopts import parse_duration

    text = value.strip()
    if not text:
        return ""
    if text.replace(".", "", 1).isdigit():
        return text
    current = time.time() if now is None else now
    try:
        nanos = parse_duration(text)
    except CLIError:
        pass
    else:
        stamp = current - nanos / 1e9
        return f"{int(stamp)}.{int(round((stamp - int(stamp)) * 1e9)):09d}"
    try:
        stamp = parse_rfc3339(text if "T" in text else text + "T00:00:00Z")
    except ValueError as exc:
        raise CLIError(
            f'invalid value for "since": failed to parse value as time or duration: "{value}"'
        ) from exc
    return f"{int(stamp)}.{int(round((stamp - int(stamp)) * 1e9)):09d}"


def logs(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER",
        "Fetch the logs of a container",
        ["berth logs web", "berth logs -f --tail 10 web", "berth logs --since 5m -t web"],
        aliases=["container logs", "logs"],
    )
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument(
        "--since", default="", metavar="string", help="Show logs since timestamp or relative (e.g. 42m)"
    )
    p.add_argument(
        "-n", "--tail", default="all", metavar="string", help="Number of lines to show from the end"
    )
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--until", default="", metavar="string", help="Show logs before a timestamp or relative")
    p.add_argument("container")
    ns = p.parse_args(argv)
    from berth.cli import streams

    client = ctx.client
    info = client.inspect_container(ns.container)
    tty = bool((info.get("Config") or {}).get("Tty"))
    params: dict[str, Any] = {"stderr": "1", "stdout": "1", "tail": ns.tail}
    if ns.since:
        params["since"] = parse_timestamp(ns.since)
    if ns.until:
        params["until"] = parse_timestamp(ns.until)
    if ns.follow:
        params["follow"] = "1"
    if ns.timestamps:
        params["timestamps"] = "1"
    if ns.details:
        params["details"] = "1"
    resp = client.request("GET", f"/containers/{quote(ns.container)}/logs", params)
    raw = tty or resp.content_type == "application/vnd.docker.raw-stream"
    if resp.content_type == "application/vnd.docker.multiplexed-stream":
        raw = False
    sys.stdout.flush()
    streams.copy_output(resp, tty=raw)
    return 0
