"""``berth``: global flags, the command table, and errors -> exit codes.

Start-up speed matters (``berth ps -q`` must stay near bare interpreter start-up), so this module
imports only ``os``/``sys``; global flags are parsed by hand, and only the invoked command's module is
imported (from the name -> "module:function" tables below), which then builds only its own parser.
"""

from __future__ import annotations

import os
import sys

# top-level command -> "module:function" (module under berth.cli)
COMMANDS: dict[str, str] = {
    "attach": "interact:attach",
    "bootstrap": "bootstrap:bootstrap",
    "build": "build:build",
    "certs": "certs:certs",
    "commit": "containerio:commit",
    "cp": "cp:cp",
    "create": "run:create",
    "diff": "containerio:diff",
    "events": "system:events",
    "exec": "interact:exec_",
    "export": "containerio:export",
    "history": "images:history",
    "images": "images:images",
    "import": "archive:import_",
    "info": "system:info",
    "inspect": "inspect:inspect",
    "kill": "lifecycle:kill",
    "load": "archive:load",
    "login": "registry:login",
    "logout": "registry:logout",
    "logs": "interact:logs",
    "pause": "lifecycle:pause",
    "port": "containerio:port",
    "ps": "ps:ps",
    "pull": "registry:pull",
    "push": "registry:push",
    "rename": "lifecycle:rename",
    "restart": "lifecycle:restart",
    "rm": "lifecycle:rm",
    "rmi": "images:rmi",
    "run": "run:run",
    "save": "archive:save",
    "search": "registry:search",
    "start": "lifecycle:start",
    "stats": "stats:stats",
    "stop": "lifecycle:stop",
    "tag": "images:tag",
    "top": "containerio:top",
    "unpause": "lifecycle:unpause",
    "update": "update:update",
    "version": "system:version",
    "wait": "lifecycle:wait",
}

# management command -> {subcommand -> "module:function"}
GROUPS: dict[str, dict[str, str]] = {
    "container": {
        "attach": "interact:attach",
        "commit": "containerio:commit",
        "cp": "cp:cp",
        "create": "run:create",
        "diff": "containerio:diff",
        "exec": "interact:exec_",
        "export": "containerio:export",
        "inspect": "inspect:container_inspect",
        "kill": "lifecycle:kill",
        "logs": "interact:logs",
        "ls": "ps:ps",
        "list": "ps:ps",
        "ps": "ps:ps",
        "pause": "lifecycle:pause",
        "port": "containerio:port",
        "prune": "lifecycle:prune",
        "rename": "lifecycle:rename",
        "restart": "lifecycle:restart",
        "rm": "lifecycle:rm",
        "remove": "lifecycle:rm",
        "run": "run:run",
        "start": "lifecycle:start",
        "stats": "stats:stats",
        "stop": "lifecycle:stop",
        "top": "containerio:top",
        "unpause": "lifecycle:unpause",
        "update": "update:update",
        "wait": "lifecycle:wait",
    },
    "image": {
        "build": "build:build",
        "history": "images:history",
        "import": "archive:import_",
        "inspect": "inspect:image_inspect",
        "load": "archive:load",
        "ls": "images:images",
        "list": "images:images",
        "prune": "images:prune",
        "pull": "registry:pull",
        "push": "registry:push",
        "rm": "images:rmi",
        "remove": "images:rmi",
        "save": "archive:save",
        "tag": "images:tag",
    },
    "network": {
        "connect": "netcreate:connect",
        "create": "netcreate:create",
        "disconnect": "network:disconnect",
        "inspect": "network:inspect",
        "ls": "network:ls",
        "list": "network:ls",
        "prune": "network:prune",
        "rm": "network:rm",
        "remove": "network:rm",
    },
    "volume": {
        "create": "volume:create",
        "inspect": "volume:inspect",
        "ls": "volume:ls",
        "list": "volume:ls",
        "prune": "volume:prune",
        "rm": "volume:rm",
        "remove": "volume:rm",
    },
    "system": {
        "check": "system:check",
        "df": "system:df",
        "events": "system:events",
        "info": "system:info",
        "prune": "system:prune",
    },
}

