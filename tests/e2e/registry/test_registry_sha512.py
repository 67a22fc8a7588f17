"""sha512 digests against the real server, over raw HTTP: every place the Distribution spec names a digest.

Uploads (monolithic, chunked, streamed), blob HEAD/GET/DELETE, a cross-repository mount, a manifest
pushed and fetched by its sha512 digest, referrers of a sha512 subject, refusals (a wrong sha512, an
unknown algorithm), then gc and check on what is on disk; a pull-through cache fetching by sha512.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from registry_e2e_helpers import RunningRegistry, basic, start_registry

ALICE = basic("alice", "alicepw")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def _start(running: RunningRegistry, repo: str) -> str:
    status, headers, body = running.request("POST", f"/v2/{repo}/blobs/uploads/", headers=ALICE)
    assert status == 202, body
    return headers["Location"]


def _monolithic(running: RunningRegistry, repo: str, data: bytes) -> str:
    digest = sha512(data)
    status, headers, body = running.request(
        "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data=data, headers=ALICE
    )
    assert status == 201, body
    assert headers["Docker-Content-Digest"] == digest
    assert headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    return digest


def _chunked(running: RunningRegistry, repo: str, data: bytes, step: int) -> str:
    location, offset = _start(running, repo), 0
    while offset < len(data) - step:
        chunk = data[offset : offset + step]
        status, headers, body = running.request(
            "PATCH",
            location,
            data=chunk,
            headers={**ALICE, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
        )
        assert status == 202, body
        location, offset = headers["Location"], offset + len(chunk)
    digest = sha512(data)
    last = data[offset:]
    status, headers, body = running.request(
        "PUT",
        f"{location}?digest={digest}",
        data=last,
        headers={**ALICE, "Content-Range": f"{offset}-{len(data) - 1}"},
    )
    assert status == 201, body
    assert headers["Docker-Content-Digest"] == digest
    return digest


def _streamed(running: RunningRegistry, repo: str, data: bytes) -> str:
    """PATCH with a chunked (length-less) body, then a PUT with no body that names the digest."""
    location = _start(running, repo)

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    req = urllib.request.Request(running.url + location, data=pieces(), method="PATCH", headers=ALICE)
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 202
        assert resp.headers["Range"] == f"0-{len(data) - 1}"
        location = resp.headers["Location"]
    digest = sha512(data)
    status, headers, body = running.request("PUT", f"{location}?digest={digest}", headers=ALICE)
    assert status == 201, body
    return digest


def _manifest(config: str, config_size: int, layers: list[tuple[str, int]], **extra: object) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": config_size,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
                for d, s in layers
            ],
            **extra,
        }
    ).encode()


def _put_manifest(running: RunningRegistry, repo: str, reference: str, body: bytes) -> dict[str, str]:
    status, headers, text = running.request(
        "PUT", f"/v2/{repo}/manifests/{reference}", data=body, headers={**ALICE, "Content-Type": OCI_MANIFEST}
    )
    assert status == 201, text
    return headers


def _error_code(body: bytes) -> str:
    return str(json.loads(body)["errors"][0]["code"])


def _blob_file(running: RunningRegistry, digest: str) -> str:
    algorithm, hexpart = digest.split(":", 1)
    return str(running.root / "storage" / "blobs" / algorithm / hexpart[:2] / hexpart / "data")


def test_uploads_blobs_and_mounts_by_sha512(running: RunningRegistry) -> None:
    one, two, three = os.urandom(300_000), os.urandom(1 << 20), os.urandom(700_000)
    uploaded = {
        _monolithic(running, "alice/src", one): one,
        _chunked(running, "alice/src", two, 256 * 1024): two,
        _streamed(running, "alice/src", three): three,
    }
    for digest, data in uploaded.items():
        status, headers, body = running.request("GET", f"/v2/alice/src/blobs/{digest}", headers=ALICE)
        assert status == 200 and body == data
        assert headers["Docker-Content-Digest"] == digest
        status, headers, _ = running.request("HEAD", f"/v2/alice/src/blobs/{digest}", headers=ALICE)
        assert status == 200 and headers["Content-Length"] == str(len(data))
        with open(_blob_file(running, digest), "rb") as f:  # stored under blobs/sha512/
            assert hashlib.sha512(f.read()).hexdigest() == digest.split(":", 1)[1]

    digest = next(iter(uploaded))
    status, headers, body = running.request(
        "POST", f"/v2/alice/dst/blobs/uploads/?mount={digest}&from=alice/src", headers=ALICE
    )
    assert status == 201, body
    assert headers["Location"] == f"/v2/alice/dst/blobs/{digest}"
    status, _, body = running.request("GET", f"/v2/alice/dst/blobs/{digest}", headers=ALICE)
    assert status == 200 and body == uploaded[digest]

    status, headers, _ = running.request("DELETE", f"/v2/alice/dst/blobs/{digest}", headers=ALICE)
    assert status == 202 and headers["Docker-Content-Digest"] == digest
    assert running.request("HEAD", f"/v2/alice/dst/blobs/{digest}", headers=ALICE)[0] == 404
    assert running.request("HEAD", f"/v2/alice/src/blobs/{digest}", headers=ALICE)[0] == 200


def test_wrong_and_unknown_digests_are_refused(running: RunningRegistry) -> None:
    data = b"the real bytes"
    wrong = sha512(b"other bytes")
    status, _, body = running.request(
        "POST", f"/v2/alice/bad/blobs/uploads/?digest={wrong}", data=data, headers=ALICE
    )
    assert status == 400 and _error_code(body) == "DIGEST_INVALID"
    location = _start(running, "alice/bad")
    status, _, body = running.request("PUT", f"{location}?digest={wrong}", data=data, headers=ALICE)
    assert status == 400 and _error_code(body) == "DIGEST_INVALID"
    status, _, body = running.request("PUT", f"{location}?digest={sha512(data)}", headers=ALICE)
    assert status == 201, body  # the session stayed open after the mismatch; its bytes close it

    sha384 = "sha384:" + hashlib.sha384(data).hexdigest()
    status, _, body = running.request(
        "POST", f"/v2/alice/bad/blobs/uploads/?digest={sha384}", data=data, headers=ALICE
    )
    assert status == 400 and "unsupported digest algorithm 'sha384'" in body.decode()
    for path in (
        f"/v2/alice/bad/blobs/{sha384}",
        f"/v2/alice/bad/manifests/{sha384}",
        f"/v2/alice/bad/referrers/{sha384}",
    ):
        status, _, body = running.request("GET", path, headers=ALICE)
        assert status == 400 and _error_code(body) == "DIGEST_INVALID", path
    upper = sha512(data).upper().replace("SHA512", "sha512")
    status, _, body = running.request("GET", f"/v2/alice/bad/blobs/{upper}", headers=ALICE)
    assert status == 400 and _error_code(body) == "DIGEST_INVALID"

    config = b"{}"
    cfg = _monolithic(running, "alice/bad", config)
    manifest = _manifest(cfg, len(config), [])
    status, _, body = running.request(
        "PUT",
        f"/v2/alice/bad/manifests/{sha512(manifest + b' ')}",
        data=manifest,
        headers={**ALICE, "Content-Type": OCI_MANIFEST},
    )
    assert status == 400 and _error_code(body) == "DIGEST_INVALID"
    assert running.request("GET", f"/v2/alice/bad/manifests/{sha512(manifest)}", headers=ALICE)[0] == 404
    # nothing of the refused uploads became visible
    assert running.request("HEAD", f"/v2/alice/bad/blobs/{wrong}", headers=ALICE)[0] == 404


def test_manifest_and_referrers_by_sha512_then_gc_and_check(running: RunningRegistry) -> None:
    config, layer = json.dumps({"architecture": "amd64", "os": "linux"}).encode(), os.urandom(50_000)
    cfg, lay = _monolithic(running, "alice/app", config), _monolithic(running, "alice/app", layer)
    manifest = _manifest(cfg, len(config), [(lay, len(layer))])
    digest = sha512(manifest)
    headers = _put_manifest(running, "alice/app", f"{digest}?tag=v1", manifest)
    assert headers["Docker-Content-Digest"] == digest
    assert headers["Location"] == f"/v2/alice/app/manifests/{digest}"
    for reference in (digest, "v1"):
        status, got, body = running.request(
            "GET", f"/v2/alice/app/manifests/{reference}", headers={**ALICE, "Accept": OCI_MANIFEST}
        )
        assert status == 200 and body == manifest, reference
        assert got["Docker-Content-Digest"] == digest and got["Content-Type"] == OCI_MANIFEST
    status, got, _ = running.request("HEAD", f"/v2/alice/app/manifests/{digest}", headers=ALICE)
    assert status == 200 and got["Content-Length"] == str(len(manifest))

    empty = _monolithic(running, "alice/app", b"{}")
    signature = _manifest(
        empty,
        2,
        [],
        artifactType="application/vnd.example.signature",
        subject={"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)},
    )
    referrer = sha512(signature)
    headers = _put_manifest(running, "alice/app", referrer, signature)
    assert headers["OCI-Subject"] == digest
    status, _, body = running.request("GET", f"/v2/alice/app/referrers/{digest}", headers=ALICE)
    assert status == 200
    assert [(m["digest"], m["artifactType"]) for m in json.loads(body)["manifests"]] == [
        (referrer, "application/vnd.example.signature")
    ]

    orphan = _monolithic(running, "alice/app", b"uploaded, never named")
    collected = running.cli("gc", "--grace", "0")
    assert collected.returncode == 0, collected.stderr
    assert f"removed blob {orphan}" in collected.stdout
    assert not os.path.exists(_blob_file(running, orphan))
    for kept in (cfg, lay, digest, empty, referrer):
        assert kept not in collected.stdout
        assert os.path.exists(_blob_file(running, kept))
    status, _, body = running.request("GET", f"/v2/alice/app/blobs/{lay}", headers=ALICE)
    assert status == 200 and body == layer
    assert running.request("GET", f"/v2/alice/app/manifests/{digest}", headers=ALICE)[0] == 200

    checked = running.cli("check")
    assert checked.returncode == 0 and checked.stdout == "no problems found\n", checked.stdout
    with open(_blob_file(running, lay), "r+b") as f:  # same size, other bytes
        f.write(b"X" * 16)
    checked = running.cli("check")
    assert checked.returncode == 1, checked.stdout
    assert f"blob {lay} in storage: bytes do not match the digest" in checked.stdout
    assert f"manifest alice/app@{digest}: its layer {lay} is corrupt" in checked.stdout


def test_pull_through_cache_fetches_and_keeps_by_sha512(running: RunningRegistry, tmp_path: Path) -> None:
    config, layer = b"{}", os.urandom(100_000)
    cfg, lay = _monolithic(running, "alice/app", config), _monolithic(running, "alice/app", layer)
    manifest = _manifest(cfg, len(config), [(lay, len(layer))])
    digest = sha512(manifest)
    _put_manifest(running, "alice/app", digest, manifest)
    settings = tmp_path / "proxy.yml"
    settings.write_text(f"proxy:\n  remote_url: {running.url}\n  username: alice\n  password: alicepw\n")
    proxy = start_registry(tmp_path / "proxy", config=settings)
    try:
        wanted = {f"manifests/{digest}": manifest, f"blobs/{lay}": layer, f"blobs/{cfg}": config}
        for path, data in wanted.items():
            status, headers, body = proxy.request("GET", f"/v2/alice/app/{path}")
            assert status == 200 and body == data, path
            assert headers["Docker-Content-Digest"] == path.split("/", 1)[1]
        running.stop()  # what was fetched once is now served from the cache, still by sha512
        for path, data in wanted.items():
            status, _, body = proxy.request("GET", f"/v2/alice/app/{path}")
            assert status == 200 and body == data, path
        algorithm, hexpart = lay.split(":", 1)
        assert (proxy.root / "storage" / "blobs" / algorithm / hexpart[:2] / hexpart / "data").exists()
    finally:
        proxy.stop()
