"""``run``/``create`` flags -> the ``POST /containers/create`` body, shaped exactly as docker 28.2.2
sends it (captured from the real CLI; key order and defaults included, since some daemons and tests
compare bodies byte for byte).

    ns = parse_run_args(["-e", "A=B", "busybox", "echo", "hi"], run=True, make_parser=…)
    build_create_body(ns)["Cmd"] == ["echo", "hi"]
"""

from __future__ import annotations

from berth.cli.command import CLIError, split_at_positional
from berth.cli.envvars import env_list, parse_env_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.cli.parsing import Parser

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DURATION_PATTERN = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"  # ``re`` is imported only when used
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: ``64m`` -> 67108864; ``-1`` stays -1. CLIError if malformed."""
    import re

    value = text.strip().lower()
    if value == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?", value)
    if not m:
        raise CLIError(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_duration(text: str) -> int:
    """Go ``time.ParseDuration`` -> nanoseconds (``1m30s``, ``500ms``, ``0``)."""
    import re

    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0
    pos, total = 0, 0.0
    for m in re.finditer(_DURATION_PATTERN, value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_NS[m.group(2)]
        pos = m.end()
    if pos != len(value) or not value:
        raise CLIError(f'time: invalid duration "{text}"')
    return int(total)


def parse_ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`` -> (ExposedPorts, PortBindings)."""
    if not specs:
        return {}, {}
    import re

    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        rest, _, proto = spec.partition("/")
        proto = proto or "tcp"
        ip = ""
        if rest.startswith("["):
            ip, _, rest = rest[1:].partition("]")
            rest = rest.removeprefix(":")
        parts = rest.split(":")
        if len(parts) == 1:
            host_port, container_port = "", parts[0]
        elif len(parts) == 2:
            host_port, container_port = parts
        elif len(parts) == 3 and not ip:
            ip, host_port, container_port = parts
        else:
            raise CLIError(f"invalid port format: {spec}")
        if not re.fullmatch(r"\d+(-\d+)?", container_port) or (
            host_port and not re.fullmatch(r"\d+(-\d+)?", host_port)
        ):
            raise CLIError(f"invalid port format for --publish: {spec}")
        c_start, _, c_end = container_port.partition("-")
        c_range = list(range(int(c_start), int(c_end or c_start) + 1))
        if host_port:
            h_start, _, h_end = host_port.partition("-")
            h_range = [str(p) for p in range(int(h_start), int(h_end or h_start) + 1)]
            if len(c_range) > 1 and len(h_range) != len(c_range):
                raise CLIError(f"invalid ranges specified for container and host Ports: {spec}")
        else:
            h_range = [""] * len(c_range)
        for i, port in enumerate(c_range):
            key = f"{port}/{proto}"
            exposed[key] = {}
            host = host_port if (host_port and len(c_range) == 1) else h_range[i]
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return dict(sorted(exposed.items())), dict(sorted(bindings.items()))


def _labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _caps(caps: list[str]) -> list[str]:
    """docker normalises capability names: upper case with a ``CAP_`` prefix (``ALL`` stays)."""
    out = []
    for cap in caps:
        name = cap.strip().upper()
        out.append(name if name == "ALL" or name.startswith("CAP_") else "CAP_" + name)
    return out


