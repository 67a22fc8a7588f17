"""Garbage collection: unreferenced blobs go, referenced and recently touched ones stay."""

from __future__ import annotations

import time

import pytest
from registry_helpers import ALICE, Client, push_blob, push_image

from berth.registry import leases
from berth.registry.gc import collect
from berth.registry.service import Registry
from berth.registry.storage import paths


def _age_all_blobs(registry: Registry) -> None:
    registry.db.execute("UPDATE blobs SET touched = ?", (time.time() - 7200,))


async def test_gc_removes_only_unreferenced(client: Client, registry: Registry) -> None:
    digest, _ = await push_image(client, "alice/app", "v1", layer=b"kept layer")
    orphan = await push_blob(client, "alice/app", b"orphan bytes")
    _age_all_blobs(registry)
    dry = collect(registry, dry_run=True, grace=3600)
    assert [d for d, _ in dry.blobs] == [orphan]
    assert registry.blobs.size(orphan) is not None  # dry run changes nothing
    report = collect(registry, grace=3600)
    assert [d for d, _ in report.blobs] == [orphan]
    assert registry.blobs.size(orphan) is None
    assert registry.driver.local_path(paths.blob_data(orphan)) is None  # inmemory: no file
    r = await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 200
    r = await client.head(f"/v2/alice/app/blobs/{orphan}", headers=ALICE)
    assert r.status == 404


async def test_gc_keeps_recent_uploads_of_a_push_in_progress(client: Client, registry: Registry) -> None:
    fresh = await push_blob(client, "alice/app", b"pushed, manifest not yet")
    report = collect(registry, grace=3600)
    assert report.blobs == []
    assert registry.blobs.size(fresh) is not None


async def test_gc_after_manifest_delete_and_untagged(client: Client, registry: Registry) -> None:
    d1, _ = await push_image(client, "alice/app", "v1", layer=b"layer one")
    await push_image(client, "alice/app", "v1", layer=b"layer two")  # v1 moves; d1 is untagged
    _age_all_blobs(registry)
    assert collect(registry, grace=3600).blobs == []  # d1 still exists as a manifest
    report = collect(registry, delete_untagged=True, grace=3600)
    assert report.manifests == [("alice/app", d1)]
    removed = {d for d, _ in report.blobs}
    assert d1 in removed and len(removed) == 2  # the manifest and its own layer; the config is shared
    r = await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 200


def test_one_gc_at_a_time_and_a_dead_holder_s_lease_lapses(registry: Registry) -> None:
    # as if another replica's gc were running
    with leases.held(registry.db, "gc"), pytest.raises(leases.LeaseHeld, match="gc is already running"):
        collect(registry)
    assert collect(registry).blobs == []  # released at the end of the block
    registry.db.execute(  # a holder killed mid-run: its lease ran out and was never renewed
        "INSERT INTO meta (key, value) VALUES ('lease:gc', ?)", (f"deadhost pid 1 x {time.time() - 1}",)
    )
    collect(registry)
    assert registry.db.query_one("SELECT value FROM meta WHERE key = 'lease:gc'") is None
