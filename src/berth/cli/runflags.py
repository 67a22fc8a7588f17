"""The flags of ``run`` and ``create`` (all of docker 28.2.2's), as data: argparse is built from this
table (for ``--help`` and unusual spellings) and so is the hand parser of the usual invocations
(``quickflags``), so the two never disagree on a flag. Nothing here imports argparse or ``re``:
``berth run`` starts ~6 ms sooner without them.

Both parsers leave values as typed; ``finish`` then checks and converts them with the docker CLI's
parsers (``goparse``, ``runvalues``, ``mountspec``, ``endpoints``; named "module:function" and imported
only when a flag that needs one is given) and refuses a bad one with pflag's words:
``invalid argument "x" for "--cpu-period" flag: strconv.ParseInt: parsing "x": invalid syntax``.
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
    ``check`` converts one given value (ValueError: refused) — a function, or "module:function" under
    berth.cli, imported on first use — and ``choices`` limits it."""

    __slots__ = ("names", "kind", "default", "check", "choices", "metavar", "help", "dest")

    def __init__(
        self,
        names: tuple[str, ...],
        kind: str,
        *,
        help: str,  # noqa: A002 - argparse's own name for it
        default: Any = None,
        check: Callable[[str], Any] | str | None = None,
        choices: list[str] | None = None,
        metavar: str | None = None,
    ) -> None:
        self.names = names
        self.kind = kind
        self.default = ([] if kind == "list" else default) if kind != "bool" else default
        self.check = check
        self.choices = choices
        self.metavar = metavar
        self.help = help
        long_name = names[0] if names[0][1] == "-" else names[1]
        self.dest = long_name[2:].replace("-", "_")

    def checker(self) -> Callable[[str], Any] | None:
        """The check function, imported now if it was named as "module:function"."""
        if isinstance(self.check, str):
            module, _, name = self.check.partition(":")
            package = __import__(f"berth.cli.{module}").cli
            function: Callable[[str], Any] = getattr(getattr(package, module), name)
            self.check = function
            return function
        return self.check

    @property
    def display(self) -> str:
        """As pflag names it in errors: ``-m, --memory`` or ``--ulimit``."""
        shorts = [n for n in self.names if not n.startswith("--")]
        long_name = next(n for n in self.names if n.startswith("--"))
        return f"{shorts[0]}, {long_name}" if shorts else long_name