def _restart(policy: str) -> dict[str, Any]:
    name, _, count = policy.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise CLIError(
            f"invalid restart policy: unknown policy '{name}'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if count and name != "on-failure":
        raise CLIError("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    try:
        retries = int(count) if count else 0
    except ValueError as exc:
        raise CLIError(f"invalid restart policy: invalid retry count '{count}'") from exc
    return {"Name": name or "no", "MaximumRetryCount": retries}


def parse_run_args(argv: list[str], *, run: bool, make_parser: Callable[[], Parser]) -> Any:
    """Parse up to the image; everything after it is the container's command (``.args``).

    The usual invocations are parsed by hand from the flag table (``runflags``); anything else —
    ``--help``, an unknown flag, a bad value — goes to the argparse parser ``make_parser`` builds.
    """
    from berth.cli import runflags
    from berth.cli.quickflags import Options

    quick = runflags.quick_parser(run).parse(argv, positionals=True)
    if quick is not None and quick[1]:
        values, (image, *args) = quick
        return Options({**values, "image": image, "args": args})
    p = make_parser()
    head, rest = split_at_positional(p, argv)
    ns = p.parse_args(head)
    ns.args = rest
    return ns


def build_create_body(ns: Any, *, detach: bool = False) -> dict[str, Any]:
    """The JSON body docker sends for ``create``/``run`` with these flags (see the module docstring)."""
    attach_out = not detach
    env = env_list(ns.env)
    for path in ns.env_file:
        env = parse_env_file(path) + env
    exposed, bindings = parse_ports(ns.publish)
    for spec in ns.expose:
        port, _, proto = spec.partition("/")
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    exposed = dict(sorted(exposed.items()))
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for spec in ns.volume:
        if ":" in spec and not spec.startswith(":"):
            binds.append(spec)
        else:
            volumes[spec] = {}
    body: dict[str, Any] = {
        "Hostname": ns.hostname,
        "Domainname": "",
        "User": ns.user,
        "AttachStdin": bool(ns.interactive and not detach),
        "AttachStdout": attach_out,
        "AttachStderr": attach_out,
    }
    if exposed:
        body["ExposedPorts"] = exposed
    body.update(
        {
            "Tty": ns.tty,
            "OpenStdin": ns.interactive,
            "StdinOnce": bool(ns.interactive and not detach),
            "Env": env or None,
            "Cmd": ns.args or None,
        }
    )
    health = _healthcheck(ns)
    if health is not None:
        body["Healthcheck"] = health
    body.update(
        {
            "Image": ns.image,
            "Volumes": volumes,
            "WorkingDir": ns.workdir,
            "Entrypoint": [ns.entrypoint] if ns.entrypoint is not None else None,
            "OnBuild": None,
            "Labels": _labels(ns.label),
        }
    )
    if ns.stop_signal:
        body["StopSignal"] = ns.stop_signal
    if ns.stop_timeout is not None:
        body["StopTimeout"] = ns.stop_timeout
    body["HostConfig"] = _host_config(ns, binds, bindings)
    endpoints: dict[str, Any] = {}
    if not ns.network:  # docker fills an endpoint only for the implicit default network
        endpoints["default"] = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "MacAddress": "",
            "DriverOpts": None,
            "GwPriority": 0,
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": None,
        }
    elif ns.network_alias or ns.ip:
        endpoints[ns.network] = {
            "Aliases": ns.network_alias or None,
            "IPAMConfig": {"IPv4Address": ns.ip} if ns.ip else None,
        }
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return body


def _healthcheck(ns: Any) -> dict[str, Any] | None:
    if ns.no_healthcheck:
        return {"Test": ["NONE"]}
    given = [
        ns.health_cmd,
        ns.health_interval,
        ns.health_timeout,
        ns.health_start_period,
        ns.health_start_interval,
    ]
    if all(v is None for v in given) and not ns.health_retries:
        return None
    health: dict[str, Any] = {}
    if ns.health_cmd is not None:
        health["Test"] = ["CMD-SHELL", ns.health_cmd]
    for key, value in (
        ("Interval", ns.health_interval),
        ("Timeout", ns.health_timeout),
        ("StartPeriod", ns.health_start_period),
        ("StartInterval", ns.health_start_interval),
    ):
        if value is not None:
            nanos = parse_duration(value)
            if nanos:
                health[key] = nanos
    if ns.health_retries:
        health["Retries"] = ns.health_retries
    return health


def _console_size(ns: Any) -> list[int]:
    """As the docker CLI: with -t, the terminal's [height, width], so the pty has it from the start."""
    if not ns.tty:
        return [0, 0]
    from berth.cli.streams import terminal_size

    size = terminal_size(1)
    return list(size) if size else [0, 0]


def _host_config(ns: Any, binds: list[str], bindings: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    nano_cpus = 0
    if ns.cpus:
        try:
            nano_cpus = int(round(float(ns.cpus) * 1e9))
        except ValueError as exc:
            raise CLIError(f'invalid argument "{ns.cpus}" for "--cpus" flag') from exc
    log_config: dict[str, Any] = {"Type": ns.log_driver, "Config": {}}
    for opt in ns.log_opt:
        key, _, value = opt.partition("=")
        log_config["Config"][key] = value
    hc: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": "",
        "LogConfig": log_config,
        "NetworkMode": ns.network or "default",
        "PortBindings": bindings,
        "RestartPolicy": _restart(ns.restart),
        "AutoRemove": ns.rm,
        "VolumeDriver": "",
        "VolumesFrom": ns.volumes_from or None,
        "ConsoleSize": _console_size(ns),
        "CapAdd": _caps(ns.cap_add) or None,
        "CapDrop": _caps(ns.cap_drop) or None,
        "CgroupnsMode": "",
        "Dns": ns.dns,
        "DnsOptions": ns.dns_option,
        "DnsSearch": ns.dns_search,
        "ExtraHosts": ns.add_host or None,
        "GroupAdd": None,
        "IpcMode": ns.ipc,
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": ns.pid,
        "Privileged": ns.privileged,
        "PublishAllPorts": ns.publish_all,
        "ReadonlyRootfs": ns.read_only,
        "SecurityOpt": ns.security_opt or None,
    }
    if ns.tmpfs:
        tmpfs = {}
        for spec in ns.tmpfs:
            path, _, opts = spec.partition(":")
            tmpfs[path] = opts
        hc["Tmpfs"] = tmpfs
    hc.update(
        {
            "UTSMode": ns.uts,
            "UsernsMode": "",
            "ShmSize": ram_in_bytes(ns.shm_size) if ns.shm_size else 0,
            "Isolation": "",
            "CpuShares": ns.cpu_shares,
            "Memory": ram_in_bytes(ns.memory) if ns.memory else 0,
            "NanoCpus": nano_cpus,
            "CgroupParent": ns.cgroup_parent,
            "BlkioWeight": 0,
            "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [],
            "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [],
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "CpusetCpus": "",
            "CpusetMems": "",
            "Devices": [],
            "DeviceCgroupRules": None,
            "DeviceRequests": None,
            "MemoryReservation": 0,
            "MemorySwap": ram_in_bytes(ns.memory_swap) if ns.memory_swap else 0,
            "MemorySwappiness": -1,
            "OomKillDisable": False,
            "PidsLimit": ns.pids_limit,
            "Ulimits": [],
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
            "MaskedPaths": None,
            "ReadonlyPaths": None,
        }
    )
    if ns.init:
        hc["Init"] = True
    return hc
