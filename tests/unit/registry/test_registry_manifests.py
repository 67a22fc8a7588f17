"""Manifests, indexes, Accept negotiation, tags pagination, catalog and referrers (in-process app)."""

from __future__ import annotations

import hashlib
import io
import json

from registry_helpers import ALICE, BOB, ROOT, Client, push_blob, push_image, sha

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


async def _code(r: object) -> str:
    return str(json.loads(await r.text())["errors"][0]["code"])  # type: ignore[attr-defined]


async def test_oci_manifest_by_tag_and_digest(client: Client) -> None:
    digest, body = await push_image(client, "alice/app", "v1")
    for ref in ("v1", digest):
        r = await client.get(f"/v2/alice/app/manifests/{ref}", headers={**ALICE, "Accept": OCI_MANIFEST})
        assert r.status == 200
        assert await r.read() == body  # exact bytes
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
    r = await client.head("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 200 and r.headers["Content-Length"] == str(len(body))


async def test_docker_schema2_manifest(client: Client) -> None:
    digest, _ = await push_image(client, "alice/app", "d", media_type=DOCKER_MANIFEST)
    r = await client.get("/v2/alice/app/manifests/d", headers={**ALICE, "Accept": DOCKER_MANIFEST})
    assert r.status == 200 and r.headers["Content-Type"] == DOCKER_MANIFEST


async def test_oci_manifest_by_tag_unknown_to_docker_only_client(client: Client) -> None:
    await push_image(client, "alice/app", "v1")
    r = await client.get("/v2/alice/app/manifests/v1", headers={**ALICE, "Accept": DOCKER_MANIFEST})
    assert r.status == 404 and await _code(r) == "MANIFEST_UNKNOWN"


async def test_index_and_negotiation_for_clients_without_index_support(client: Client) -> None:
    amd, amd_body = await push_image(client, "alice/multi", "amd64", media_type=DOCKER_MANIFEST, layer=b"a")
    arm, arm_body = await push_image(client, "alice/multi", "arm64", media_type=DOCKER_MANIFEST, layer=b"b")
    index = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": arm,
                "size": len(arm_body),
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": amd,
                "size": len(amd_body),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
    body = json.dumps(index).encode()
    r = await client.put(
        "/v2/alice/multi/manifests/latest", data=body, headers={**ALICE, "Content-Type": DOCKER_LIST}
    )
    assert r.status == 201
    r = await client.get(
        "/v2/alice/multi/manifests/latest", headers={**ALICE, "Accept": f"{DOCKER_LIST}, {DOCKER_MANIFEST}"}
    )
    assert r.headers["Content-Type"] == DOCKER_LIST and await r.read() == body
    r = await client.get("/v2/alice/multi/manifests/latest", headers={**ALICE, "Accept": DOCKER_MANIFEST})
    assert r.headers["Docker-Content-Digest"] == amd


async def test_index_with_missing_child_is_refused(client: Client) -> None:
    await push_blob(client, "alice/x", b"x")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha(b"nope"), "size": 4}],
    }
    r = await client.put(
        "/v2/alice/x/manifests/t", data=json.dumps(index), headers={**ALICE, "Content-Type": OCI_INDEX}
    )
    assert r.status == 400 and await _code(r) == "MANIFEST_BLOB_UNKNOWN"


async def test_manifest_with_missing_blob_is_refused(client: Client) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(b"c"), "size": 1},
        "layers": [],
    }
    r = await client.put(
        "/v2/alice/app/manifests/v1",
        data=json.dumps(manifest),
        headers={**ALICE, "Content-Type": OCI_MANIFEST},
    )
    assert r.status == 400 and await _code(r) == "MANIFEST_BLOB_UNKNOWN"


async def test_invalid_manifest(client: Client) -> None:
    r = await client.put(
        "/v2/alice/app/manifests/v1", data=b"{not json", headers={**ALICE, "Content-Type": OCI_MANIFEST}
    )
    assert r.status == 400 and await _code(r) == "MANIFEST_INVALID"
    r = await client.put(
        "/v2/alice/app/manifests/v1",
        data=json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        headers={**ALICE, "Content-Type": OCI_MANIFEST},
    )
    assert r.status == 400 and await _code(r) == "MANIFEST_INVALID"