_SUMMARIES = {
    "container": "Manage containers",
    "image": "Manage images",
    "network": "Manage networks",
    "volume": "Manage volumes",
    "system": "Manage Berth",
    "bootstrap": "Make a base image (busybox, debian) without a registry",
}

_GROUP_EXAMPLES = {
    "container": [
        "berth container ls -a",
        "berth container run --rm busybox echo hi",
        "berth container prune -f",
    ],
    "image": ["berth image ls", "berth image inspect busybox", "berth image prune -a -f"],
    "network": ["berth network create mynet", "berth network ls", "berth network rm mynet"],
    "volume": ["berth volume create data", "berth volume ls -q", "berth volume rm data"],
    "system": [
        "berth system df",
        "berth system info",
        "berth system prune -f",
        "berth system check --repair",
    ],
}

_VALUE_FLAGS = {
    "-H",
    "--host",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
    "-c",
    "--context",
}

USAGE = """Usage:  berth [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  build       Build an image from a Dockerfile
  pull        Download an image from a registry
  push        Upload an image to a registry
  images      List images
  login       Log in to a registry
  logout      Log out from a registry
  search      Search a registry for images
  version     Show the Berth version information
  info        Display system-wide information
  bootstrap   Make a base image (busybox, debian) without a registry

Management Commands:
  container   Manage containers
  image       Manage images
  network     Manage networks
  system      Manage Berth
  volume      Manage volumes

Commands:
  {commands}

Global Options:
      --config string      Location of client config files (default "~/.berth", or $BERTH_CONFIG)
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (default $BERTH_HOST or unix:///run/berth/berth.sock)
      --tls                Use TLS; implied by --tlsverify
      --tlscacert string   Trust certs signed only by this CA (default "CONFIG/ca.pem")
      --tlscert string     Path to TLS certificate file (default "CONFIG/cert.pem")
      --tlskey string      Path to TLS key file (default "CONFIG/key.pem")
      --tlsverify          Use TLS and verify the remote
  -v, --version            Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
"""


def _usage() -> str:
    names = sorted(n for n in COMMANDS if n not in ("bootstrap",))
    return USAGE.format(commands="\n  ".join(names))


