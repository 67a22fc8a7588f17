"""Helpers for the registry e2e tests: the real server (``berth.testing.registry``), OCI layouts, skopeo."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

from berth.testing.oci_layout import make_oci_layout
from berth.testing.registry import RegistryProcess, start_berth_registry

# The registry process harness and the image layouts are shared with the distribution tests, the
# benchmarks and `make demo-scale`.
__all__ = ["make_oci_layout"]
RunningRegistry = RegistryProcess
start_registry = start_berth_registry


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def answered(registry: RunningRegistry, code: str, method: str = "GET") -> float:
    """Requests the registry has answered with ``code`` (its /metrics)."""
    _, _, body = registry.request("GET", "/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("registry_http_requests_total{")
        and f'method="{method}"' in line
        and f'code="{code}"' in line
    )


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def push_image(
    registry: RegistryProcess,
    repo: str,
    tag: str,
    layer: bytes,
    auth: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> str:
    """Push a one-layer OCI image over plain HTTP (monolithic uploads); returns the manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-03-04T05:06:07Z"}).encode()
    for blob in (config, layer):
        status, headers, body = registry.request("POST", f"/v2/{repo}/blobs/uploads/", headers=auth)
        assert status == 202, body
        status, _, body = registry.request(
            "PUT", f"{headers['Location']}?digest={sha(blob)}", data=blob, headers=auth
        )
        assert status == 201, body
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(layer),
                    "size": len(layer),
                }
            ],
            **({"annotations": annotations} if annotations else {}),
        }
    ).encode()
    status, _, body = registry.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        data=manifest,
        headers={**auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert status == 201, body
    return sha(manifest)