def goquote(text: str) -> str:
    """Go's ``%q`` of a printable string (pflag quotes flag values with it in errors)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _b(names: tuple[str, ...], help: str, default: bool = False) -> Flag:  # noqa: A002
    return Flag(names, "bool", help=help, default=default)


def _v(names: tuple[str, ...], metavar: str, help: str, default: Any = "", **kw: Any) -> Flag:  # noqa: A002
    return Flag(names, "value", metavar=metavar, help=help, default=default, **kw)


def _l(names: tuple[str, ...], metavar: str, help: str, **kw: Any) -> Flag:  # noqa: A002
    return Flag(names, "list", metavar=metavar, help=help, **kw)


_int = "goparse:parse_int"
_bytes = "goparse:ram_in_bytes"

CREATE_FLAGS = (
    _l(("--add-host",), "list", "Add a custom host-to-IP mapping (host:ip)", check="runvalues:extra_host"),
    _l(("--annotation",), "map", "Add an annotation to the container (passed through to the OCI runtime)"),
    _l(("-a", "--attach"), "list", "Attach to STDIN, STDOUT or STDERR", check="runvalues:attach_stream"),
    _v(
        ("--blkio-weight",),
        "uint16",
        "Block IO (relative weight), between 10 and 1000, or 0 to disable",
        0,
        check="goparse:parse_uint16",
    ),
    _l(
        ("--blkio-weight-device",),
        "list",
        "Block IO weight (relative device weight)",
        check="runvalues:weight_device",
    ),
    _l(("--cap-add",), "list", "Add Linux capabilities"),
    _l(("--cap-drop",), "list", "Drop Linux capabilities"),
    _v(("--cgroup-parent",), "string", "Optional parent cgroup for the container"),
    _v(("--cgroupns",), "string", "Cgroup namespace to use (host|private)"),
    _v(("--cidfile",), "string", "Write the container ID to the file"),
    _v(("--cpu-count",), "int", "CPU count (Windows only)", 0, check=_int),
    _v(("--cpu-percent",), "int", "CPU percent (Windows only)", 0, check=_int),
    _v(("--cpu-period",), "int", "Limit CPU CFS (Completely Fair Scheduler) period", 0, check=_int),
    _v(("--cpu-quota",), "int", "Limit CPU CFS (Completely Fair Scheduler) quota", 0, check=_int),
    _v(("--cpu-rt-period",), "int", "Limit CPU real-time period in microseconds", 0, check=_int),
    _v(("--cpu-rt-runtime",), "int", "Limit CPU real-time runtime in microseconds", 0, check=_int),
    _v(("-c", "--cpu-shares"), "int", "CPU shares (relative weight)", 0, check=_int),
    _v(("--cpus",), "decimal", "Number of CPUs", 0, check="goparse:nano_cpus"),
    _v(("--cpuset-cpus",), "string", "CPUs in which to allow execution (0-3, 0,1)"),
    _v(("--cpuset-mems",), "string", "MEMs in which to allow execution (0-3, 0,1)"),
    _l(("--device",), "list", "Add a host device to the container"),
    _l(
        ("--device-cgroup-rule",),
        "list",
        "Add a rule to the cgroup allowed devices list",
        check="runvalues:device_cgroup_rule",
    ),
    _l(
        ("--device-read-bps",),
        "list",
        "Limit read rate (bytes per second) from a device",
        check="runvalues:throttle_bps",
    ),
    _l(
        ("--device-read-iops",),
        "list",
        "Limit read rate (IO per second) from a device",
        check="runvalues:throttle_iops",
    ),
    _l(
        ("--device-write-bps",),
        "list",
        "Limit write rate (bytes per second) to a device",
        check="runvalues:throttle_bps",
    ),
    _l(
        ("--device-write-iops",),
        "list",
        "Limit write rate (IO per second) to a device",
        check="runvalues:throttle_iops",
    ),
    _b(("--disable-content-trust",), "Skip image verification (default true)", True),
    _l(("--dns",), "list", "Set custom DNS servers", check="runvalues:ip_address"),
    _l(("--dns-option",), "list", "Set DNS options"),
    _l(("--dns-search",), "list", "Set custom DNS search domains"),
    _v(("--domainname",), "string", "Container NIS domain name"),
    _v(("--entrypoint",), "string", "Overwrite the default ENTRYPOINT of the image", None),
    _l(("-e", "--env"), "list", "Set environment variables"),
    _l(("--env-file",), "list", "Read in a file of environment variables"),
    _l(("--expose",), "list", "Expose a port or a range of ports"),
    _l(
        ("--gpus",),
        "gpu-request",
        "GPU devices to add to the container ('all' to pass all GPUs)",
        check="runvalues:gpu_request",
    ),
    _l(("--group-add",), "list", "Add additional groups to join"),
    _v(("--health-cmd",), "string", "Command to run to check health", None),
    _v(
        ("--health-interval",),
        "duration",
        "Time between running the check (ms|s|m|h)",
        None,
        check="goparse:parse_duration",
    ),
    _v(("--health-retries",), "int", "Consecutive failures needed to report unhealthy", 0, check=_int),
    _v(
        ("--health-start-interval",),
        "duration",
        "Time between running the check during the start period",
        None,
        check="goparse:parse_duration",
    ),
    _v(
        ("--health-start-period",),
        "duration",
        "Start period for the container to initialize",
        None,
        check="goparse:parse_duration",
    ),
    _v(
        ("--health-timeout",),
        "duration",
        "Maximum time to allow one check to run",
        None,
        check="goparse:parse_duration",
    ),
    Flag(("--help",), "help", help="Print usage"),
    _v(("-h", "--hostname"), "string", "Container host name"),
    Flag(
        ("--init",),
        "bool",
        default=None,
        help="Run an init inside the container that forwards signals and reaps processes",
    ),
    _b(("-i", "--interactive"), "Keep STDIN open even if not attached"),
    _v(
        ("--io-maxbandwidth",),
        "bytes",
        "Maximum IO bandwidth limit for the system drive (Windows only)",
        0,
        check=_bytes,
    ),
    _v(
        ("--io-maxiops",),
        "uint",
        "Maximum IOps limit for the system drive (Windows only)",
        0,
        check="goparse:parse_uint",
    ),
    _v(("--ip",), "string", "IPv4 address (e.g., 172.30.100.104)"),
    _v(("--ip6",), "string", "IPv6 address (e.g., 2001:db8::33)"),
    _v(("--ipc",), "string", "IPC mode to use"),
    _v(("--isolation",), "string", "Container isolation technology"),
    _v(("--kernel-memory",), "bytes", "Kernel memory limit", 0, check=_bytes),
    _l(("-l", "--label"), "list", "Set meta data on a container"),
    _l(("--label-file",), "list", "Read in a line delimited file of labels"),
    _l(("--link",), "list", "Add link to another container", check="runvalues:link"),
    _l(("--link-local-ip",), "list", "Container IPv4/IPv6 link-local addresses"),
    _v(("--log-driver",), "string", "Logging driver for the container"),
    _l(("--log-opt",), "list", "Log driver options"),
    _v(("--mac-address",), "string", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    _v(("-m", "--memory"), "bytes", "Memory limit", 0, check=_bytes),
    _v(("--memory-reservation",), "bytes", "Memory soft limit", 0, check=_bytes),
    _v(
        ("--memory-swap",),
        "bytes",
        "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
        0,
        check="goparse:swap_bytes",
    ),
    _v(("--memory-swappiness",), "int", "Tune container memory swappiness (0 to 100)", -1, check=_int),
    _l(("--mount",), "mount", "Attach a filesystem mount to the container", check="mountspec:parse_mount"),
    _v(("--name",), "string", "Assign a name to the container"),
    _l(
        ("--network", "--net"),
        "network",
        "Connect a container to a network",
        check="endpoints:network_attachment",
    ),
    _l(("--network-alias",), "list", "Add network-scoped alias for the container"),
    _b(("--no-healthcheck",), "Disable any container-specified HEALTHCHECK"),
    _b(("--oom-kill-disable",), "Disable OOM Killer"),
    _v(("--oom-score-adj",), "int", "Tune host's OOM preferences (-1000 to 1000)", 0, check=_int),
    _v(("--pid",), "string", "PID namespace to use"),
    _v(("--pids-limit",), "int", "Tune container pids limit (set -1 for unlimited)", 0, check=_int),
    _v(("--platform",), "string", "Set platform if server is multi-platform capable"),
    _b(("--privileged",), "Give extended privileges to this container"),
    _l(("-p", "--publish"), "list", "Publish a container's port(s) to the host"),
    _b(("-P", "--publish-all"), "Publish all exposed ports to random ports"),
    _v(
        ("--pull",),
        "string",
        'Pull image before running ("always", "missing", "never")',
        "missing",
        choices=["always", "missing", "never"],
    ),
    _b(("-q", "--quiet"), "Suppress the pull output"),
    _b(("--read-only",), "Mount the container's root filesystem as read only"),
    _v(("--restart",), "string", "Restart policy to apply when a container exits", "no"),
    _b(("--rm",), "Automatically remove the container and its associated anonymous volumes when it exits"),
    _v(("--runtime",), "string", "Runtime to use for this container"),
    _l(("--security-opt",), "list", "Security Options"),
    _v(("--shm-size",), "bytes", "Size of /dev/shm", 0, check=_bytes),
    _v(("--stop-signal",), "string", "Signal to stop the container", None),
    _v(("--stop-timeout",), "int", "Timeout (in seconds) to stop a container", None, check=_int),
    _l(("--storage-opt",), "list", "Storage driver options for the container"),
    _l(("--sysctl",), "map", "Sysctl options", check="runvalues:sysctl"),
    _l(("--tmpfs",), "list", "Mount a tmpfs directory"),
    _b(("-t", "--tty"), "Allocate a pseudo-TTY"),
    _l(("--ulimit",), "ulimit", "Ulimit options", check="runvalues:ulimit"),
    _b(("--use-api-socket",), "Bind mount Docker API socket and required auth"),
    _v(("-u", "--user"), "string", "Username or UID (format: <name|uid>[:<group|gid>])"),
    _v(("--userns",), "string", "User namespace to use"),
    _v(("--uts",), "string", "UTS namespace to use"),
    _l(("-v", "--volume"), "list", "Bind mount a volume"),
    _v(("--volume-driver",), "string", "Optional volume driver for the container"),
    _l(("--volumes-from",), "list", "Mount volumes from the specified container(s)"),
    _v(("-w", "--workdir"), "string", "Working directory inside the container"),
)

RUN_ONLY_FLAGS = (
    _b(("-d", "--detach"), "Run container in background and print container ID"),
    _v(("--detach-keys",), "string", "Override the key sequence for detaching a container", None),
    _b(("--sig-proxy",), "Proxy received signals to the process (default true)", True),
)


def flags_for(run: bool) -> tuple[Flag, ...]:
    return CREATE_FLAGS + RUN_ONLY_FLAGS if run else CREATE_FLAGS


def _raw_default(flag: Flag) -> Any:
    """What both parsers leave for a flag not given: None for checked values (``finish`` fills in)."""
    if flag.kind == "value" and flag.check is not None:
        return None
    return flag.default


def add_to_parser(parser: Parser, run: bool) -> None:
    """Register the flags with argparse (``--help`` lists them in this order, as docker does)."""
    register(parser, flags_for(run))


def register(parser: Parser, flags: tuple[Flag, ...]) -> None:
    """Add ``flags`` to an argparse parser; their values stay as typed until ``check``."""
    for flag in flags:
        options: dict[str, Any] = {"help": flag.help, "dest": flag.dest}
        if flag.kind == "help":
            parser.add_argument(*flag.names, action="help", help=flag.help)
            continue
        if flag.kind == "bool":
            options["action"] = "store_true"
            options["default"] = flag.default
        else:
            options["default"] = _raw_default(flag)
            options["metavar"] = flag.metavar
            if flag.kind == "list":
                options["action"] = "append"
                options["default"] = []
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
        elif flag.kind == "value" or flag.default is not False:
            defaults[flag.dest] = _raw_default(flag)
        if flag.choices is not None:
            convert[flag.dest] = _choice(flag.choices)
    return Flags(bools=bools, values=values, lists=lists, convert=convert, defaults=defaults)


def bool_overrides(argv: list[str], run: bool) -> tuple[list[str], dict[str, bool]]:
    """docker's ``--rm=false`` spelling for argparse: the ``--bool=VALUE`` arguments taken out of ``argv``
    and returned as {dest: value}. A bad VALUE is refused as pflag does."""
    from berth.cli.command import UsageError

    by_name = {name: f for f in flags_for(run) if f.kind == "bool" for name in f.names}
    kept: list[str] = []
    overrides: dict[str, bool] = {}
    for arg in argv:
        name, eq, value = arg.partition("=")
        flag = by_name.get(name) if eq and name.startswith("--") else None
        if flag is None:
            kept.append(arg)
            continue
        try:
            from berth.cli.goparse import parse_bool

            overrides[flag.dest] = parse_bool(value)
        except ValueError as exc:
            raise UsageError(f'invalid argument {goquote(value)} for "{flag.display}" flag: {exc}') from None
    return kept, overrides


def finish(values: dict[str, Any], run: bool) -> None:
    """Check and convert the given values in place (see the module docstring)."""
    check(values, flags_for(run))


def check(values: dict[str, Any], flags: tuple[Flag, ...], usage: str = "") -> None:
    """Convert the values of ``flags`` in place; UsageError in pflag's words for a bad one (``usage``
    is the command's usage line, shown after the error)."""
    from berth.cli.command import UsageError

    for flag in flags:
        if flag.check is None or flag.kind not in ("value", "list"):
            continue
        raw = values.get(flag.dest)
        if flag.kind == "value" and raw is None:
            values[flag.dest] = flag.default
            continue
        items: list[str] = list(raw or []) if flag.kind == "list" else [str(raw)]
        if not items:
            continue
        convert = flag.checker()
        if convert is None:
            continue
        converted = []
        for item in items:
            try:
                converted.append(convert(item))
            except ValueError as exc:
                raise UsageError(
                    f'invalid argument {goquote(item)} for "{flag.display}" flag: {exc}', usage=usage
                ) from None
        values[flag.dest] = converted if flag.kind == "list" else converted[0]
