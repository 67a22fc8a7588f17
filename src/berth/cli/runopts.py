"""``run``/``create`` flags -> the ``POST /containers/create`` body, shaped exactly as docker 28.2.2
sends it (captured from the real CLI by tests/unit/cli/capture_docker.py; key order and defaults
included, since some daemons and tests compare bodies byte for byte). ``hostconfig`` builds the
``HostConfig`` part, ``endpoints`` the ``NetworkingConfig``.

    ns = parse_run_args(["-e", "A=B", "busybox", "echo", "hi"], run=True, make_parser=…)
    build_create_body(ns)["Cmd"] == ["echo", "hi"]

Values docker checks while building the request (``--pid``, ``--device``, ``--expose``…) are refused
with ``RunFlagError``, which ``run``/``create`` print as docker does (``berth: MSG`` + the help hint,
status 125).
"""

from __future__ import annotations

from berth.cli.command import CLIError, split_at_positional
from berth.cli.envvars import env_list, parse_env_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.cli.parsing import Parser


class RunFlagError(CLIError):
    """A ``run``/``create`` flag value docker refuses while building the request (exit 125)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 125, prefix="berth: ")


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: ``64m`` -> 67108864; ``-1`` stays -1. CLIError if malformed."""
    from berth.cli.goparse import ram_in_bytes as parse
    from berth.cli.goparse import swap_bytes

    try:
        return swap_bytes(text.strip().lower()) if text.strip() == "-1" else parse(text.strip())
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def parse_duration(text: str) -> int:
    """Go ``time.ParseDuration`` -> nanoseconds (``1m30s``, ``500ms``, ``0``)."""
    from berth.cli.goparse import parse_duration as parse

    try:
        return parse(text.strip())
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _port_range(text: str) -> tuple[int, int]:
    from berth.cli.goparse import parse_uint

    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        start = parse_uint(text, 16)
        return start, start
    parts = text.split("-")
    start, end = parse_uint(parts[0], 16), parse_uint(parts[1], 16)
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def parse_ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`` -> (ExposedPorts, PortBindings), as go-connections
    ``nat.ParsePortSpecs`` (``-p published=8080,target=80`` long form included)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for raw in specs:
        spec = raw
        if "=" in raw:
            params = {"protocol": "tcp"}
            for param in raw.split(","):
                pair = param.split("=")
                if len(pair) < 2:
                    raise RunFlagError(
                        f"invalid publish opts format (should be name=value but got '{param}')"
                    )
                params[pair[0]] = pair[1]
            spec = f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"
        parts = spec.split(":")
        container = parts[-1]
        ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        container, _, proto = container.partition("/")
        proto = proto or "tcp"
        if ip.startswith("[") and ip.endswith("]"):
            ip = ip[1:-1]
        if ip:
            from berth.cli.runvalues import ip_address

            try:
                ip_address(ip)
            except ValueError:
                raise RunFlagError(f"invalid IP address: {ip}") from None
        if not container:
            raise RunFlagError(f"no port specified: {spec}<empty>")
        try:
            start, end = _port_range(container)
        except ValueError:
            raise RunFlagError(f"invalid containerPort: {container}") from None
        h_start = h_end = 0
        if host_port:
            try:
                h_start, h_end = _port_range(host_port)
            except ValueError:
                raise RunFlagError(f"invalid hostPort: {host_port}") from None
            if end - start != h_end - h_start and end != start:
                raise RunFlagError(
                    f"invalid ranges specified for container and host Ports: {container} and {host_port}"
                )
        proto = proto.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise RunFlagError(f"invalid proto: {proto}")
        for i in range(end - start + 1):
            key = f"{start + i}/{proto}"
            host = str(h_start + i) if host_port else ""
            if start == end and h_start != h_end:
                host = f"{host}-{h_end}"
            exposed[key] = {}
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return dict(sorted(exposed.items())), dict(sorted(bindings.items()))


def _expose(specs: list[str], exposed: dict[str, Any]) -> None:
    for spec in specs:
        if ":" in spec:
            raise RunFlagError(f"invalid port format for --expose: {spec}")
        port, _, proto = spec.partition("/")
        try:
            start, end = _port_range(port)
        except ValueError as exc:
            raise RunFlagError(f"invalid range format for --expose: {spec}, error: {exc}") from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto or 'tcp'}", {})


def parse_run_args(argv: list[str], *, run: bool, make_parser: Callable[[], Parser]) -> Any:
    """Parse up to the image; everything after it is the container's command (``.args``).

    The usual invocations are parsed by hand from the flag table (``runflags``); anything else —
    ``--help``, an unknown flag, an unusual spelling — goes to the argparse parser ``make_parser``
    builds. Both results are then checked and converted by ``runflags.finish``.
    """
    from berth.cli import runflags
    from berth.cli.quickflags import Options

    quick = runflags.quick_parser(run).parse(argv, positionals=True)
    if quick is not None and quick[1]:
        values, (image, *args) = quick
        runflags.finish(values, run)
        return Options({**values, "image": image, "args": args})
    p = make_parser()
    head, rest = split_at_positional(p, argv)
    head, overrides = runflags.bool_overrides(head, run)
    ns = p.parse_args(head)
    vars(ns).update(overrides)
    runflags.finish(vars(ns), run)
    ns.args = rest
    return ns