def _parse_globals(argv: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise _GlobalError(f"flag needs an argument: {name}")
                value = argv[i]
            opts[name.lstrip("-")] = value
        elif name in ("-D", "--debug", "--tls", "--tlsverify", "-v", "--version", "-h", "--help"):
            opts[name.lstrip("-")] = True
        else:
            raise _GlobalError(f"unknown flag: {arg}")
        i += 1
    return opts, argv[i:]


class _GlobalError(Exception):
    pass


def _tls_config(opts: dict[str, str | bool], config_dir: str) -> object | None:
    verify_env = os.environ.get("BERTH_TLS_VERIFY", "")
    verify = bool(opts.get("tlsverify")) or verify_env not in ("", "0", "false")
    if not (verify or opts.get("tls")):
        return None
    from berth.client.hosts import TLSConfig

    cert_dir = os.environ.get("BERTH_CERT_PATH") or config_dir

    def pick(flag: str, default: str) -> str | None:
        value = opts.get(flag)
        if isinstance(value, str):
            return value
        path = os.path.join(cert_dir, default)
        return path if os.path.exists(path) else None

    return TLSConfig(
        ca_file=pick("tlscacert", "ca.pem"),
        cert_file=pick("tlscert", "cert.pem"),
        key_file=pick("tlskey", "key.pem"),
        verify=verify,
    )


def _resolve(argv: list[str]) -> tuple[str, str, list[str]] | str:
    """(display name, "module:function", remaining argv) or an error message."""
    name = argv[0]
    if name in GROUPS:
        subs = GROUPS[name]
        if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
            lines = [f"Usage:  berth {name} COMMAND", "", _SUMMARIES[name], "", "Commands:"]
            lines += [f"  {sub}" for sub in sorted(subs) if sub not in ("list", "remove")]
            lines += ["", "Examples:", *(f"  $ {e}" for e in _GROUP_EXAMPLES[name])]
            lines += ["", f"Run 'berth {name} COMMAND --help' for more information on a command."]
            return "\n".join(lines)
        sub = argv[1]
        if sub not in subs:
            hint = f"Run 'berth {name} --help' for more information"
            return f"berth: unknown command: berth {name} {sub}\n\n{hint}"
        return f"{name} {sub}", subs[sub], argv[2:]
    if name in COMMANDS:
        return name, COMMANDS[name], argv[1:]
    return f"berth: unknown command: berth {name}\n\nRun 'berth --help' for more information"


def run(argv: list[str]) -> int:
    """Run ``berth`` with ``argv`` (without the program name); returns the exit code."""
    try:
        opts, rest = _parse_globals(argv)
    except _GlobalError as exc:
        sys.stderr.write(f"{exc}\nSee 'berth --help'.\n")
        return 125
    if opts.get("version") or opts.get("v"):
        from berth import __version__

        sys.stdout.write(f"Berth version {__version__}\n")
        return 0
    if not rest or opts.get("help") or opts.get("h"):
        sys.stdout.write(_usage())
        return 0
    if rest[0] == "help":
        rest = [*rest[1:], "--help"] if len(rest) > 1 else []
        if not rest:
            sys.stdout.write(_usage())
            return 0
    resolved = _resolve(rest)
    if isinstance(resolved, str):
        is_help = resolved.startswith("Usage:")
        (sys.stdout if is_help else sys.stderr).write(resolved + "\n")
        return 0 if is_help else 1
    display, target, args = resolved

    from berth.cli.command import CLIError, Context, StatusExit, UsageError
    from berth.errors import BerthError

    config_dir = opts.get("config")
    ctx = Context(
        host=str(opts["host"]) if "host" in opts else (str(opts["H"]) if "H" in opts else None),
        config_dir=str(config_dir) if isinstance(config_dir, str) else None,
        debug=bool(opts.get("debug") or opts.get("D")),
    )
    ctx.tls = _tls_config(opts, ctx.config_dir)  # type: ignore[assignment]  # TLSConfig or None
    ctx.command = display
    module_name, _, func_name = target.partition(":")
    # __import__, not importlib.import_module: importlib (with warnings) costs ~0.7 ms of ps -q's start-up
    module = getattr(__import__(f"berth.cli.{module_name}").cli, module_name)
    func = getattr(module, func_name)
    try:
        return int(func(ctx, args))
    except StatusExit as exc:
        return exc.code
    except UsageError as exc:
        message = str(exc)
        if message.startswith("the following arguments are required"):
            sys.stderr.write(
                f"berth: 'berth {display}' requires more arguments ({message.split(': ', 1)[-1]})\n"
            )
            sys.stderr.write(f"\nSee 'berth {display} --help'.\n")
            return 1
        if message.startswith("unrecognized arguments: "):
            message = "unknown flag: " + message.removeprefix("unrecognized arguments: ").split()[0]
        if exc.usage:  # docker's layout: the error, the usage line, the help hint
            sys.stderr.write(
                f"{message}\n\nUsage:  {exc.usage}\n\nRun 'berth {display} --help' for more information\n"
            )
        else:
            sys.stderr.write(f"{message}\nSee 'berth {display} --help'.\n")
        return 125
    except CLIError as exc:
        sys.stderr.write(f"{exc.prefix}{exc}\n")
        return exc.code
    except BerthError as exc:
        from berth.client.api import APIError
        from berth.client.http import DaemonUnreachable

        if isinstance(exc, DaemonUnreachable):
            sys.stderr.write(f"{exc}\n")
        elif isinstance(exc, APIError):
            sys.stderr.write(f"Error response from daemon: {exc}\n")
        else:
            sys.stderr.write(f"Error: {exc}\n")
        return 125 if display in ("run", "container run") else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        ctx.close()


def main() -> None:
    """Console-script entry point."""
    code = run(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib costs start-up time; this is the hot path
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # reader went away (``berth ps | head``): nothing left to tell it
    # Skip the interpreter's teardown (~2 ms of every command): commands close their files
    # themselves, and only the standard streams, flushed above, may still hold output.
    os._exit(code)


if __name__ == "__main__":
    main()
