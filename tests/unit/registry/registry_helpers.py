"""Helpers shared by the registry unit tests: credentials, digests, pushing blobs and images."""

from __future__ import annotations

import base64
import hashlib
import io
import json

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


ALICE = basic("alice", "alicepw")
BOB = basic("bob", "bobpw")
ROOT = basic("root", "rootpw")


async def push_blob(client: Client, repo: str, data: bytes, headers: dict[str, str] = ALICE) -> str:
    digest = sha(data)
    r = await client.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert r.status == 202, await r.text()
    r = await client.put(f"{r.headers['Location']}?digest={digest}", data=data, headers=headers)
    assert r.status == 201, await r.text()
    return digest


async def push_image(
    client: Client,
    repo: str,
    tag: str,
    *,
    headers: dict[str, str] = ALICE,
    layer: bytes = b"layer-bytes",
    media_type: str = "application/vnd.oci.image.manifest.v1+json",
    extra: dict[str, object] | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    config_doc: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-02T03:04:05Z",
    }
    if labels:
        config_doc["config"] = {"Labels": labels}
    config = json.dumps(config_doc).encode()
    config_digest = await push_blob(client, repo, config, headers)
    layer_digest = await push_blob(client, repo, layer, headers)
    docker = media_type.startswith("application/vnd.docker")
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json"
            if docker
            else "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"
                if docker
                else "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
        **(extra or {}),
    }
    body = json.dumps(manifest).encode()
    r = await client.put(
        f"/v2/{repo}/manifests/{tag}", data=io.BytesIO(body), headers={**headers, "Content-Type": media_type}
    )
    assert r.status == 201, await r.text()
    assert r.headers["Docker-Content-Digest"] == sha(body)
    return sha(body), body
