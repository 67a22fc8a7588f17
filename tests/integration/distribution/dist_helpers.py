"""Helpers for the distribution tests: registries as real processes (``berth.testing.registry``), OCI
layouts, skopeo, image stores."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

from berth.distribution.resolver import RegistryResolver
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.images.pull import PullService
from berth.engine.images.push import PushService
from berth.testing.registry import DISTRIBUTION, self_signed, start_distribution
from berth.testing.registry import RegistryProcess as Registry
from berth.testing.registry import start_berth_registry as _start_berth_registry

USERS = {"alice": "alicepw", "bob": "bobpw"}
DOCKER_REGISTRY = DISTRIBUTION


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def start_berth_registry(root: Path, users: dict[str, str], *, public: bool = False) -> Registry:
    config = None
    if public:
        config = root.parent / "berth-registry.yml"
        config.write_text("default_visibility: public\n")
    return _start_berth_registry(root, users=users, config=config)


def start_docker_registry(root: Path, users: dict[str, str] | None = None) -> Registry:
    """Debian's CNCF distribution 2.8; htpasswd Basic auth if ``users``."""
    return start_distribution(root, users=users)


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


def start_tls_berth_registry(root: Path, users: dict[str, str]) -> tuple[Registry, Path]:
    """A berth-registry serving HTTPS with a self-signed certificate; returns it and the CA file."""
    cert, key = self_signed(root.parent / "tls")
    config = root.parent / "tls-registry.yml"
    config.write_text(f"tls:\n  certificate: {cert}\n  key: {key}\ndefault_visibility: public\n")
    return _start_berth_registry(root, users=users, config=config, kind="berth-registry-tls"), cert
