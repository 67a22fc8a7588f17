"""Namespace quotas: size parsing, usage (each distinct blob once), refusals inside the linking
transaction (uploads, mounts, manifests), usage going down after deletes and gc, the v3 -> v4 step."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from registry_helpers import ALICE, BOB, Client, push_blob, push_image, sha

from berth.errors import InvalidArgument
from berth.registry import metadata
from berth.registry.gc import collect
from berth.registry.metadata import SqliteMetadata
from berth.registry.policy.quotas import QuotaExceeded
from berth.registry.policy.sizes import format_size, parse_size
from berth.registry.service import Registry


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1234", 1234),
        ("10B", 10),
        ("500MB", 500_000_000),
        ("500mb", 500_000_000),
        ("1.5 GB", 1_500_000_000),
        ("2GiB", 2 << 30),
        ("64kib", 64 << 10),
        ("3kB", 3000),
        ("1TB", 10**12),
    ],
)
def test_sizes_parse_decimal_and_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "five", "5g", "10 MBs", "-1MB", "1e6", "MB"])
def test_malformed_sizes_are_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(InvalidArgument, match="KiB, MiB, GiB"):
        parse_size(text)


def test_sizes_print_in_decimal_units() -> None:
    assert [format_size(n) for n in (0, 999, 1000, 10_000_000, 10_530_000, 2 * 10**12)] == [
        "0 B", "999 B", "1 kB", "10 MB", "10.53 MB", "2 TB",
    ]  # fmt: skip


async def test_usage_counts_each_blob_of_the_namespace_once(client: Client, registry: Registry) -> None:
    _, m1 = await push_image(client, "alice/app", "v1", layer=b"a" * 1000)
    _, m2 = await push_image(client, "alice/other", "v1", layer=b"a" * 1000)  # the same layer and config
    await push_image(client, "bob/app", "v1", headers=BOB, layer=b"b" * 5000)
    config = registry.blobs.size(
        sha(b'{"architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z"}')
    )
    assert config is not None
    assert registry.quotas.usage("alice") == (1000 + config + len(m1), None)  # m1 == m2: one manifest
    assert m1 == m2
    assert registry.quotas.used("bob") > 5000
    assert registry.quotas.used("nobody") == 0


async def test_a_blob_over_quota_is_refused_with_usage_and_quota(client: Client, registry: Registry) -> None:
    registry.quotas.set("alice", 10_000)
    await push_blob(client, "alice/app", b"x" * 6000)
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    location = r.headers["Location"]
    data = b"y" * 5000
    r = await client.put(f"{location}?digest={sha(data)}", data=data, headers=ALICE)
    assert r.status == 403
    error = (await r.json())["errors"][0]
    assert error["code"] == "DENIED"
    assert error["message"] == (
        "quota exceeded for namespace alice: 6 kB used of 10 kB, this push needs 5 kB more"
    )
    assert registry.blobs.size(sha(data)) is None and registry.quotas.used("alice") == 6000
    r = await client.get(location, headers=ALICE)
    assert r.status == 404  # the session and its bytes are gone
    # a blob the namespace already holds costs nothing, in another of its repositories too
    await push_blob(client, "alice/second", b"x" * 6000)
    assert registry.quotas.used("alice") == 6000
    registry.quotas.set("alice", None)
    await push_blob(client, "alice/app", data)
    assert registry.quotas.usage("alice") == (11_000, None)


async def test_mounts_and_manifests_are_counted_too(client: Client, registry: Registry) -> None:
    big = await push_blob(client, "bob/base", b"z" * 4000, BOB)
    registry.repos.set_visibility("bob/base", "public")
    registry.quotas.set("alice", 3000)
    r = await client.post(f"/v2/alice/app/blobs/uploads/?mount={big}&from=bob/base", headers=ALICE)
    assert r.status == 403 and "quota exceeded for namespace alice" in await r.text()
    registry.quotas.set("alice", 1000)
    layer = await push_blob(client, "alice/app", b"l" * 900)
    manifest = (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": '
        b'{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "' + layer.encode() + b'", '
        b'"size": 900}, "layers": []}'
    )
    r = await client.put(
        "/v2/alice/app/manifests/v1",
        data=manifest,
        headers={**ALICE, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status == 403 and (await r.json())["errors"][0]["code"] == "DENIED"
    r = await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 404


def test_concurrent_links_cannot_pass_the_quota_together(registry: Registry) -> None:
    registry.quotas.set("alice", 10_000)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def push(i: int) -> None:
        data = bytes([i]) * 3000
        start.wait()
        try:
            registry.blobs.put_bytes(f"alice/r{i}", sha(data), data)
            outcomes.append("ok")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert registry.quotas.used("alice") == 9000


async def test_usage_goes_down_after_delete_and_gc_even_for_blobs_shared_elsewhere(
    client: Client, registry: Registry
) -> None:
    await push_image(client, "bob/app", "v1", headers=BOB, layer=b"shared" * 1000)
    digest, _ = await push_image(client, "alice/app", "v1", layer=b"shared" * 1000)
    await push_image(client, "alice/app", "v2", layer=b"own" * 1000)
    before = registry.quotas.used("alice")
    r = await client.delete(f"/v2/alice/app/manifests/{digest}", headers=ALICE)
    assert r.status == 202
    registry.db.execute("UPDATE blobs SET touched = ?", (time.time() - 7200,))
    report = collect(registry, grace=3600)
    assert ("alice/app", sha(b"shared" * 1000)) in report.links
    assert registry.quotas.used("alice") < before - 6000  # the shared layer no longer counts for alice
    r = await client.get("/v2/bob/app/manifests/v1", headers=BOB)
    assert r.status == 200
    r = await client.get(f"/v2/bob/app/blobs/{sha(b'shared' * 1000)}", headers=BOB)
    assert r.status == 200  # bob's image still has its layer
    r = await client.get("/v2/alice/app/manifests/v2", headers=ALICE)
    assert r.status == 200


def test_a_version_3_database_gains_the_policy_tables(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    old = SqliteMetadata(path)  # today's schema taken back to what version 3 had
    for table in ("quotas", "tag_policies"):
        old.execute(f"DROP TABLE {table}")
    old.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    old.execute("INSERT INTO repositories (name, visibility, created) VALUES ('alice/app', 'private', 1.0)")
    old.close()
    db = SqliteMetadata(path)
    try:
        version = db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version is not None and version["value"] == str(metadata.SCHEMA_VERSION) == "4"
        assert db.query("SELECT * FROM quotas") == [] and db.query("SELECT * FROM tag_policies") == []
        assert [r["name"] for r in db.query("SELECT name FROM repositories")] == ["alice/app"]
    finally:
        db.close()
