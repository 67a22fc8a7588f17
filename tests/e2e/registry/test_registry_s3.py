"""berth-registry on the S3 driver against a real radosgw (the session's one-node Ceph): skopeo push and
pull of a multi-layer image, a chunked upload continued by a second serve process, gc and check on S3,
and blob GETs redirected to presigned URLs."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from registry_e2e_helpers import RunningRegistry, basic, sha, skopeo, start_registry

from berth.testing.ceph import CephCluster
from berth.testing.registry import registry_cli

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (apt install skopeo)")
ALICE = basic("alice", "alicepw")


def _config(path: Path, ceph: CephCluster, bucket: str, *, redirect: bool = False) -> Path:
    # Credentials from the environment (as an operator would), the rest from the file.
    path.write_text(
        "storage:\n  driver: s3\n  s3:\n"
        f"    endpoint: {ceph.endpoint}\n    region: {ceph.region}\n    bucket: {bucket}\n"
        f"    path_style: true\n    redirect: {'true' if redirect else 'false'}\n"
        "gc:\n  grace_seconds: 0\n"
    )
    return path


@pytest.fixture
def aws_env(ceph: CephCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ceph.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ceph.secret_key)


@contextlib.contextmanager
def _s3(ceph: CephCluster) -> Iterator[Any]:
    client = boto3.client(
        "s3",
        endpoint_url=ceph.endpoint,
        region_name=ceph.region,
        aws_access_key_id=ceph.access_key,
        aws_secret_access_key=ceph.secret_key,
    )
    try:
        yield client
    finally:
        client.close()


def _keys(ceph: CephCluster, bucket: str) -> set[str]:
    with _s3(ceph) as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {c["Key"] for page in pages for c in page.get("Contents", [])}


def _layout(directory: Path, layers: list[bytes]) -> list[str]:
    """An OCI layout tagged v1 with these gzipped layers (skopeo pushes them as they are, where it would
    compress plain ones); returns every blob digest."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        return sha(data)

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    descriptors = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(b), "size": len(b)}
        for b in layers
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    digest = put(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return [d["digest"] for d in descriptors] + [sha(config), digest]


def _gz(size: int) -> bytes:
    return gzip.compress(os.urandom(size), compresslevel=1)


def _copy(src: str, dest: str, *extra: str) -> None:
    result = skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src, dest)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def s3_registry(
    tmp_path: Path, ceph: CephCluster, s3_bucket: str, aws_env: None
) -> Iterator[RunningRegistry]:
    config = _config(tmp_path / "config.yml", ceph, s3_bucket)
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        yield reg
    finally:
        reg.stop()


def test_skopeo_push_pull_gc_and_check_on_s3(
    s3_registry: RunningRegistry, tmp_path: Path, ceph: CephCluster, s3_bucket: str
) -> None:
    layers = [_gz(12 << 20), _gz(11), _gz(300_000)]  # one big enough for several parts
    digests = _layout(tmp_path / "image", layers)
    ref = f"docker://{s3_registry.host}/alice/multi:v1"
    _copy(f"oci:{tmp_path / 'image'}:v1", ref, "--dest-creds", "alice:alicepw")
    keys = _keys(ceph, s3_bucket)
    for digest in digests:  # every blob is an object in the bucket, nothing under --root/storage
        assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}/data" in keys
    assert not (tmp_path / "root" / "storage").exists() or not any(
        (tmp_path / "root" / "storage").rglob("data")
    )
    assert not any(k.startswith("uploads/") for k in keys)

    _copy(ref, f"oci:{tmp_path / 'pulled'}:v1", "--src-creds", "alice:alicepw")
    for layer in layers:
        assert (
            tmp_path / "pulled" / "blobs" / "sha256" / hashlib.sha256(layer).hexdigest()
        ).read_bytes() == layer

    # A second image whose only layer gc frees once its manifest is deleted.
    other = _layout(tmp_path / "other", [os.urandom(64_000)])
    _copy(
        f"oci:{tmp_path / 'other'}:v1",
        f"docker://{s3_registry.host}/alice/gone:v1",
        "--dest-creds",
        "alice:alicepw",
    )
    result = skopeo(
        "delete",
        "--tls-verify=false",
        "--creds",
        "alice:alicepw",
        f"docker://{s3_registry.host}/alice/gone:v1",
    )
    assert result.returncode == 0, result.stderr
    config = tmp_path / "config.yml"
    gc = registry_cli(s3_registry.root, "gc", config=config)
    assert gc.returncode == 0, gc.stderr
    keys = _keys(ceph, s3_bucket)
    assert f"blobs/sha256/{other[0][7:9]}/{other[0][7:]}/data" not in keys
    assert all(f"blobs/sha256/{d[7:9]}/{d[7:]}/data" in keys for d in digests)
    check = registry_cli(s3_registry.root, "check", config=config)
    assert check.returncode == 0, check.stdout + check.stderr

    with _s3(ceph) as client:
        client.delete_object(Bucket=s3_bucket, Key=f"blobs/sha256/{digests[1][7:9]}/{digests[1][7:]}/data")
    check = registry_cli(s3_registry.root, "check", config=config)
    assert check.returncode == 1 and digests[1] in check.stdout, check.stdout


