"""Blob GETs answered with a 307 to an object store (berth-registry's ``storage.s3.redirect``, S3
presigned URLs): the client follows it and never sends the registry's ``Authorization`` to the store,
whose URL carries its own signature (as docker drops it on a redirect to another host). Two real aiohttp
servers on loopback ports: a registry that demands Basic auth, and a store that records what it got."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.resolver import Endpoint
from berth.oci.digest import of_bytes
from berth.oci.image import Descriptor

_LAYER = os.urandom(300_000)
_BASIC = "Basic " + base64.b64encode(b"alice:pw").decode()


@dataclass
class _Servers:
    registry: str
    store: str
    store_headers: list[dict[str, str]] = field(default_factory=list)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def servers() -> AsyncIterator[_Servers]:
    seen: list[dict[str, str]] = []

    async def store_get(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if "Authorization" in request.headers:  # as S3 does: a second credential is an error
            return web.Response(status=400, text="InvalidArgument: only one auth mechanism allowed")
        return web.Response(body=_LAYER, content_type="application/octet-stream")

    store = web.Application()
    store.router.add_get("/bucket/blob", store_get)
    store_runner, store_url = await _serve(store)

    async def registry_get(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != _BASIC:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="test"'})
        if request.path.startswith("/v2/alice/app/blobs/"):
            raise web.HTTPTemporaryRedirect(f"{store_url}/bucket/blob?X-Amz-Signature=abc")
        return web.json_response({})

    registry = web.Application()
    registry.router.add_get("/{tail:.*}", registry_get)
    registry_runner, registry_url = await _serve(registry)
    try:
        yield _Servers(registry_url, store_url, seen)
    finally:
        await registry_runner.cleanup()
        await store_runner.cleanup()


async def test_a_redirected_blob_is_fetched_without_the_registry_credentials(servers: _Servers) -> None:
    host = servers.registry.removeprefix("http://")
    descriptor = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", of_bytes(_LAYER), len(_LAYER))
    async with RegistryClient(
        endpoint=Endpoint(host=host, base_url=servers.registry),
        credentials=Credentials(username="alice", password="pw"),
    ) as client:
        await client.ping()
        got = bytearray()
        async with client.open_blob("alice/app", descriptor) as blob:
            while chunk := await blob.read(1 << 16):
                got += chunk
    assert bytes(got) == _LAYER
    assert servers.store_headers and all("Authorization" not in h for h in servers.store_headers)
