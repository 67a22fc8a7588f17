"""berthd's configuration: command-line flags merged over a daemon.json-style ``--config-file``.

The file's ``builder`` object is daemon.json's (``builder_config.py``): ``{"builder": {"gc": {"enabled":
true, "defaultKeepStorage": "10GB"}}}`` bounds the build cache; it has no flags, as in dockerd.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from berth.daemon import builder_config
from berth.errors import InvalidArgument

DEFAULT_HOST = "unix:///run/berth/berth.sock"


@dataclass(slots=True)
class DaemonConfig:
    """Every setting berthd has; keys of ``--config-file`` use the flag names with dashes."""

    data_root: Path = Path("/var/lib/berth")
    exec_root: Path = Path("/run/berth")
    hosts: list[str] = field(default_factory=list)
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    # tcp hosts need mutual TLS (--tlsverify); this forces a tcp host without it (and logs a warning)
    insecure_tcp: bool = False
    default_registry: str = "localhost:5000"
    registry_mirrors: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    cgroup_parent: str = "berth"
    bip: str = "172.30.0.1/16"
    bridge: str = "berth0"  # the Linux bridge of the default "bridge" network
    log_level: str = "info"
    log_max_size: int = 20 * 1024 * 1024
    log_max_files: int = 5
    userns_remap: str = ""  # "default" or USER[:GROUP]: containers' root is a host range (daemon/remap.py)
    seccomp_profile: str = "builtin"  # "builtin" (Docker's default), "unconfined", or a profile's path
    ip_forward: bool = True  # turn on net.ipv4.ip_forward for bridge networks (Docker's --ip-forward)
    ip_masq: bool = True  # masquerade bridge networks' traffic to the outside (Docker's --ip-masq)
    metrics_addr: str = (
        ""  # HOST:PORT of the Prometheus /metrics listener (dockerd's --metrics-addr); "": none
    )
    cleanup: bool = False  # remove Berth's host state (its nftables table, bridges) and exit
    # the build cache's GC after each build (``builder.gc`` in the file; sizes in bytes, 0: unset —
    # with all three unset, the reserved space is 10% of the data root's filesystem)
    builder_gc: bool = True
    builder_gc_reserved_space: int = 0
    builder_gc_max_used_space: int = 0
    builder_gc_min_free_space: int = 0

    def effective_hosts(self) -> list[str]:
        return self.hosts or [DEFAULT_HOST]


_ALIASES = {
    "data-root": "data_root",
    "exec-root": "exec_root",
    "hosts": "hosts",
    "host": "hosts",
    "default-registry": "default_registry",
    "registry-mirrors": "registry_mirrors",
    "insecure-registries": "insecure_registries",
    "cgroup-parent": "cgroup_parent",
    "log-level": "log_level",
    "log-opts": "",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="berthd",
        description="The Berth daemon: serves the Docker Engine API and runs containers.",
        epilog="Example:\n  berthd --data-root /tmp/b/data --exec-root /tmp/b/run -H unix:///tmp/b/berth.sock",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-root", type=Path, help="images, containers, volumes (default /var/lib/berth)")
    p.add_argument("--exec-root", type=Path, help="runtime state, sockets, pid files (default /run/berth)")
    p.add_argument("-H", "--host", dest="hosts", action="append", help="unix:///path or tcp://HOST:PORT")
    p.add_argument("--tlsverify", action="store_true", default=None, help="require client certificates")
    p.add_argument("--tlscacert", help="CA that signs client certificates")
    p.add_argument("--tlscert", help="server certificate")
    p.add_argument("--tlskey", help="server key")
    p.add_argument(
        "--insecure-tcp",
        action="store_true",
        default=None,
        help="allow a tcp host without --tlsverify (anyone who reaches it controls this host)",
    )
    p.add_argument("--default-registry", help="where unqualified names are pulled from")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append")
    p.add_argument("--cgroup-parent", help="parent cgroup of containers, relative to berthd's own")
    p.add_argument("--bip", help="default bridge network's address and subnet (default 172.30.0.1/16)")
    p.add_argument(
        "-b", "--bridge", help="name of the default bridge network's Linux bridge (default berth0)"
    )
    p.add_argument(
        "--userns-remap",
        help='user/group for the containers\' user namespaces: "default" (the berth-remap user) or USER[:GROUP]',
    )
    p.add_argument(
        "--seccomp-profile",
        help='path to a seccomp profile (Docker\'s JSON format); "unconfined" turns the default off '
        '(default "builtin")',
    )
    for flag, text in (
        ("--ip-forward", "turn on IP forwarding for bridge networks (default true)"),
        ("--ip-masq", "masquerade containers' outbound traffic to the host's address (default true)"),
    ):
        p.add_argument(flag, type=_go_bool, nargs="?", const=True, metavar="true|false", help=text)
    p.add_argument("--metrics-addr", help="HOST:PORT to serve Prometheus metrics on (/metrics); default none")
    p.add_argument(
        "--cleanup",
        action="store_true",
        default=None,
        help="remove Berth's host state (its nftables table, its bridges) and exit; "
        "refused while containers run",
    )
    p.add_argument("--config-file", type=Path, help="JSON file with the same keys as the flags")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return p


def _go_bool(text: str) -> bool:
    """A flag's boolean as Go's flag package reads it (``--ip-forward=false``)."""
    if text in {"1", "t", "T", "true", "TRUE", "True"}:
        return True
    if text in {"0", "f", "F", "false", "FALSE", "False"}:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}: true or false")


def _from_file(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"unable to read config file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidArgument(f"config file {path} must hold a JSON object")
    known = {f.name for f in fields(DaemonConfig)} - builder_config.FIELDS
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "builder":
            out.update(builder_config.parse(value, f"config file {path}"))
            continue
        name = _ALIASES.get(key, key.replace("-", "_"))
        if name == "":
            continue
        if name not in known:
            raise InvalidArgument(f"config file {path}: unknown key {key!r}")
        out[name] = value
    return out


def load(argv: list[str] | None = None) -> DaemonConfig:
    """Flags override the config file, which overrides the defaults."""
    args = parser().parse_args(argv)
    values: dict[str, Any] = {}
    if args.config_file:
        values.update(_from_file(args.config_file))
    for f in fields(DaemonConfig):
        flag = getattr(args, f.name, None)
        if flag is not None:
            values[f.name] = flag
    config = DaemonConfig(**values)
    config.data_root = Path(config.data_root).absolute()
    config.exec_root = Path(config.exec_root).absolute()
    _check_tls(config)
    if config.metrics_addr:
        metrics_address(config.metrics_addr)
    return config


def metrics_address(addr: str) -> tuple[str, int]:
    """``--metrics-addr HOST:PORT`` as (host, port); InvalidArgument for anything else."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid --metrics-addr {addr!r}: use HOST:PORT, as 127.0.0.1:9323")
    return host.strip("[]"), int(port)