def test_chunked_upload_continues_on_a_second_process(
    tmp_path: Path, ceph: CephCluster, s3_bucket: str, aws_env: None
) -> None:
    config = _config(tmp_path / "config.yml", ceph, s3_bucket)
    first = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    second = start_registry(tmp_path / "root", config=config)  # same --root (SQLite) and bucket
    try:
        status, headers, body = first.request("POST", "/v2/alice/chunks/blobs/uploads/", headers=ALICE)
        assert status == 202, body
        location = headers["Location"]
        pieces = [
            os.urandom(100_000),
            os.urandom(3 << 20),
            os.urandom(6 << 20),
            os.urandom(5),
            os.urandom(7 << 20),
        ]
        offset = 0
        for i, piece in enumerate(pieces):  # small and large PATCHes, alternating processes
            server = (first, second)[i % 2]
            status, headers, body = server.request(
                "PATCH",
                location,
                data=piece,
                headers={**ALICE, "Content-Range": f"{offset}-{offset + len(piece) - 1}"},
            )
            assert status == 202, body
            offset += len(piece)
            assert headers["Range"] == f"0-{offset - 1}"
        whole = b"".join(pieces)
        status, _, body = second.request("PUT", f"{location}?digest={sha(whole)}", headers=ALICE)
        assert status == 201, body
        status, _, body = first.request("GET", f"/v2/alice/chunks/blobs/{sha(whole)}", headers=ALICE)
        assert status == 200 and body == whole
        assert not any(k.startswith("uploads/") for k in _keys(ceph, s3_bucket))
    finally:
        second.stop()
        first.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_redirected_blob_gets_and_a_skopeo_pull(
    tmp_path: Path, ceph: CephCluster, s3_bucket: str, aws_env: None
) -> None:
    config = _config(tmp_path / "config.yml", ceph, s3_bucket, redirect=True)
    registry = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        layer = _gz(2 << 20)
        _layout(tmp_path / "image", [layer])
        ref = f"docker://{registry.host}/alice/redirected:v1"
        _copy(f"oci:{tmp_path / 'image'}:v1", ref, "--dest-creds", "alice:alicepw")
        request = urllib.request.Request(
            f"{registry.url}/v2/alice/redirected/blobs/{sha(layer)}", headers=ALICE
        )
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        answer.value.close()
        assert answer.value.code == 307
        location = answer.value.headers["Location"]
        assert location.startswith(ceph.endpoint) and "X-Amz-Signature" in location
        with urllib.request.urlopen(location, timeout=10) as direct:  # no registry credentials needed
            assert direct.read() == layer
        _copy(ref, f"oci:{tmp_path / 'pulled'}:v1", "--src-creds", "alice:alicepw")
        assert (
            tmp_path / "pulled" / "blobs" / "sha256" / hashlib.sha256(layer).hexdigest()
        ).read_bytes() == layer
    finally:
        registry.stop()
