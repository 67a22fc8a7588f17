"""Registries as real processes on loopback ports, for tests and benchmarks: berth-registry
(``start_berth_registry``) and Debian's CNCF distribution 2.8 (``start_distribution``). Each runs on a
free 127.0.0.1 port with its own root and log file and is stopped by its PID (``RegistryProcess.stop``).

    registry = start_berth_registry(tmp / "reg", users={"alice": "pw"})
    try:
        status, headers, body = registry.request("GET", "/v2/")
    finally:
        registry.stop()
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DISTRIBUTION = Path("/usr/bin/docker-registry")  # Debian's docker-registry package


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_command() -> list[str]:
    """The installed ``berth-registry`` console script if present, else ``python -m``."""
    script = REPO_ROOT / ".venv" / "bin" / "berth-registry"
    return [str(script)] if script.exists() else [sys.executable, "-m", "berth.registry.main"]


def registry_cli(
    root: Path, *args: str, stdin: str | None = None, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``berth-registry --root ROOT [--config FILE] ARGS`` (user, org, team, repo, gc…)."""
    extra = ["--config", str(config)] if config else []
    return subprocess.run(
        [*registry_command(), "--root", str(root), *extra, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class RegistryProcess:
    """A running registry: ``kind`` names it ("berth-registry", "docker-registry"), ``users`` are the
    accounts it was started with (name -> password), ``scheme`` is http or https."""

    kind: str
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    users: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    config: Path | None = None  # the --config it was started with; its CLI uses the same

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The berth-registry CLI on this registry's root."""
        return registry_cli(self.root, *args, stdin=stdin, config=self.config)

    def request(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request (plain HTTP only); (status, headers, body), error statuses included."""
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def stop(self) -> None:
        """Terminate (then kill) the process this harness started, by its PID."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _serve(registry: RegistryProcess) -> RegistryProcess:
    """Wait until ``registry`` listens; stop it and raise with its log if it does not."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"{registry.kind} exited: {registry.log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", registry.port), timeout=0.2):
                return registry
        except OSError:
            time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"{registry.kind} did not listen on {registry.port}: {registry.log.read_text()}")


def add_accounts(root: Path, accounts: list[tuple[str, str, bool]], config: Path | None = None) -> None:
    """(name, password, admin) accounts made in this process, hashed with bcrypt's cheapest cost:
    ``berth-registry user add`` per account costs ~1.3 s (its imports, 12 rounds), and every login
    of a test would pay the 12 rounds again. Tests of the CLI itself call ``registry_cli``."""
    import dataclasses

    from berth.registry import config as config_mod
    from berth.registry.service import Registry

    registry = Registry(dataclasses.replace(config_mod.load(root, config), bcrypt_rounds=4))
    try:
        for name, password, admin in accounts:
            registry.accounts.add_user(name, password, admin=admin)
    finally:
        registry.close()


def start_berth_registry(
    root: Path,
    *,
    users: dict[str, str] | None = None,
    admins: dict[str, str] | None = None,
    config: Path | None = None,
    log_level: str | None = None,
    kind: str = "berth-registry",
) -> RegistryProcess:
    """berth-registry on ``root`` with these accounts (``config``: its YAML; ``tls:`` makes it https)."""
    root.mkdir(parents=True, exist_ok=True)
    accounts = [(name, pw, False) for name, pw in (users or {}).items()]
    accounts += [(name, pw, True) for name, pw in (admins or {}).items()]
    if accounts:
        add_accounts(root, accounts, config)
    port = free_port()
    log = root.parent / f"{root.name}-{port}.log"
    extra = ["--config", str(config)] if config else []
    extra += ["--log-level", log_level] if log_level else []
    tls = config is not None and "tls:" in config.read_text()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*registry_command(), "--root", str(root), *extra, "serve", "--addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    everyone = dict(users or {}) | dict(admins or {})
    scheme = "https" if tls else "http"
    return _serve(RegistryProcess(kind, root, port, process, log, everyone, scheme, config))


def start_distribution(
    root: Path, *, users: dict[str, str] | None = None, quiet: bool = False
) -> RegistryProcess:
    """Debian's CNCF distribution 2.8 (``docker-registry serve CONFIG``) with filesystem storage and
    deletes enabled; htpasswd Basic auth when ``users``; ``quiet`` turns its access log off (bench)."""
    if not DISTRIBUTION.exists():
        raise RuntimeError("docker-registry is not installed: apt-get install -y docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if users:
        import bcrypt  # only for htpasswd

        htpasswd = root / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{name}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                for name, pw in users.items()
            )
        )
        auth = f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n"
    logging = "log:\n  level: error\n  accesslog:\n    disabled: true\n" if quiet else "log:\n  level: warn\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        + logging
        + f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        + f"http:\n  addr: 127.0.0.1:{port}\n"
        + auth
    )
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(DISTRIBUTION), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    return _serve(RegistryProcess("docker-registry", root, port, process, log, dict(users or {})))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) and key for 127.0.0.1, as PEM files in ``directory``."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


__all__ = [
    "RegistryProcess",
    "free_port",
    "registry_cli",
    "registry_command",
    "self_signed",
    "start_berth_registry",
    "start_distribution",
]
