"""Helpers for the distribution tests: registries as real processes, OCI layouts, skopeo, image stores."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from berth.distribution.resolver import RegistryResolver
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.pull import PullService
from berth.engine.push import PushService

REPO_ROOT = Path(__file__).resolve().parents[3]
USERS = {"alice": "alicepw", "bob": "bobpw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"registry did not listen on {port}: {log.read_text()}")


@dataclass
class Registry:
    """A registry process on a loopback port; stopped by its PID."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    users: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def berth_registry_command() -> list[str]:
    script = REPO_ROOT / ".venv" / "bin" / "berth-registry"
    return [str(script)] if script.exists() else [sys.executable, "-m", "berth.registry.main"]


def start_berth_registry(root: Path, users: dict[str, str], *, public: bool = False) -> Registry:
    root.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    if public:
        config = root.parent / "berth-registry.yml"
        config.write_text("default_visibility: public\n")
        extra = ["--config", str(config)]
    for name, password in users.items():
        subprocess.run(
            [*berth_registry_command(), "--root", str(root), *extra, "user", "add", name, "--password-stdin"],
            input=password + "\n",
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        )
    port = free_port()
    log = root.parent / f"berth-registry-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*berth_registry_command(), "--root", str(root), *extra, "serve", "--addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    registry = Registry("berth-registry", port, process, log, dict(users))
    try:
        wait_listening(process, port, log)
    except BaseException:
        registry.stop()
        raise
    return registry


DOCKER_REGISTRY = Path("/usr/bin/docker-registry")


def start_docker_registry(root: Path, users: dict[str, str] | None = None) -> Registry:
    """Debian's CNCF distribution 2.8 (``docker-registry serve CONFIG``); htpasswd Basic auth if users."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if users:
        htpasswd = root / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{name}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                for name, pw in users.items()
            )
        )
        auth = f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth
    )
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(DOCKER_REGISTRY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    registry = Registry("docker-registry", port, process, log, dict(users or {}))
    try:
        wait_listening(process, port, log)
    except BaseException:
        registry.stop()
        raise
    return registry


def layer_tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1700000000
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


class Layout:
    """An OCI image layout on disk, built blob by blob (``skopeo copy oci:DIR:TAG docker://…``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = directory / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.refs: list[dict[str, object]] = []

    def put(self, data: bytes) -> str:
        digest = sha(data)
        (self.blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    def image(
        self, layers: list[dict[str, bytes]], *, architecture: str = "amd64", compress: bool = True
    ) -> tuple[str, bytes]:
        """An image manifest for ``layers`` (each a {path: bytes}); returns (digest, manifest bytes)."""
        descs, diff_ids = [], []
        for files in layers:
            tar = layer_tar(files)
            blob = gzip.compress(tar, mtime=0, compresslevel=1) if compress else tar
            media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
            descs.append({"mediaType": media, "digest": self.put(blob), "size": len(blob)})
            diff_ids.append(sha(tar))
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "created": "2026-01-02T03:04:05Z",
                "config": {"Cmd": ["/bin/sh"], "Env": [f"ARCH={architecture}"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created": "2026-01-02T03:04:05Z"} for _ in layers],
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self.put(config),
                    "size": len(config),
                },
                "layers": descs,
            }
        ).encode()
        return self.put(manifest), manifest

    def tag(self, tag: str, digest: str, data: bytes, media_type: str) -> None:
        self.refs.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        )
        (self.directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.refs}))

    def index(self, manifests: list[tuple[str, bytes, str]]) -> tuple[str, bytes]:
        """An image index of (digest, bytes, architecture) manifests."""
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "size": len(data),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for digest, data, arch in manifests
            ],
        }
        data = json.dumps(doc).encode()
        return self.put(data), data


def skopeo_push(layout: Path, tag: str, dest: str, creds: str | None, *extra: str) -> None:
    args = ["skopeo", "copy", "--dest-tls-verify=false", *extra]
    if creds:
        args += ["--dest-creds", creds]
    args += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "HOME": "/root"}
    )
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {result.stderr}")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Store:
    """One daemon's local images plus its pull and push services."""

    def __init__(self, root: Path, default_registry: str, **resolver: list[str]) -> None:
        self.events = EventBus()
        self.images = ImageService(root, events=self.events, in_use=dict)
        self.resolver = RegistryResolver(default_registry=default_registry, **resolver)
        self.pull = PullService(images=self.images, resolver=self.resolver, events=self.events)
        self.push = PushService(
            images=self.images, resolver=self.resolver, cache_dir=root / "distribution", events=self.events
        )

    def close(self) -> None:
        self.pull.close()
        self.images.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (PEM files in ``directory``)."""
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


def start_tls_berth_registry(root: Path, users: dict[str, str]) -> tuple[Registry, Path]:
    """A berth-registry serving HTTPS with a self-signed certificate; returns it and the CA file."""
    cert, key = self_signed(root.parent / "tls")
    config = root.parent / "tls-registry.yml"
    config.write_text(f"tls:\n  certificate: {cert}\n  key: {key}\ndefault_visibility: public\n")
    root.mkdir(parents=True, exist_ok=True)
    for name, password in users.items():
        subprocess.run(
            [*berth_registry_command(), "--root", str(root), "--config", str(config), "user", "add", name]
            + ["--password-stdin"],
            input=password + "\n",
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        )
    port = free_port()
    log = root.parent / f"tls-registry-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*berth_registry_command(), "--root", str(root), "--config", str(config), "serve"]
            + ["--addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    registry = Registry("berth-registry-tls", port, process, log, dict(users))
    try:
        wait_listening(process, port, log)
    except BaseException:
        registry.stop()
        raise
    return registry, cert