async def test_put_by_digest_with_tags_and_digest_mismatch(client: Client) -> None:
    digest, body = await push_image(client, "alice/app", "v1")
    r = await client.put(
        f"/v2/alice/app/manifests/{digest}?tag=a&tag=b",
        data=body,
        headers={**ALICE, "Content-Type": OCI_MANIFEST},
    )
    assert r.status == 201 and r.headers.getall("OCI-Tag") == ["a", "b"]
    r = await client.put(
        f"/v2/alice/app/manifests/{sha(b'other')}", data=body, headers={**ALICE, "Content-Type": OCI_MANIFEST}
    )
    assert r.status == 400 and await _code(r) == "DIGEST_INVALID"


async def test_delete_tag_then_manifest(client: Client) -> None:
    digest, _ = await push_image(client, "alice/app", "v1")
    await push_image(client, "alice/app", "v2")
    r = await client.delete("/v2/alice/app/manifests/v2", headers=ALICE)
    assert r.status == 202
    r = await client.get("/v2/alice/app/manifests/v2", headers=ALICE)
    assert r.status == 404
    r = await client.delete(f"/v2/alice/app/manifests/{digest}", headers=ALICE)
    assert r.status == 202
    r = await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 404 and await _code(r) == "MANIFEST_UNKNOWN"


async def test_tags_pagination(client: Client) -> None:
    for tag in ["b", "a", "d", "c", "e"]:
        await push_image(client, "alice/app", tag)
    r = await client.get("/v2/alice/app/tags/list", headers=ALICE)
    assert (await r.json())["tags"] == ["a", "b", "c", "d", "e"]
    r = await client.get("/v2/alice/app/tags/list?n=2", headers=ALICE)
    assert (await r.json())["tags"] == ["a", "b"]
    assert r.headers["Link"] == '</v2/alice/app/tags/list?n=2&last=b>; rel="next"'
    r = await client.get("/v2/alice/app/tags/list?n=2&last=b", headers=ALICE)
    assert (await r.json())["tags"] == ["c", "d"]
    r = await client.get("/v2/alice/app/tags/list?n=2&last=d", headers=ALICE)
    assert (await r.json())["tags"] == ["e"] and "Link" not in r.headers
    r = await client.get("/v2/alice/app/tags/list?n=0", headers=ALICE)
    assert (await r.json())["tags"] == [] and "Link" not in r.headers
    r = await client.get("/v2/alice/nothing/tags/list", headers=ALICE)
    assert r.status == 404 and await _code(r) == "NAME_UNKNOWN"


async def test_catalog_shows_only_visible(client: Client) -> None:
    await push_image(client, "alice/one", "v1")
    await push_image(client, "alice/two", "v1")
    await push_image(client, "bob/three", "v1", headers=BOB)
    r = await client.get("/v2/_catalog", headers=ALICE)
    assert (await r.json())["repositories"] == ["alice/one", "alice/two"]
    r = await client.get("/v2/_catalog?n=1", headers=ROOT)
    assert (await r.json())["repositories"] == ["alice/one"]
    assert 'rel="next"' in r.headers["Link"]
    r = await client.get("/v2/_catalog?n=5&last=alice/one", headers=ROOT)
    assert (await r.json())["repositories"] == ["alice/two", "bob/three"]


