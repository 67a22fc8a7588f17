"""The flags of ``run`` and ``create``, as data: argparse is built from this table (for ``--help`` and
error messages) and so is the hand parser of the usual invocations (``quickflags``), so the two can
never disagree on a flag. Nothing here imports argparse: ``berth run`` starts ~6 ms sooner without it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.cli.parsing import Parser
    from berth.cli.quickflags import Flags


class Flag:
    """One flag: its spellings, ``kind`` (bool, value, list or help), default and argparse's metavar/help;
    ``convert`` checks or converts a value (int for counts), ``choices`` limits it."""

    __slots__ = ("names", "kind", "default", "convert", "choices", "metavar", "help", "dest")

    def __init__(
        self,
        names: tuple[str, ...],
        kind: str,
        *,
        help: str,  # noqa: A002 - argparse's own name for it
        default: Any = None,
        convert: Callable[[str], Any] | None = None,
        choices: list[str] | None = None,
        metavar: str | None = None,
    ) -> None:
        self.names = names
        self.kind = kind
        self.default = False if kind == "bool" else ([] if kind == "list" else default)
        self.convert = convert
        self.choices = choices
        self.metavar = metavar
        self.help = help
        long_name = next(n for n in names if n.startswith("--"))
        self.dest = long_name[2:].replace("-", "_")


CREATE_FLAGS = (
    Flag(("--add-host",), "list", metavar="list", help="Add a custom host-to-IP mapping (host:ip)"),
    Flag(("-a", "--attach"), "list", metavar="list", help="Attach to STDIN, STDOUT or STDERR"),
    Flag(("--cap-add",), "list", metavar="list", help="Add Linux capabilities"),
    Flag(("--cap-drop",), "list", metavar="list", help="Drop Linux capabilities"),
    Flag(
        ("--cgroup-parent",),
        "value",
        default="",
        metavar="string",
        help="Optional parent cgroup for the container",
    ),
    Flag(
        ("--cpu-shares", "-c"),
        "value",
        default=0,
        convert=int,
        metavar="int",
        help="CPU shares (relative weight)",
    ),
    Flag(("--cpus",), "value", default="", metavar="decimal", help="Number of CPUs"),
    Flag(("--dns",), "list", metavar="list", help="Set custom DNS servers"),
    Flag(("--dns-option",), "list", metavar="list", help="Set DNS options"),
    Flag(("--dns-search",), "list", metavar="list", help="Set custom DNS search domains"),
    Flag(("-e", "--env"), "list", metavar="list", help="Set environment variables"),
    Flag(("--env-file",), "list", metavar="list", help="Read in a file of environment variables"),
    Flag(
        ("--entrypoint",),
        "value",
        default=None,
        metavar="string",
        help="Overwrite the default ENTRYPOINT of the image",
    ),
    Flag(("--expose",), "list", metavar="list", help="Expose a port or a range of ports"),
    Flag(("--health-cmd",), "value", default=None, metavar="string", help="Command to run to check health"),
    Flag(
        ("--health-interval",),
        "value",
        default=None,
        metavar="duration",
        help="Time between running the check (ms|s|m|h)",
    ),
    Flag(
        ("--health-retries",),
        "value",
        default=0,
        convert=int,
        metavar="int",
        help="Consecutive failures needed to report unhealthy",
    ),
    Flag(
        ("--health-start-period",),
        "value",
        default=None,
        metavar="duration",
        help="Start period for the container to initialize",
    ),
    Flag(
        ("--health-start-interval",),
        "value",
        default=None,
        metavar="duration",
        help="Time between checks during the start period",
    ),
    Flag(
        ("--health-timeout",),
        "value",
        default=None,
        metavar="duration",
        help="Maximum time to allow one check to run",
    ),
    Flag(("--no-healthcheck",), "bool", help="Disable any container-specified HEALTHCHECK"),
    Flag(("-h", "--hostname"), "value", default="", metavar="string", help="Container host name"),
    Flag(("--help",), "help", help="Print usage"),
    Flag(
        ("--init",), "bool", help="Run an init inside the container that forwards signals and reaps processes"
    ),
    Flag(("-i", "--interactive"), "bool", help="Keep STDIN open even if not attached"),
    Flag(("--ip",), "value", default="", metavar="string", help="IPv4 address (e.g., 172.30.100.104)"),
    Flag(("--ipc",), "value", default="", metavar="string", help="IPC mode to use"),
    Flag(("-l", "--label"), "list", metavar="list", help="Set meta data on a container"),
    Flag(("--log-driver",), "value", default="", metavar="string", help="Logging driver for the container"),
    Flag(("--log-opt",), "list", metavar="list", help="Log driver options"),
    Flag(("-m", "--memory"), "value", default="", metavar="bytes", help="Memory limit"),
    Flag(
        ("--memory-swap",),
        "value",
        default="",
        metavar="bytes",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    ),
    Flag(("--name",), "value", default="", metavar="string", help="Assign a name to the container"),
    Flag(
        ("--network", "--net"),
        "value",
        default="",
        metavar="network",
        help="Connect a container to a network",
    ),
    Flag(("--network-alias",), "list", metavar="list", help="Add network-scoped alias for the container"),
    Flag(("--pid",), "value", default="", metavar="string", help="PID namespace to use"),
    Flag(
        ("--pids-limit",),
        "value",
        default=0,
        convert=int,
        metavar="int",
        help="Tune container pids limit (set -1 for unlimited)",
    ),
    Flag(
        ("--platform",),
        "value",
        default="",
        metavar="string",
        help="Set platform if server is multi-platform capable",
    ),
    Flag(("--privileged",), "bool", help="Give extended privileges to this container"),
    Flag(("-p", "--publish"), "list", metavar="list", help="Publish a container's port(s) to the host"),
    Flag(("-P", "--publish-all"), "bool", help="Publish all exposed ports to random ports"),
    Flag(
        ("--pull",),
        "value",
        default="missing",
        choices=["always", "missing", "never"],
        metavar="string",
        help='Pull image before running ("always", "missing", "never")',
    ),
    Flag(("--read-only",), "bool", help="Mount the container's root filesystem as read only"),
    Flag(
        ("--restart",),
        "value",
        default="no",
        metavar="string",
        help="Restart policy to apply when a container exits",
    ),
    Flag(("--rm",), "bool", help="Automatically remove the container and its volumes when it exits"),
    Flag(("--security-opt",), "list", metavar="list", help="Security Options"),
    Flag(("--shm-size",), "value", default="", metavar="bytes", help="Size of /dev/shm"),
    Flag(("--stop-signal",), "value", default="", metavar="string", help="Signal to stop the container"),
    Flag(
        ("--stop-timeout",),
        "value",
        default=None,
        convert=int,
        metavar="int",
        help="Timeout (in seconds) to stop a container",
    ),
    Flag(("--tmpfs",), "list", metavar="list", help="Mount a tmpfs directory"),
    Flag(("-t", "--tty"), "bool", help="Allocate a pseudo-TTY"),
    Flag(
        ("-u", "--user"),
        "value",
        default="",
        metavar="string",
        help="Username or UID (format: <name|uid>[:<group|gid>])",
    ),
    Flag(("--uts",), "value", default="", metavar="string", help="UTS namespace to use"),
    Flag(("-v", "--volume"), "list", metavar="list", help="Bind mount a volume"),
    Flag(("--volumes-from",), "list", metavar="list", help="Mount volumes from the specified container(s)"),
    Flag(
        ("-w", "--workdir"),
        "value",
        default="",
        metavar="string",
        help="Working directory inside the container",
    ),
)

RUN_ONLY_FLAGS = (
    Flag(("-d", "--detach"), "bool", help="Run container in background and print container ID"),
    Flag(("--detach-keys",), "value", metavar="string", help="Override the key sequence for detaching"),
    Flag(
        ("--sig-proxy",),
        "value",
        default="true",
        metavar="bool",
        help="Proxy received signals to the process",
    ),
)


def flags_for(run: bool) -> tuple[Flag, ...]:
    return CREATE_FLAGS + RUN_ONLY_FLAGS if run else CREATE_FLAGS


def add_to_parser(parser: Parser, run: bool) -> None:
    """Register the flags with argparse (``--help`` lists them in this order, as docker does)."""
    for flag in flags_for(run):
        options: dict[str, Any] = {"help": flag.help, "dest": flag.dest}
        if flag.kind == "help":
            parser.add_argument(*flag.names, action="help", help=flag.help)
            continue
        if flag.kind == "bool":
            options["action"] = "store_true"
        else:
            options["default"] = flag.default
            options["metavar"] = flag.metavar
            if flag.kind == "list":
                options["action"] = "append"
                options["default"] = []
            if flag.convert is not None:
                options["type"] = flag.convert
            if flag.choices is not None:
                options["choices"] = flag.choices
        parser.add_argument(*flag.names, **options)


def _choice(choices: list[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(value)
        return value

    return check


def quick_parser(run: bool) -> Flags:
    """The same flags for ``quickflags`` (which gives up on anything else, e.g. ``--help``)."""
    from berth.cli.quickflags import Flags

    bools: dict[str, str] = {}
    values: dict[str, str] = {}
    convert: dict[str, Callable[[str], Any]] = {}
    defaults: dict[str, Any] = {}
    lists = set()
    for flag in flags_for(run):
        if flag.kind == "help":
            continue  # --help: the quick parser gives up and argparse prints the usage
        for name in flag.names:
            (bools if flag.kind == "bool" else values)[name] = flag.dest
        if flag.kind == "list":
            lists.add(flag.dest)
        elif flag.kind == "value":
            defaults[flag.dest] = flag.default
        if flag.convert is not None:
            convert[flag.dest] = flag.convert
        elif flag.choices is not None:
            convert[flag.dest] = _choice(flag.choices)
    return Flags(bools=bools, values=values, lists=lists, convert=convert, defaults=defaults)
