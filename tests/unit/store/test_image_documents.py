"""berth.oci.image helpers (chain ids, timestamps, --change parsing, manifests) and the metadata index."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.oci import mediatypes
from berth.oci.digest import Digest, of_bytes
from berth.oci.image import (
    Descriptor,
    Manifest,
    apply_changes,
    chain_ids,
    format_rfc3339,
    parse_config,
    parse_rfc3339,
)
from berth.store.metadata import ImageIndex, ImageRow, LayerRow


def test_chain_ids_follow_the_image_spec() -> None:
    a, b = Digest("sha256:" + "a" * 64), Digest("sha256:" + "b" * 64)
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, expected]
    assert chain_ids([]) == []


def test_rfc3339_with_nanoseconds() -> None:
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456)
    assert parse_rfc3339("2024-01-02T03:04:05+01:00") == 1704161045.0
    assert parse_rfc3339("garbage") == 0.0 and parse_rfc3339(None) == 0.0
    assert format_rfc3339(1704164645.5) == "2024-01-02T03:04:05.500000000Z"


def test_apply_changes_forms() -> None:
    out = apply_changes(
        {"Env": ["A=0", "KEEP=1"]},
        ["ENV A 1 2", 'LABEL "a b"=c d=e', "EXPOSE 8080/udp", "VOLUME /a /b", "CMD echo hi", "ONBUILD RUN x"],
    )
    assert out["Env"] == ["KEEP=1", "A=1 2"]
    assert out["Labels"] == {"a b": "c", "d": "e"}
    assert out["ExposedPorts"] == {"8080/udp": {}}
    assert out["Volumes"] == {"/a": {}, "/b": {}}
    assert out["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert out["OnBuild"] == ["RUN x"]
    with pytest.raises(InvalidArgument, match="ADD is not a valid change command"):
        apply_changes({}, ["ADD x /"])


def test_parse_config_checks_rootfs() -> None:
    with pytest.raises(InvalidArgument, match="rootfs.type"):
        parse_config(b'{"rootfs": {"type": "other"}}')
    with pytest.raises(InvalidArgument):
        parse_config(b'{"rootfs": {"type": "layers", "diff_ids": ["md5:x"]}}')
    with pytest.raises(InvalidArgument):
        parse_config(b"[]")
    assert parse_config(b'{"rootfs": {"type": "layers", "diff_ids": []}}')["rootfs"]["diff_ids"] == []


def test_manifest_round_trip() -> None:
    config = Descriptor(mediatypes.OCI_CONFIG, of_bytes(b"{}"), 2)
    layer = Descriptor(mediatypes.OCI_LAYER_GZIP, of_bytes(b"layer"), 5, {"k": "v"})
    data = Manifest(config, (layer,)).to_bytes()
    back = Manifest.from_bytes(data)
    assert back.config == config and back.layers == (layer,)
    with pytest.raises(InvalidArgument):
        Manifest.from_bytes(b'{"mediaType": "application/vnd.oci.image.index.v1+json"}')


def test_index_refs_move_atomically(tmp_path: Path) -> None:
    index = ImageIndex(tmp_path / "metadata.db")
    one = ImageRow("sha256:" + "1" * 64, "sha256:" + "2" * 64, 1.0, "", "", 1.0)
    two = ImageRow("sha256:" + "3" * 64, "sha256:" + "4" * 64, 2.0, "", "", 2.0)
    assert index.put_image(one, [("docker.io/library/busybox:latest", "tag")]) == {}
    moved = index.put_image(two, [("docker.io/library/busybox:latest", "tag")])
    assert moved == {"docker.io/library/busybox:latest": one.image_id}
    assert index.refs(one.image_id) == []
    assert index.find_prefix("33") == [two.image_id] and index.find_prefix("") != []
    index.add_layer(
        LayerRow("sha256:" + "5" * 64, "sha256:" + "5" * 64, "", "sha256:" + "6" * 64, "t", 10, 5)
    )
    index.add_layer(LayerRow("sha256:" + "5" * 64, "x", "", "y", "t", 0, 0))  # first record wins
    assert index.layer("sha256:" + "5" * 64).tar_size == 10  # type: ignore[union-attr]
    index.delete_image(two.image_id)
    assert index.ref("docker.io/library/busybox:latest") is None
    index.close()