async def test_referrers(client: Client) -> None:
    subject, subject_body = await push_image(client, "alice/app", "v1")
    empty = await push_blob(client, "alice/app", b"{}")
    sbom = await push_blob(client, "alice/app", b"sbom")
    artifact = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": sbom, "size": 4}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
        "annotations": {"org.example": "yes"},
    }
    body = json.dumps(artifact).encode()
    r = await client.put(
        f"/v2/alice/app/manifests/{sha(body)}", data=body, headers={**ALICE, "Content-Type": OCI_MANIFEST}
    )
    assert r.status == 201 and r.headers["OCI-Subject"] == subject
    r = await client.get(f"/v2/alice/app/referrers/{subject}", headers=ALICE)
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX
    refs = (await r.json())["manifests"]
    assert refs == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha(body),
            "size": len(body),
            "artifactType": "application/vnd.example.sbom",
            "annotations": {"org.example": "yes"},
        }
    ]
    r = await client.get(f"/v2/alice/app/referrers/{subject}?artifactType=other/type", headers=ALICE)
    assert (await r.json())["manifests"] == [] and r.headers["OCI-Filters-Applied"] == "artifactType"
    r = await client.get(f"/v2/alice/app/referrers/{sha(b'none')}", headers=ALICE)
    assert r.status == 200 and (await r.json())["manifests"] == []
    r = await client.get("/v2/alice/app/referrers/sha256:bad", headers=ALICE)
    assert r.status == 400
    r = await client.get(f"/v2/alice/not-yet/referrers/{subject}?artifactType=x/y", headers=ALICE)
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX  # the spec: never a 404
    assert await r.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


async def test_a_large_manifest_arrives_whole_and_one_over_the_limit_is_413(client: Client) -> None:
    """A body comes in pieces: a 3.9 MB manifest must be read to its end before its digest is taken."""
    from berth.registry.manifests import MAX_MANIFEST_BYTES

    big = {"annotations": {"filler": "x" * 3_900_000}}
    digest, body = await push_image(client, "alice/big", "v1", extra=big)
    assert len(body) > 3_900_000 and digest == sha(body)
    r = await client.get(f"/v2/alice/big/manifests/{digest}", headers={**ALICE, "Accept": OCI_MANIFEST})
    assert r.status == 200 and await r.read() == body
    over = json.dumps({"schemaVersion": 2, "annotations": {"filler": "x" * MAX_MANIFEST_BYTES}}).encode()
    headers = {**ALICE, "Content-Type": OCI_MANIFEST}
    r = await client.put("/v2/alice/big/manifests/v2", data=io.BytesIO(over), headers=headers)
    assert r.status == 413 and await _code(r) == "SIZE_INVALID"

    async def chunked() -> object:  # no Content-Length: refused as it passes the limit
        for start in range(0, len(over), 1 << 20):
            yield over[start : start + (1 << 20)]

    r = await client.put("/v2/alice/big/manifests/v3", data=chunked(), headers=headers)
    assert r.status == 413 and await _code(r) == "SIZE_INVALID"


async def test_manifest_of_sha512_blobs_by_tag_and_by_sha512(client: Client) -> None:
    layer = b"sha512 layer"
    layer_digest = "sha512:" + hashlib.sha512(layer).hexdigest()
    r = await client.post(f"/v2/alice/app/blobs/uploads/?digest={layer_digest}", data=layer, headers=ALICE)
    assert r.status == 201
    config_digest = await push_blob(client, "alice/app", b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    headers = {**ALICE, "Content-Type": OCI_MANIFEST}
    r = await client.put("/v2/alice/app/manifests/v1", data=body, headers=headers)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha(body)  # a tag push: sha256
    by_sha512 = "sha512:" + hashlib.sha512(body).hexdigest()
    r = await client.put(f"/v2/alice/app/manifests/{by_sha512}", data=body, headers=headers)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == by_sha512
    for reference, digest in ((by_sha512, by_sha512), (sha(body), sha(body)), ("v1", sha(body))):
        r = await client.get(f"/v2/alice/app/manifests/{reference}", headers=ALICE)
        assert r.status == 200 and await r.read() == body
        assert r.headers["Docker-Content-Digest"] == digest
    r = await client.delete(f"/v2/alice/app/manifests/{by_sha512}", headers=ALICE)
    assert r.status == 202
    r = await client.get(f"/v2/alice/app/manifests/{by_sha512}", headers=ALICE)
    assert r.status == 404 and await _code(r) == "MANIFEST_UNKNOWN"
    r = await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 200  # the sha256-named copy and its tag are untouched
