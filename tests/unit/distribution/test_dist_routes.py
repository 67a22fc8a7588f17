"""The daemon's registry routes and the client, in process: a berth-registry app (in-memory storage) and a
daemon app with the distribution routes, both behind aiohttp test servers on loopback."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berth.api.auth import encode_header
from berth.daemon.server import middleware
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import distribution
from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.errors import BadCredentials
from berth.distribution.resolver import RegistryResolver
from berth.distribution.service import RegistryService, server_host, split_search_term
from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.engine.images.pull import PullService
from berth.engine.images.push import PushService
from berth.registry.app import build_app
from berth.registry.config import RegistryConfig
from berth.registry.service import Registry
from berth.registry.storage.inmemory import InMemoryDriver

ALICE = {"username": "alice", "password": "alicepw"}


@dataclass
class Daemon:
    client: TestClient[Any, Any]
    images: ImageService
    host: str


@pytest.fixture
async def registry_host(tmp_path: Path) -> AsyncIterator[str]:
    registry = Registry(
        RegistryConfig(root=tmp_path / "registry", bcrypt_rounds=4, default_visibility="public"),
        driver=InMemoryDriver(),
    )
    registry.accounts.add_user("alice", "alicepw")
    server = TestServer(build_app(registry), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.close()
        registry.close()


@pytest.fixture
async def daemon(tmp_path: Path, registry_host: str) -> AsyncIterator[Daemon]:
    images = ImageService(tmp_path / "image", events=EventBus(), in_use=dict, snapshotter="naive")
    resolver = RegistryResolver(default_registry=registry_host)
    pull = PullService(images=images, resolver=resolver)
    push = PushService(images=images, resolver=resolver, cache_dir=tmp_path / "distribution")
    app = web.Application(middlewares=[middleware.headers_and_version, middleware.errors])
    router = ApiRouter(app)

    async def create(request: web.Request) -> web.StreamResponse:  # the lead's /images/create branch
        return await distribution.pull_stream(request, pull=pull)

    router.post("/images/create", create)
    distribution.register(router, pull=pull, push=push, registry=RegistryService(resolver=resolver))
    async with TestClient(TestServer(app)) as client:
        yield Daemon(client, images, registry_host)
    pull.close()
    images.close()


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _import(images: ImageService, repo: str) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    raw.seek(0)
    images.import_image(raw, repo=repo, tag="v1")


@pytest.mark.root  # the pull unpacks a layer (chown to its owner)
async def test_login_push_search_pull_over_the_api(daemon: Daemon) -> None:
    auth = {"X-Registry-Auth": encode_header({**ALICE, "serveraddress": daemon.host})}
    resp = await daemon.client.post("/v1.50/auth", json={**ALICE, "serveraddress": daemon.host})
    assert resp.status == 200
    body = await resp.json()
    assert body["Status"] == "Login Succeeded" and body["IdentityToken"]

    resp = await daemon.client.post(
        "/auth", json={"username": "alice", "password": "no", "serveraddress": daemon.host}
    )
    assert resp.status == 401
    assert "incorrect username or password" in (await resp.json())["message"]

    _import(daemon.images, f"{daemon.host}/alice/hello")
    resp = await daemon.client.post(f"/v1.50/images/{daemon.host}/alice/hello/push?tag=v1", headers=auth)
    assert resp.status == 200
    lines = _lines(await resp.read())
    assert lines[-1]["aux"]["Tag"] == "v1"
    digest = lines[-1]["aux"]["Digest"]

    # an identity token works as well as the password
    token_auth = {"X-Registry-Auth": encode_header({"identitytoken": body["IdentityToken"]})}
    resp = await daemon.client.get(
        "/images/search", params={"term": f"{daemon.host}/hello"}, headers=token_auth
    )
    assert resp.status == 200
    results = await resp.json()
    assert [r["name"] for r in results] == ["alice/hello"]
    assert results[0]["is_automated"] is False
    resp = await daemon.client.get("/images/search", params={"term": f"{daemon.host}/hel"}, headers=auth)
    assert [r["name"] for r in await resp.json()] == ["alice/hello"]  # Basic credentials
    resp = await daemon.client.get(
        "/images/search", params={"term": f"{daemon.host}/hello", "filters": '{"is-official":{"true":true}}'}
    )
    assert await resp.json() == []

    daemon.images.delete(f"{daemon.host}/alice/hello:v1", force=True)
    resp = await daemon.client.post(
        "/v1.50/images/create", params={"fromImage": f"{daemon.host}/alice/hello", "tag": "v1"}, headers=auth
    )
    assert resp.status == 200
    lines = _lines(await resp.read())
    assert lines[0] == {"status": "Pulling from alice/hello", "id": "v1"}
    assert {"status": f"Digest: {digest}"} in lines
    assert lines[-1]["status"].startswith("Status: Downloaded newer image for")
    assert daemon.images.resolve(f"{daemon.host}/alice/hello:v1").repo_digests


@pytest.mark.root  # imports an image (unpacking chowns)
async def test_errors_before_and_inside_the_stream(daemon: Daemon) -> None:
    resp = await daemon.client.post(
        "/images/create", params={"fromImage": f"{daemon.host}/alice/missing", "tag": "v1"}
    )
    assert resp.status == 404
    assert "pull access denied for" in (await resp.json())["message"]

    resp = await daemon.client.post("/images/create", params={"fromImage": "not a valid name"})
    assert resp.status == 400

    resp = await daemon.client.post(f"/images/{daemon.host}/alice/none/push")
    assert resp.status == 404
    assert "does not exist locally" in (await resp.json())["message"]

    _import(daemon.images, f"{daemon.host}/alice/anon")
    resp = await daemon.client.post(f"/images/{daemon.host}/alice/anon/push?tag=v1")
    assert resp.status == 200  # the stream had started ("The push refers to …") when the registry refused
    lines = _lines(await resp.read())
    assert "authentication required" in lines[-1]["error"]
    assert lines[-1]["errorDetail"]["message"] == lines[-1]["error"]

    resp = await daemon.client.get("/images/search", params={"term": "x", "limit": "500"})
    assert resp.status == 400


async def test_client_login_and_tags(registry_host: str) -> None:
    resolver = RegistryResolver(default_registry=registry_host)
    async with RegistryClient(
        endpoint=resolver.endpoint(registry_host), credentials=Credentials(**ALICE)
    ) as c:
        assert await c.login()
        await c.ping()
        digest, size = await c.upload_blob("alice/raw", b"some bytes")
        assert size == 10 and await c.blob_exists("alice/raw", digest)
        assert not await c.blob_exists("alice/raw", "sha256:" + "0" * 64)
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        config_digest, _ = await c.upload_blob("alice/raw", config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        manifest_digest = await c.put_manifest(
            "alice/raw", "t1", manifest, "application/vnd.oci.image.manifest.v1+json"
        )
        await c.put_manifest("alice/raw", "t2", manifest, "application/vnd.oci.image.manifest.v1+json")
        assert sorted(await c.list_tags("alice/raw")) == ["t1", "t2"]
        head = await c.head_manifest("alice/raw", "t1")
        assert head is not None and head.digest == manifest_digest
        top, image = await c.resolve_image("alice/raw", manifest_digest)
        assert top == image and image.data == manifest
        assert await c.mount_blob("alice/copy", config_digest, "alice/raw")
        assert await c.blob_exists("alice/copy", config_digest)
    bad = Credentials(username="alice", password="wrong")
    async with RegistryClient(endpoint=resolver.endpoint(registry_host), credentials=bad) as c:
        with pytest.raises(BadCredentials):
            await c.login()


def test_search_terms_and_server_addresses() -> None:
    assert split_search_term("localhost:5000/busy") == ("localhost:5000", "busy")
    assert split_search_term("busy") == ("docker.io", "busy")
    assert split_search_term("team/app") == ("docker.io", "team/app")
    assert server_host("https://index.docker.io/v1/") == "docker.io"
    assert server_host("") == "docker.io"
    assert server_host("http://localhost:5000") == "localhost:5000"