def seccomp_profile_text(config: DaemonConfig) -> str:
    """The daemon's default profile for containers: "" (Docker's builtin), "unconfined", or the
    JSON of ``--seccomp-profile FILE`` (read once at start, as dockerd does)."""
    chosen = config.seccomp_profile or "builtin"
    if chosen in ("builtin", "unconfined"):
        return "" if chosen == "builtin" else chosen
    try:
        return Path(chosen).read_text()
    except OSError as exc:
        raise InvalidArgument(f"opening seccomp profile ({chosen}) failed: {exc.strerror}") from exc


def _check_tls(config: DaemonConfig) -> None:
    """Refuse, before anything starts, TLS settings that would leave a tcp host open by mistake."""
    if config.tlsverify and not (config.tlscacert and config.tlscert and config.tlskey):
        raise InvalidArgument("--tlsverify needs --tlscacert, --tlscert and --tlskey")
    if bool(config.tlscert) != bool(config.tlskey):
        raise InvalidArgument("--tlscert and --tlskey go together")
    tcp = [h for h in config.effective_hosts() if h.startswith("tcp://")]
    if tcp and not config.tlsverify and not config.insecure_tcp:
        raise InvalidArgument(
            f"refusing to serve {tcp[0]} without mutual TLS: pass --tlsverify --tlscacert F --tlscert F "
            "--tlskey F (make them with 'berth certs'), or --insecure-tcp to force it"
        )
