"""Basic auth (docker-registry with htpasswd), identity tokens, mirror fallback, platforms, sibling mounts."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dist_helpers import (
    DOCKER_REGISTRY,
    USERS,
    Layout,
    Registry,
    Store,
    skopeo_push,
    start_docker_registry,
)

from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.errors import BadCredentials
from berth.distribution.service import RegistryService
from berth.errors import NotFound
from berth.oci import mediatypes, reference

pytestmark = [
    pytest.mark.root,  # unpacking layers chowns files to their owners
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
]


@pytest.fixture
def basic_registry(workdir: Path) -> Iterator[Registry]:
    if not DOCKER_REGISTRY.exists():
        pytest.skip("needs Debian's docker-registry")
    registry = start_docker_registry(workdir / "basic-registry", USERS)
    try:
        yield registry
    finally:
        registry.stop()


def _one_image(workdir: Path, name: str, payload: bytes) -> Layout:
    layout = Layout(workdir / name)
    digest, data = layout.image([{"payload": payload}])
    layout.tag("v1", digest, data, mediatypes.OCI_MANIFEST)
    return layout


async def test_basic_auth_login_pull_push(
    basic_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    host = basic_registry.host
    layout = _one_image(workdir, "layout", b"basic\n")
    skopeo_push(layout.directory, "v1", f"{host}/team/app:v1", "alice:alicepw")
    service = RegistryService(resolver=make_store(host).resolver)
    assert await service.login(Credentials(username="alice", password="alicepw", server_address=host)) == ""
    with pytest.raises(BadCredentials):
        await service.login(Credentials(username="alice", password="nope", server_address=host))

    store = make_store(host, name="puller")
    ref = reference.parse(f"{host}/team/app:v1")
    with pytest.raises(NotFound, match="pull access denied"):
        await store.pull.pull(ref)
    alice = Credentials(username="alice", password="alicepw")
    pulled = await store.pull.pull(ref, credentials=alice)
    store.images.tag(str(ref), f"{host}/team/copy", "v2")
    messages: list[dict[str, Any]] = []

    async def progress(message: dict[str, Any]) -> None:
        messages.append(message)

    result = await store.push.push(
        reference.parse(f"{host}/team/copy:v2"), credentials=alice, progress=progress
    )
    assert result.digest == pulled.digest  # pushed unchanged: the stored manifest, byte for byte
    assert "Mounted from team/app" in [m.get("status") for m in messages]


async def test_identity_token_pull(
    berth_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    host = berth_registry.host
    layout = _one_image(workdir, "layout", b"token\n")
    skopeo_push(layout.directory, "v1", f"{host}/alice/tok:v1", "alice:alicepw")
    store = make_store(host)
    async with RegistryClient(
        endpoint=store.resolver.endpoint(host), credentials=Credentials(username="alice", password="alicepw")
    ) as client:
        identity = await client.login()
    assert identity
    result = await store.pull.pull(
        reference.parse(f"{host}/alice/tok:v1"), credentials=Credentials(identity_token=identity)
    )
    assert result.record.repo_tags == [f"{host}/alice/tok:v1"]


async def test_mirror_without_the_image_falls_back(
    berth_registry: Registry, docker_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    layout = _one_image(workdir, "layout", b"only on the default registry\n")
    skopeo_push(layout.directory, "v1", f"{docker_registry.host}/library/fallback:v1", None)
    # the berth-registry mirror does not have it (and wants auth): the default registry serves it
    store = make_store(docker_registry.host, registry_mirrors=[f"http://{berth_registry.host}"])
    result = await store.pull.pull(reference.parse("fallback:v1"))
    assert result.record.repo_tags == ["fallback:v1"]
    with pytest.raises(NotFound, match="pull access denied for nothere"):
        await store.pull.pull(reference.parse("nothere"))


async def test_platform_choice(
    docker_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    layout = Layout(workdir / "layout")
    arm_digest, arm = layout.image([{"arch": b"arm64\n"}], architecture="arm64")
    amd_digest, amd = layout.image([{"arch": b"amd64\n"}], architecture="amd64")
    index_digest, index = layout.index([(arm_digest, arm, "arm64"), (amd_digest, amd, "amd64")])
    layout.tag("multi", index_digest, index, mediatypes.OCI_INDEX)
    skopeo_push(layout.directory, "multi", f"{docker_registry.host}/x/plat:multi", None, "--all")
    store = make_store(docker_registry.host)
    ref = reference.parse(f"{docker_registry.host}/x/plat:multi")
    arm_image = await store.pull.pull(ref, platform="linux/arm64")
    assert arm_image.record.config["architecture"] == "arm64"
    with pytest.raises(NotFound, match="no matching manifest for windows/amd64"):
        await store.pull.pull(ref, platform="windows/amd64")