def _read_file_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise RunFlagError(f"open {path}: {reason}") from exc


def _labels(files: list[str], items: list[str]) -> dict[str, str]:
    """``--label-file`` lines (``KEY=VALUE``; comments, blank lines and bare keys skipped) then ``-l``."""
    entries: list[str] = []
    for path in files:
        for raw in _read_file_lines(path):
            line = raw.lstrip()
            if line and not line.startswith("#") and "=" in line:
                entries.append(line)
    entries += items
    return {key: value for key, _, value in (e.partition("=") for e in entries)}


def _env(ns: Any) -> list[str]:
    env: list[str] = []
    try:
        for path in ns.env_file:
            env += parse_env_file(path)
    except CLIError as exc:
        raise RunFlagError(str(exc)) from exc
    return env + env_list(ns.env)


def _healthcheck(ns: Any) -> dict[str, Any] | None:
    durations = [
        ("Interval", ns.health_interval, "--health-interval"),
        ("Timeout", ns.health_timeout, "--health-timeout"),
        ("StartPeriod", ns.health_start_period, "--health-start-period"),
        ("StartInterval", ns.health_start_interval, "--health-start-interval"),
    ]
    have = bool(ns.health_cmd) or any(value for _, value, _ in durations) or ns.health_retries != 0
    if ns.no_healthcheck:
        if have:
            raise RunFlagError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    for _, value, name in durations:
        if value is not None and value < 0:
            raise RunFlagError(f"{name} cannot be negative")
    if ns.health_retries < 0:
        raise RunFlagError("--health-retries cannot be negative")
    health: dict[str, Any] = {}
    if ns.health_cmd:
        health["Test"] = ["CMD-SHELL", ns.health_cmd]
    for key, value, _ in durations:
        if value:
            health[key] = value
    if ns.health_retries:
        health["Retries"] = ns.health_retries
    return health


def build_create_body(ns: Any, *, detach: bool = False) -> dict[str, Any]:
    """The JSON body docker sends for ``create``/``run`` with these flags (see the module docstring)."""
    from berth.cli import endpoints, hostconfig

    if ns.mac_address:
        from berth.cli.runvalues import mac_address

        if not mac_address(ns.mac_address):
            raise RunFlagError(f"{ns.mac_address} is not a valid mac address")
    if ns.memory_swappiness != -1 and not 0 <= ns.memory_swappiness <= 100:
        raise RunFlagError(f"invalid value: {ns.memory_swappiness}. Valid memory swappiness range is 0-100")
    attach = set(ns.attach)
    attach_stdin = "stdin" in attach or ns.interactive
    attach_out = not attach or "stdout" in attach
    attach_err = not attach or "stderr" in attach
    if detach:
        attach_stdin = attach_out = attach_err = False
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for spec in ns.volume:
        if ":" in spec and not spec.startswith(":"):
            binds.append(spec)
        else:
            volumes[spec] = {}
    exposed, bindings = parse_ports(ns.publish)
    _expose(ns.expose, exposed)
    exposed = dict(sorted(exposed.items()))
    devices = hostconfig.devices(ns.device)
    env = _env(ns)
    labels = _labels(ns.label_file, ns.label)
    body: dict[str, Any] = {
        "Hostname": ns.hostname,
        "Domainname": ns.domainname,
        "User": ns.user,
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_out,
        "AttachStderr": attach_err,
    }
    if exposed:
        body["ExposedPorts"] = exposed
    host = hostconfig.build(ns, binds=binds, bindings=bindings, devices=devices)
    health = _healthcheck(ns)
    body.update(
        {
            "Tty": ns.tty,
            "OpenStdin": ns.interactive,
            "StdinOnce": bool(ns.interactive and attach_stdin),
            "Env": env or None,
            "Cmd": ns.args or None,
        }
    )
    if health is not None:
        body["Healthcheck"] = health
    body.update(
        {
            "Image": ns.image,
            "Volumes": volumes,
            "WorkingDir": ns.workdir,
            "Entrypoint": [ns.entrypoint] if ns.entrypoint is not None else None,
            "OnBuild": None,
            "Labels": labels,
        }
    )
    if ns.stop_signal is not None:
        body["StopSignal"] = ns.stop_signal
    if ns.stop_timeout is not None:
        body["StopTimeout"] = ns.stop_timeout
    body["HostConfig"] = host
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints.from_flags(ns)}
    return body


__all__ = [
    "RunFlagError",
    "build_create_body",
    "parse_duration",
    "parse_ports",
    "parse_run_args",
    "ram_in_bytes",
]
