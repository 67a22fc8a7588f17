"""ImageService on the naive snapshotter: import, tag, resolve, rmi rules, history, save/load, prune."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.errors import Conflict, InvalidArgument, NotFound

from .image_fixtures import layer_tar, rootfs_tar


class Users:
    def __init__(self) -> None:
        self.in_use: dict[str, list[str]] = {}
        self.running: dict[str, list[str]] = {}


@pytest.fixture
def users() -> Users:
    return Users()


@pytest.fixture
def events() -> EventBus:
    return EventBus()


@pytest.fixture
def service(tmp_path: Path, users: Users, events: EventBus) -> Iterator[ImageService]:
    svc = ImageService(
        tmp_path / "image",
        events=events,
        in_use=lambda: users.in_use,
        running=lambda: users.running,
        snapshotter="naive",
    )
    yield svc
    svc.close()


def _import(
    svc: ImageService, repo: str = "busybox", tag: str = "", data: bytes | None = None, **kw: object
) -> str:
    return svc.import_image(io.BytesIO(data or rootfs_tar()), repo=repo, tag=tag, **kw).image_id  # type: ignore[arg-type]


def test_import_and_resolve_every_spelling(service: ImageService) -> None:
    image_id = _import(service)
    hexid = image_id.split(":")[1]
    for name in (
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:latest",
        image_id,
        hexid,
        hexid[:12],
        hexid[:5],
        "sha256:" + hexid[:8],
    ):
        assert service.resolve(name).image_id == image_id, name
    record = service.resolve("busybox")
    assert record.repo_tags == ["busybox:latest"]
    assert record.size == len(b"#!fake shell\n") + len(b"berth\n")
    assert record.top_layer == record.config["rootfs"]["diff_ids"][0]
    assert record.config["history"][0]["comment"] == "Imported from -"
    with pytest.raises(NotFound, match="^No such image: nothere:latest$"):
        service.resolve("nothere")
    with pytest.raises(NotFound, match="No such image: sha256:0000"):
        service.resolve("sha256:0000")


def test_import_compressed_and_changes(service: ImageService) -> None:
    tar = rootfs_tar()
    plain = service.import_image(io.BytesIO(tar), repo="a").config["rootfs"]["diff_ids"]
    gz = service.import_image(io.BytesIO(gzip.compress(tar)), repo="b").config["rootfs"]["diff_ids"]
    zs = service.import_image(io.BytesIO(zstandard.ZstdCompressor().compress(tar)), repo="c").config[
        "rootfs"
    ]["diff_ids"]
    assert plain == gz == zs
    record = service.import_image(
        io.BytesIO(tar),
        repo="d",
        tag="v1",
        changes=[
            'CMD ["/bin/sh", "-c", "echo hi"]',
            "ENV A=1 B=two",
            "WORKDIR /srv",
            "EXPOSE 80 53/udp",
            "LABEL team=core",
            "USER nobody",
            "STOPSIGNAL SIGINT",
            'VOLUME ["/data"]',
            "ENTRYPOINT /init",
        ],
        message="hello",
    )
    config = record.config["config"]
    assert config["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/init"]
    assert config["Env"] == ["A=1", "B=two"]
    assert config["WorkingDir"] == "/srv" and config["User"] == "nobody" and config["StopSignal"] == "SIGINT"
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Labels"] == {"team": "core"} and config["Volumes"] == {"/data": {}}
    assert record.repo_tags == ["d:v1"] and record.config["comment"] == "hello"
    with pytest.raises(InvalidArgument):
        service.import_image(io.BytesIO(tar), changes=["RUN rm -rf /"])


def test_tag_untag_and_events(service: ImageService, events: EventBus) -> None:
    image_id = _import(service)
    service.tag("busybox", "localhost:5000/team/app", "1.0")
    assert sorted(service.resolve(image_id).repo_tags) == ["busybox:latest", "localhost:5000/team/app:1.0"]
    records = service.delete("localhost:5000/team/app:1.0")
    assert records == [{"Untagged": "localhost:5000/team/app:1.0"}]
    actions = [(e["Action"], e["Actor"]["Attributes"].get("name")) for e in events.since(0)]
    assert ("tag", "localhost:5000/team/app:1.0") in actions and ("untag", image_id) in actions
    with pytest.raises(InvalidArgument):
        service.tag("busybox", "busybox@sha256:" + "a" * 64)


def test_rmi_last_tag_deletes_image_and_layers(service: ImageService) -> None:
    image_id = _import(service)
    layer = service.resolve(image_id).top_layer
    records = service.delete("busybox")
    assert records == [{"Untagged": "busybox:latest"}, {"Deleted": image_id}, {"Deleted": layer}]
    assert service.list_images() == []
    assert service.snapshotter.list() == []
    assert list(service.content.walk()) == []


def test_rmi_refuses_images_in_use(service: ImageService, users: Users) -> None:
    image_id = _import(service)
    short = image_id.split(":")[1][:12]
    users.in_use = {image_id: ["1a2b3c4d5e6f7a8b"]}
    with pytest.raises(Conflict) as info:
        service.delete("busybox")
    assert str(info.value) == (
        f'conflict: unable to remove repository reference "busybox" (must force) - container 1a2b3c4d5e6f '
        f"is using its referenced image {short}"
    )
    with pytest.raises(
        Conflict, match=rf"unable to delete {short} \(must be forced\) - image is being used by stopped"
    ):
        service.delete(short)
    users.running = {image_id: ["1a2b3c4d5e6f7a8b"]}
    with pytest.raises(
        Conflict,
        match=rf"unable to delete {short} \(cannot be forced\) - image is being used by running container",
    ):
        service.delete(short, force=True)
    users.running = {}
    service.snapshotter.prepare("ctr", service.resolve(image_id).top_layer)
    records = service.delete("busybox", force=True)
    assert records[0] == {"Untagged": "busybox:latest"} and records[1] == {"Deleted": image_id}
    assert len(records) == 2  # the container's snapshot keeps the layer
    service.snapshotter.remove("ctr")


def test_rmi_by_id_with_several_repositories_needs_force(service: ImageService) -> None:
    image_id = _import(service)
    service.tag(image_id, "other")
    with pytest.raises(Conflict, match="image is referenced in one or more repositories"):
        service.delete(image_id[7:19])
    records = service.delete(image_id[7:19], force=True)
    assert {"Untagged": "busybox:latest"} in records and {"Untagged": "other:latest"} in records
    assert {"Deleted": image_id} in records


def test_retag_leaves_dangling_and_prune(service: ImageService) -> None:
    old = _import(service, data=layer_tar({"a": b"1"}))
    new = _import(service, data=layer_tar({"a": b"2"}))
    assert old != new
    dangling = service.list_images(filters={"dangling": ["true"]})
    assert [i["Id"] for i in dangling] == [old] and dangling[0]["RepoTags"] == []
    result = service.prune({"dangling": ["true"]})
    assert {"Deleted": old} in result["ImagesDeleted"] and result["SpaceReclaimed"] == 1
    assert [i["Id"] for i in service.list_images()] == [new]
    result = service.prune({"dangling": ["false"]})
    assert {"Untagged": "busybox:latest"} in result["ImagesDeleted"]
    assert service.list_images() == []


def test_list_filters(service: ImageService) -> None:
    a = _import(service, repo="alpha", changes=["LABEL tier=web"], data=layer_tar({"a": b"a"}))
    b = _import(service, repo="beta", tag="v2", data=layer_tar({"b": b"b"}))
    assert {i["Id"] for i in service.list_images(filters={"label": ["tier=web"]})} == {a}
    assert {i["Id"] for i in service.list_images(filters={"label": ["tier"]})} == {a}
    assert {i["Id"] for i in service.list_images(filters={"reference": ["bet*"]})} == {b}
    assert {i["Id"] for i in service.list_images(filters={"reference": ["beta:v2"]})} == {b}
    assert {i["Id"] for i in service.list_images(filters={"dangling": ["false"]})} == {a, b}
    with pytest.raises(InvalidArgument):
        service.list_images(filters={"bogus": ["x"]})


def test_an_image_without_its_config_is_left_out_of_listings(
    tmp_path: Path, users: Users, events: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    """A config removed under the index (by hand, or by a removal racing the listing) costs that
    image its row in ``images``, with one warning, and never the listing itself."""
    service = ImageService(
        tmp_path / "image", events=events, in_use=lambda: users.in_use, running=lambda: users.running,
        snapshotter="naive",
    )  # fmt: skip
    kept = _import(service, repo="kept", data=layer_tar({"a": b"a"}))
    lost = _import(service, repo="lost", data=layer_tar({"b": b"b"}))
    service.close()
    service.content.blob_path(lost).unlink()
    service = ImageService(
        tmp_path / "image", events=events, in_use=lambda: users.in_use, running=lambda: users.running,
        snapshotter="naive",
    )  # fmt: skip
    try:
        assert [i["Id"] for i in service.list_images()] == [kept]
        assert f"image {lost} left out" in caplog.text
    finally:
        service.close()


def test_history_and_inspect(service: ImageService) -> None:
    image_id = _import(service, message="first")
    history = service.history("busybox")
    assert history[0]["Id"] == image_id and history[0]["Tags"] == ["busybox:latest"]
    assert history[0]["Comment"] == "first"
    inspect = service.inspect("busybox")
    assert inspect["Id"] == image_id and inspect["RepoTags"] == ["busybox:latest"]
    assert inspect["RootFS"]["Type"] == "layers" and len(inspect["RootFS"]["Layers"]) == 1
    assert inspect["Os"] == "linux" and inspect["Created"].endswith("Z")
    assert inspect["Config"]["Cmd"] is None and inspect["Config"]["Env"] is None


def test_save_then_load_elsewhere(service: ImageService, tmp_path: Path) -> None:
    image_id = _import(service, data=gzip.compress(rootfs_tar()))
    service.tag("busybox", "busybox", "other")
    out = io.BytesIO()
    service.save(["busybox"], out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    assert sorted(manifest[0]["RepoTags"]) == ["busybox:latest", "busybox:other"]
    assert {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]} == {
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:other",
    }
    other = ImageService(tmp_path / "other", events=EventBus(), in_use=dict, snapshotter="naive")
    out.seek(0)
    messages = other.load(out)
    assert sorted(messages) == ["Loaded image: busybox:latest", "Loaded image: busybox:other"]
    assert other.resolve("busybox:other").image_id == image_id
    other.close()


def test_load_rejects_corrupt_archives(service: ImageService) -> None:
    with pytest.raises(InvalidArgument, match="^archive/tar: invalid tar header$"):  # dockerd's words
        service.load(io.BytesIO(b"not a tar at all" * 100))
    with pytest.raises(InvalidArgument, match="^unexpected EOF$"):
        service.load(io.BytesIO(b"garbage"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"{}"
        info = tarfile.TarInfo("blobs/sha256/" + "0" * 64)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        service.load(io.BytesIO(buf.getvalue()))
    assert list(service.content.walk()) == []


def test_multi_layer_load_with_whiteouts(service: ImageService, tmp_path: Path) -> None:
    base = layer_tar({"etc/a": b"A", "etc/b": b"B"}, dirs=("etc",))
    top = layer_tar({"etc/.wh.a": b"", "etc/c": b"C"}, dirs=("etc",))
    archive = _docker_archive([base, top], ["multi:1"])
    assert service.load(io.BytesIO(archive)) == ["Loaded image: multi:1"]
    record = service.resolve("multi:1")
    assert len(record.chain_ids) == 2
    service.snapshotter.prepare("ctr", record.top_layer)
    fs = service.snapshotter.fs("ctr")
    assert sorted(p.name for p in (fs / "etc").iterdir()) == ["b", "c"]
    service.snapshotter.remove("ctr")


def _docker_archive(layers: list[bytes], tags: list[str]) -> bytes:
    import hashlib

    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"step {i}"} for i in range(len(layers))],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for i, layer in enumerate(layers):
            add(f"layer{i}/layer.tar", layer)
        add(config_name, config)
        add(
            "manifest.json",
            json.dumps(
                [
                    {
                        "Config": config_name,
                        "RepoTags": tags,
                        "Layers": [f"layer{i}/layer.tar" for i in range(len(layers))],
                    }
                ]
            ).encode(),
        )
    return buf.getvalue()


def test_recovery_removes_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "image"
    svc = ImageService(root, events=EventBus(), in_use=dict, snapshotter="naive")
    image_id = _import(svc)
    svc.snapshotter.prepare("extract-deadbeef")
    (root / "content" / "ingest" / "stale").write_bytes(b"half")
    orphan = svc.content.write_bytes(b"orphan blob")
    svc.close()
    again = ImageService(root, events=EventBus(), in_use=dict, snapshotter="naive")
    assert not again.snapshotter.exists("extract-deadbeef")
    assert list((root / "content" / "ingest").iterdir()) == []
    assert not again.content.exists(orphan)
    assert again.resolve("busybox").image_id == image_id
    again.close()


def test_create_image_on_a_parent_and_child_conflict(service: ImageService) -> None:
    base = _import(service)
    child = service.create_image(
        io.BytesIO(layer_tar({"app": b"run"})),
        parent="busybox",
        config={"Cmd": ["/app"]},
        history={"created_by": "COPY app /"},
        repo="app",
    )
    assert child.parent == base and len(child.chain_ids) == 2
    assert child.chain_ids[0] == service.resolve(base).chain_ids[0]
    assert [h["CreatedBy"] for h in service.history("app")] == ["COPY app /", ""]
    empty = service.create_image(None, parent="app", config={}, history={"created_by": "LABEL x=y"})
    assert empty.top_layer == child.top_layer
    with pytest.raises(Conflict, match="image has dependent child images"):
        service.delete(base[7:19])
    service.delete(empty.image_id)
    service.delete("app")
    service.delete("busybox")
    assert service.snapshotter.list() == [] and list(service.content.walk()) == []


def test_refused_import_leaves_nothing_behind(service: ImageService, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InvalidArgument, match="invalid layer tar: entry '../../escape'"):
        service.import_image(io.BytesIO(buf.getvalue()), repo="bad")
    assert list(service.content.walk()) == []
    assert service.snapshotter.list() == []
    assert list((tmp_path / "image" / "content" / "ingest").iterdir()) == []
    assert not (tmp_path / "escape").exists()
