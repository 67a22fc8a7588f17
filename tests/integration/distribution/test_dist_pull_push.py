"""Pull and push against real berth-registry and docker-registry processes (images pushed with skopeo)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dist_helpers import USERS, Layout, Registry, Store, layer_tar, skopeo_push

from berth.distribution.auth import Credentials
from berth.engine.images.pull import PullService
from berth.errors import NotFound, Unauthorized
from berth.oci import mediatypes, reference

pytestmark = [
    pytest.mark.root,  # unpacking layers chowns files to their owners
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo"),
]

ALICE = Credentials(username="alice", password=USERS["alice"])


def creds_for(registry: Registry) -> tuple[Credentials, str | None]:
    if registry.kind == "berth-registry":
        return ALICE, f"alice:{USERS['alice']}"
    return Credentials(), None


def _layered(tmp: Path, count: int) -> tuple[Layout, str]:
    layout = Layout(tmp / "layout")
    layers = [{f"layer{i}/file.txt": f"content of layer {i}\n".encode()} for i in range(count)]
    layers.append({"layer0/file.txt": b"overwritten\n"})
    digest, data = layout.image(layers)
    layout.tag("v1", digest, data, mediatypes.OCI_MANIFEST)
    return layout, digest


def _files(store: Store, name: str) -> dict[str, bytes]:
    """The merged filesystem of an image (via a tar export of a view of its top layer)."""
    record = store.images.resolve(name)
    snap = store.images.snapshotter
    key = "view-" + record.short_id
    snap.view(key, record.top_layer)
    try:
        out = io.BytesIO()
        snap.export(key, out)
    finally:
        snap.remove(key)
    out.seek(0)
    files = {}
    with tarfile.open(fileobj=out) as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                files[member.name] = extracted.read() if extracted else b""
    return files


async def test_pull_multi_layer_then_up_to_date(
    any_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    creds, skopeo_creds = creds_for(any_registry)
    layout, manifest_digest = _layered(workdir, 5)
    skopeo_push(layout.directory, "v1", f"{any_registry.host}/alice/multi:v1", skopeo_creds)
    store = make_store(any_registry.host)
    messages: list[dict[str, Any]] = []

    async def progress(message: dict[str, Any]) -> None:
        messages.append(message)

    ref = reference.parse(f"{any_registry.host}/alice/multi:v1")
    result = await store.pull.pull(ref, credentials=creds, progress=progress)
    assert result.updated and result.digest == manifest_digest
    statuses = [m.get("status", "") for m in messages]
    assert statuses[0] == "Pulling from alice/multi"
    assert statuses.count("Pull complete") == 6
    assert f"Digest: {manifest_digest}" in statuses
    assert statuses[-1] == f"Status: Downloaded newer image for {any_registry.host}/alice/multi:v1"
    assert any(m.get("status") == "Downloading" and m["progressDetail"]["total"] > 0 for m in messages)
    record = store.images.resolve(str(ref))
    assert record.repo_digests == [f"{any_registry.host}/alice/multi@{manifest_digest}"]
    files = _files(store, str(ref))
    assert files["layer0/file.txt"] == b"overwritten\n"
    assert files["layer4/file.txt"] == b"content of layer 4\n"

    messages.clear()
    again = await store.pull.pull(ref, credentials=creds, progress=progress)
    assert not again.updated
    assert [m["status"] for m in messages].count("Already exists") == 6
    assert messages[-1]["status"] == f"Status: Image is up to date for {any_registry.host}/alice/multi:v1"

    by_digest = reference.parse(f"{any_registry.host}/alice/multi@{manifest_digest}")
    third = await store.pull.pull(by_digest, credentials=creds)
    assert third.record.image_id == record.image_id


async def test_pull_index_picks_amd64_and_docker_schema2(
    any_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    creds, skopeo_creds = creds_for(any_registry)
    layout = Layout(workdir / "layout")
    arm_digest, arm = layout.image([{"arch": b"arm64\n"}], architecture="arm64")
    amd_digest, amd = layout.image([{"arch": b"amd64\n"}], architecture="amd64")
    index_digest, index = layout.index([(arm_digest, arm, "arm64"), (amd_digest, amd, "amd64")])
    layout.tag("multi", index_digest, index, mediatypes.OCI_INDEX)
    layout.tag("single", amd_digest, amd, mediatypes.OCI_MANIFEST)
    skopeo_push(layout.directory, "multi", f"{any_registry.host}/alice/plat:multi", skopeo_creds, "--all")
    skopeo_push(
        layout.directory, "single", f"{any_registry.host}/alice/plat:s2", skopeo_creds, "--format", "v2s2"
    )
    store = make_store(any_registry.host)
    result = await store.pull.pull(
        reference.parse(f"{any_registry.host}/alice/plat:multi"), credentials=creds
    )
    assert result.digest == index_digest
    assert result.record.config["architecture"] == "amd64"
    assert result.record.repo_digests == [f"{any_registry.host}/alice/plat@{index_digest}"]
    fresh = make_store(any_registry.host, name="fresh")
    schema2 = await fresh.pull.pull(reference.parse(f"{any_registry.host}/alice/plat:s2"), credentials=creds)
    assert schema2.record.image_id == result.record.image_id
    assert schema2.digest != amd_digest  # skopeo converted it to Docker schema 2
    stored = json.loads(fresh.images.content.read_bytes(schema2.record.manifest_digest))
    assert stored["mediaType"] == mediatypes.DOCKER_MANIFEST
    assert stored["layers"][0]["mediaType"] == mediatypes.DOCKER_LAYER_GZIP


async def test_push_import_then_existing_mount_and_pull_back(
    any_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    creds, _ = creds_for(any_registry)
    store = make_store(any_registry.host)
    tar = layer_tar({"etc/hello": b"hello\n" * 1000, "bin/tool": bytes(range(256)) * 400})
    name = f"{any_registry.host}/alice/app"
    store.images.import_image(io.BytesIO(tar), repo=name, tag="v1")
    messages: list[dict[str, Any]] = []

    async def progress(message: dict[str, Any]) -> None:
        messages.append(message)

    first = await store.push.push(reference.parse(f"{name}:v1"), credentials=creds, progress=progress)
    statuses = [m.get("status", "") for m in messages]
    assert statuses[0] == f"The push refers to repository [{name}]"
    assert "Preparing" in statuses and "Pushed" in statuses
    assert statuses[-2] == f"v1: digest: {first.digest} size: {first.size}"
    assert messages[-1]["aux"] == {"Tag": "v1", "Digest": first.digest, "Size": first.size}

    messages.clear()
    second = await store.push.push(reference.parse(f"{name}:v1"), credentials=creds, progress=progress)
    assert second.digest == first.digest
    assert "Layer already exists" in [m.get("status") for m in messages]
    assert "Pushed" not in [m.get("status") for m in messages]

    store.images.tag(f"{name}:v1", f"{any_registry.host}/alice/other", "v2")
    messages.clear()
    await store.push.push(
        reference.parse(f"{any_registry.host}/alice/other:v2"), credentials=creds, progress=progress
    )
    assert "Mounted from alice/app" in [m.get("status") for m in messages]

    fresh = make_store(any_registry.host, name="fresh")
    pulled = await fresh.pull.pull(reference.parse(f"{any_registry.host}/alice/other:v2"), credentials=creds)
    assert pulled.record.image_id == store.images.resolve(f"{name}:v1").image_id
    layer = json.loads(fresh.images.content.read_bytes(pulled.record.manifest_digest))["layers"][0]
    assert layer["mediaType"] == mediatypes.OCI_LAYER_GZIP
    blob = fresh.images.content.read_bytes(layer["digest"])
    assert gzip.decompress(blob) == tar
    assert f"{name}@{first.digest}" in store.images.resolve(f"{name}:v1").repo_digests
    assert [e["Actor"]["ID"] for e in fresh.events.since(0) if e["Action"] == "pull"] == [
        f"{any_registry.host}/alice/other:v2"
    ]
    assert f"{name}:v1" in [e["Actor"]["ID"] for e in store.events.since(0) if e["Action"] == "push"]


async def test_default_registry_and_mirror(
    berth_registry: Registry, docker_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    """``busybox`` is docker.io/library/busybox = the default registry; a mirror is tried first."""
    layout = Layout(workdir / "layout")
    digest, data = layout.image([{"bin/busybox": b"not really busybox\n"}])
    layout.tag("latest", digest, data, mediatypes.OCI_MANIFEST)
    skopeo_push(layout.directory, "latest", f"{docker_registry.host}/library/busybox:latest", None)
    store = make_store(berth_registry.host, registry_mirrors=[f"http://{docker_registry.host}"])
    result = await store.pull.pull(reference.parse("busybox"))
    assert result.record.repo_tags == ["busybox:latest"]
    assert store.images.resolve("docker.io/library/busybox:latest").image_id == result.record.image_id
    plain = make_store(docker_registry.host, name="plain")
    assert (
        await plain.pull.pull(reference.parse("library/busybox"))
    ).record.image_id == result.record.image_id


async def test_token_auth_failures(
    berth_registry: Registry, workdir: Path, make_store: Callable[..., Store]
) -> None:
    layout = Layout(workdir / "layout")
    digest, data = layout.image([{"secret": b"private\n"}])
    layout.tag("v1", digest, data, mediatypes.OCI_MANIFEST)
    skopeo_push(layout.directory, "v1", f"{berth_registry.host}/alice/private:v1", "alice:alicepw")
    store = make_store(berth_registry.host)
    ref = reference.parse(f"{berth_registry.host}/alice/private:v1")
    with pytest.raises(NotFound, match="pull access denied for 127.0.0.1:.*/alice/private"):
        await store.pull.pull(ref)
    with pytest.raises(NotFound, match="pull access denied"):
        await store.pull.pull(ref, credentials=Credentials(username="bob", password="bobpw"))
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        await store.pull.pull(ref, credentials=Credentials(username="alice", password="wrong"))
    with pytest.raises(NotFound):
        store.images.resolve(str(ref))
    tar = layer_tar({"x": b"x"})
    store.images.import_image(io.BytesIO(tar), repo=f"{berth_registry.host}/alice/mine", tag="v1")
    with pytest.raises(Unauthorized):
        await store.push.push(reference.parse(f"{berth_registry.host}/alice/mine:v1"))


async def test_whiteouts_across_layers_unpacked_out_of_order(
    berth_registry: Registry,
    workdir: Path,
    make_store: Callable[..., Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Layers unpack into their own directories as they arrive (before their parents are committed):
    deletions (whiteouts) and opaque directories still apply across layers."""
    layout = Layout(workdir / "layout")
    layers = [
        {"a/x": b"x\n", "a/y": b"y\n", "keep/k": b"k\n", "opaque/old": b"old\n"},
        *({f"filler{i}/f": b"%d\n" % i} for i in range(6)),
        {"a/.wh.x": b"", "opaque/.wh..wh..opq": b"", "opaque/new": b"new\n"},
    ]
    digest, data = layout.image(layers)
    layout.tag("v1", digest, data, mediatypes.OCI_MANIFEST)
    skopeo_push(layout.directory, "v1", f"{berth_registry.host}/alice/wh:v1", "alice:alicepw")
    store = make_store(berth_registry.host)
    adopted: list[str] = []
    original = PullService._adopt

    def counting(self: PullService, *args: Any) -> Any:
        adopted.append(args[2])
        return original(self, *args)

    monkeypatch.setattr(PullService, "_adopt", counting)
    ref = f"{berth_registry.host}/alice/wh:v1"
    await store.pull.pull(reference.parse(ref), credentials=ALICE)
    if store.images.driver == "overlay":
        assert adopted  # some layers were unpacked before their parent was committed
    files = _files(store, ref)
    assert "a/x" not in files and files["a/y"] == b"y\n" and files["keep/k"] == b"k\n"
    assert "opaque/old" not in files and files["opaque/new"] == b"new\n"
    assert files["filler5/f"] == b"5\n"
