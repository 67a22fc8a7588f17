"""Images on the overlay snapshotter, mounted for real: many layers, whiteouts, opaque dirs, export."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_tars import Entry, build_tar

from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.oci.mount import Mount

pytestmark = pytest.mark.root

D = tarfile.DIRTYPE


@pytest.fixture
def service(store_root: Path) -> Iterator[ImageService]:
    svc = ImageService(store_root / "image", events=EventBus(), in_use=dict, snapshotter="overlay")
    yield svc
    svc.close()


def docker_archive(layers: list[bytes], tags: list[str]) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for i, layer in enumerate(layers):
            add(f"l{i}/layer.tar", layer)
        add("config.json", config)
        add(
            "manifest.json",
            json.dumps(
                [
                    {
                        "Config": "config.json",
                        "RepoTags": tags,
                        "Layers": [f"l{i}/layer.tar" for i in range(len(layers))],
                    }
                ]
            ).encode(),
        )
    return buf.getvalue()


def read_in_namespace(mounts: list[Mount], target: Path, script: str) -> str:
    """Mount ``mounts`` at ``target`` inside a private mount namespace and run ``script`` there."""
    mount = mounts[0]
    if mount.type == "bind":
        cmd = f'mount --bind "{mount.source}" "{target}" && cd "{target}" && {script}'
    else:
        cmd = (
            f'mount -t overlay overlay -o "{",".join(mount.options)}" "{target}" && cd "{target}" && {script}'
        )
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sixty_layers_fit_in_one_page_and_mount(service: ImageService, store_root: Path) -> None:
    layers = [
        build_tar([Entry("data/", D, mode=0o755), Entry(f"data/file{i:02}", data=f"{i}".encode())])
        for i in range(60)
    ]
    layers[30] = build_tar(
        [Entry("data/", D, mode=0o755), Entry("data/.wh.file05", data=b""), Entry("data/file30", data=b"30")]
    )
    assert service.load(io.BytesIO(docker_archive(layers, ["many:layers"]))) == ["Loaded image: many:layers"]
    record = service.resolve("many:layers")
    mounts = service.snapshotter.prepare("ctr-many", record.top_layer)
    assert mounts[0].type == "overlay"
    assert len(",".join(mounts[0].options)) < 4096
    target = store_root / "mnt"
    target.mkdir()
    listing = read_in_namespace(
        mounts, target, "ls data | wc -l; cat data/file59; echo; test ! -e data/file05 && echo gone"
    )
    assert listing.split() == ["59", "59", "gone"]
    service.snapshotter.remove("ctr-many")


def test_whiteouts_and_opaque_dirs_through_overlay(service: ImageService, store_root: Path) -> None:
    base = build_tar(
        [
            Entry("etc/", D, mode=0o755),
            Entry("etc/a", data=b"A"),
            Entry("etc/b", data=b"B"),
            Entry("var/", D, mode=0o755),
            Entry("var/cache/", D, mode=0o755),
            Entry("var/cache/old", data=b"old"),
        ]
    )
    top = build_tar(
        [
            Entry("etc/", D, mode=0o755),
            Entry("etc/.wh.a", data=b""),
            Entry("var/", D, mode=0o755),
            Entry("var/cache/", D, mode=0o755),
            Entry("var/cache/new", data=b"new"),
            Entry("var/cache/.wh..wh..opq", data=b""),
        ]
    )
    service.load(io.BytesIO(docker_archive([base, top], ["wh:1"])))
    record = service.resolve("wh:1")
    mounts = service.snapshotter.prepare("ctr-wh", record.top_layer)
    target = store_root / "mnt"
    target.mkdir()
    out = read_in_namespace(mounts, target, "ls etc; echo --; ls var/cache; echo x > etc/written")
    assert out.split() == ["b", "--", "new"]
    changes = dict(service.snapshotter.changes("ctr-wh"))
    assert changes == {"/etc": 0, "/etc/written": 1}
    exported = io.BytesIO()
    service.snapshotter.export("ctr-wh", exported)
    exported.seek(0)
    with tarfile.open(fileobj=exported) as tar:
        names = set(tar.getnames())
    assert {"etc/b", "etc/written", "var/cache/new"} <= names
    assert not {"etc/a", "var/cache/old"} & names
    assert not list((service.snapshotter.root / "tmp").iterdir())
    service.snapshotter.remove("ctr-wh")


def test_layers_are_shared_between_images(service: ImageService) -> None:
    base = build_tar([Entry("shared", data=b"s")])
    service.load(io.BytesIO(docker_archive([base], ["one:1"])))
    service.load(io.BytesIO(docker_archive([base, build_tar([Entry("extra", data=b"e")])], ["two:1"])))
    committed = [i for i in service.snapshotter.list() if i.kind == "committed"]
    assert len(committed) == 2
    records = service.delete("two:1")
    assert len([r for r in records if "Deleted" in r]) == 2  # the image and its own top layer only
    assert service.resolve("one:1").top_layer in {i.key for i in service.snapshotter.list()}


def test_diff_of_a_container_keeps_whiteouts_and_opaque_dirs(service: ImageService) -> None:
    base = build_tar(
        [
            Entry("etc/", D, mode=0o755),
            Entry("etc/a", data=b"A"),
            Entry("var/", D, mode=0o755),
            Entry("var/cache/", D, mode=0o755),
            Entry("var/cache/old", data=b"old"),
        ]
    )
    service.load(io.BytesIO(docker_archive([base], ["diffme:1"])))
    record = service.resolve("diffme:1")
    service.snapshotter.prepare("ctr-diff", record.top_layer)
    upper = service.snapshotter.fs("ctr-diff")
    (upper / "var" / "cache").mkdir(parents=True)
    os.setxattr(upper / "var" / "cache", "trusted.overlay.opaque", b"y")
    (upper / "var" / "cache" / "fresh").write_bytes(b"fresh")
    (upper / "etc").mkdir()
    os.mknod(upper / "etc" / "a", stat.S_IFCHR, os.makedev(0, 0))
    layer = io.BytesIO()
    service.snapshotter.diff("ctr-diff", layer)
    with tarfile.open(fileobj=io.BytesIO(layer.getvalue())) as tar:
        names = tar.getnames()
    assert "etc/.wh.a" in names and "var/cache/.wh..wh..opq" in names and "var/cache/fresh" in names
    layer.seek(0)
    child = service.create_image(
        layer, parent="diffme:1", config={"Cmd": ["sh"]}, history={"created_by": "commit"}
    )
    service.snapshotter.prepare("ctr-check", child.top_layer)
    target = service.snapshotter.root / "tmp" / "check"
    target.mkdir()
    try:
        out = read_in_namespace(
            service.snapshotter.mounts("ctr-check"), target, "ls etc; echo --; ls var/cache"
        )
    finally:
        target.rmdir()
    assert out.split() == ["--", "fresh"]
    service.snapshotter.remove("ctr-check")
    service.snapshotter.remove("ctr-diff")
