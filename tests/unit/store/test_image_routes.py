"""The image endpoints in-process: an aiohttp app with the real middlewares and ``routes.images``."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berth.daemon.server import middleware
from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes import images as image_routes
from berth.engine.events import EventBus
from berth.engine.images import ImageService

from .image_fixtures import rootfs_tar


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    service = ImageService(tmp_path / "image", events=EventBus(), in_use=dict, snapshotter="naive")
    app = web.Application(
        middlewares=[middleware.headers_and_version, middleware.errors], client_max_size=1 << 40
    )
    image_routes.register(ApiRouter(app), service)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    service.close()


async def _import(client: TestClient[web.Request, web.Application], repo: str) -> str:
    resp = await client.post(f"/v1.50/images/create?fromSrc=-&repo={repo}", data=rootfs_tar())
    assert resp.status == 200, await resp.text()
    lines = [json.loads(line) for line in (await resp.text()).splitlines() if line.strip()]
    status: str = lines[-1]["status"]
    assert status.startswith("sha256:")
    return status


async def test_import_list_inspect_history(client: TestClient[web.Request, web.Application]) -> None:
    image_id = await _import(client, "localhost:5000/team/app:v1")
    resp = await client.get("/v1.50/images/json")
    listing = await resp.json()
    assert [i["RepoTags"] for i in listing] == [["localhost:5000/team/app:v1"]]
    resp = await client.get("/v1.50/images/localhost:5000/team/app:v1/json")
    assert resp.status == 200
    inspect = await resp.json()
    assert inspect["Id"] == image_id and inspect["GraphDriver"]["Name"] in ("overlay2", "vfs")
    resp = await client.get("/images/localhost:5000/team/app:v1/history")
    assert (await resp.json())[0]["Id"] == image_id


async def test_not_found_is_404_with_docker_message(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/v1.50/images/nothere/json")
    assert resp.status == 404
    assert await resp.json() == {"message": "No such image: nothere:latest"}
    resp = await client.delete("/v1.50/images/nothere")
    assert resp.status == 404


async def test_tag_delete_and_prune(client: TestClient[web.Request, web.Application]) -> None:
    image_id = await _import(client, "busybox")
    resp = await client.post("/v1.50/images/busybox/tag?repo=docker.io/library/copy&tag=2")
    assert resp.status == 201
    resp = await client.get("/v1.50/images/copy:2/json")
    assert (await resp.json())["Id"] == image_id
    resp = await client.delete("/v1.50/images/copy:2")
    assert await resp.json() == [{"Untagged": "copy:2"}]
    resp = await client.delete("/v1.50/images/busybox?force=1")
    body = await resp.json()
    assert body[0] == {"Untagged": "busybox:latest"} and body[1] == {"Deleted": image_id}
    resp = await client.post('/v1.50/images/prune?filters={"dangling":{"true":true}}')
    assert (await resp.json())["SpaceReclaimed"] == 0


async def test_save_and_load_round_trip(client: TestClient[web.Request, web.Application]) -> None:
    image_id = await _import(client, "busybox")
    resp = await client.get("/v1.50/images/get?names=busybox")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/x-tar"
    archive = await resp.read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert "manifest.json" in tar.getnames()
    resp = await client.delete("/v1.50/images/busybox")
    assert resp.status == 200
    resp = await client.post("/v1.50/images/load?quiet=1", data=archive)
    assert resp.status == 200
    assert [json.loads(line) for line in (await resp.text()).splitlines() if line] == [
        {"stream": "Loaded image: busybox:latest\n"}
    ]
    resp = await client.get("/v1.50/images/busybox/get")
    assert resp.status == 200 and len(await resp.read()) == len(archive)
    resp = await client.get(f"/v1.50/images/{image_id}/json")
    assert resp.status == 200


async def test_save_of_missing_image_is_404_before_any_output(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.get("/v1.50/images/get?names=nothere")
    assert resp.status == 404


async def test_old_api_shows_none_tags(client: TestClient[web.Request, web.Application]) -> None:
    await _import(client, "busybox")
    await _import(client, "busybox")  # same content: same image id, still tagged
    resp = await client.post("/v1.24/images/create?fromSrc=-", data=rootfs_tar() + b"\0" * 1024)
    assert resp.status == 200
    listing = await (await client.get("/v1.24/images/json")).json()
    assert ["<none>:<none>"] in [i["RepoTags"] for i in listing]
