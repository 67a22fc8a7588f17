"""Retention selection (keep last N, pulled within D days, keep patterns, immutable), tag policies'
validation and precedence, immutable tags refused in the service, and gc applying retention."""

from __future__ import annotations

import time

import pytest
from registry_helpers import ALICE, Client, push_image

from berth.errors import InvalidArgument
from berth.registry.gc import collect
from berth.registry.policy.retention import DAY, TagState, select
from berth.registry.policy.rules import TagPolicy
from berth.registry.service import Registry

NOW = 1_800_000_000.0


def _tags(*specs: tuple[str, float, float | None]) -> list[TagState]:
    return [
        TagState(tag, f"sha256:{i:064x}", NOW - age * DAY, pulled)
        for i, (tag, age, pulled) in enumerate(specs)
    ]


def _gone(policy: TagPolicy, tags: list[TagState]) -> list[str]:
    return [t.tag for t in select(policy, tags, NOW)]


TAGS = _tags(
    ("v1.0", 50, None),
    ("v1.1", 40, NOW - 2 * DAY),
    ("nightly-1", 30, None),
    ("nightly-2", 20, NOW - 40 * DAY),
    ("nightly-3", 10, None),
    ("latest", 1, None),
)


def test_keep_last_keeps_the_most_recently_pushed() -> None:
    assert _gone(TagPolicy("a/b", keep_last=2), TAGS) == ["nightly-2", "nightly-1", "v1.1", "v1.0"]


def test_a_tag_is_kept_if_any_rule_keeps_it() -> None:
    policy = TagPolicy("a/b", keep_last=1, pulled_within=7, keep=("v*",))
    assert _gone(policy, TAGS) == ["nightly-3", "nightly-2", "nightly-1"]  # nightly-2 pulled 40 days ago
    assert _gone(TagPolicy("a/b", pulled_within=30), TAGS) == [
        "latest", "nightly-3", "nightly-2", "nightly-1", "v1.0",
    ]  # fmt: skip


def test_immutable_tags_are_always_kept_and_alone_remove_nothing() -> None:
    assert _gone(TagPolicy("a/b", immutable=("*",)), TAGS) == []
    assert _gone(TagPolicy("a/b", keep=("latest",), immutable=("v1.[0-9]",)), TAGS) == [
        "nightly-3", "nightly-2", "nightly-1",
    ]  # fmt: skip


def test_policies_are_validated_and_a_repositorys_own_replaces_its_namespaces(registry: Registry) -> None:
    policies = registry.tag_policies
    for bad in (TagPolicy("a/b"), TagPolicy("a/b", keep_last=0), TagPolicy("a/b", keep=("v/1",))):
        with pytest.raises(InvalidArgument):
            policies.set(bad)
    policies.set(TagPolicy("alice/*", keep_last=3))
    policies.set(TagPolicy("alice/app", keep=("v*",)))
    assert policies.for_repo("alice/app") == TagPolicy("alice/app", keep=("v*",))
    assert policies.for_repo("alice/other") == TagPolicy("alice/*", keep_last=3)
    assert policies.for_repo("bob/app") is None


async def test_immutable_tags_cannot_move_or_go_but_may_be_pushed_again(
    client: Client, registry: Registry
) -> None:
    registry.tag_policies.set(TagPolicy("alice/*", immutable=("v*",)))
    first, _ = await push_image(client, "alice/app", "v1", layer=b"one")
    await push_image(client, "alice/app", "v1", layer=b"one")  # same digest: fine
    await push_image(client, "alice/app", "dev", layer=b"one")
    await push_image(client, "alice/app", "dev", layer=b"two")  # not immutable: moves
    with pytest.raises(AssertionError, match="is immutable"):
        await push_image(client, "alice/app", "v1", layer=b"two")
    for reference in ("v1", first):
        r = await client.delete(f"/v2/alice/app/manifests/{reference}", headers=ALICE)
        body = await r.json()
        assert r.status == 403 and body["errors"][0]["code"] == "DENIED", body
        assert (
            "tag v1 of alice/app is immutable (pattern 'v*' of the policy of alice/*)"
            in body["errors"][0]["message"]
        )
    assert registry.manifests.resolve("alice/app", "v1").digest == first
    r = await client.delete("/v2/alice/app/manifests/dev", headers=ALICE)
    assert r.status == 202
    await push_image(client, "alice/app", "v2", layer=b"two")  # a new immutable tag may be made


async def test_gc_applies_retention_then_sweeps_what_it_freed(client: Client, registry: Registry) -> None:
    digests = {}
    for i, tag in enumerate(["old-1", "old-2", "keep-me", "new-1", "new-2"]):
        digests[tag], _ = await push_image(client, "alice/app", tag, layer=f"layer {tag}".encode())
        registry.db.execute("UPDATE tags SET updated = ? WHERE tag = ?", (NOW - (10 - i) * DAY, tag))
    await push_image(client, "alice/app", "alias", layer=b"layer new-1")  # the same manifest as new-1
    registry.db.execute("UPDATE tags SET updated = ? WHERE tag = 'alias'", (NOW - 20 * DAY,))
    registry.db.execute("UPDATE blobs SET touched = ?", (time.time() - 7200,))
    registry.tag_policies.set(TagPolicy("alice/app", keep_last=2, keep=("keep-*",)))

    dry = collect(registry, dry_run=True, grace=3600)
    assert sorted(t.tag for t in dry.tags) == ["alias", "old-1", "old-2"]
    assert sorted(d for _, d in dry.manifests) == sorted(
        [digests["old-1"], digests["old-2"]]
    )  # alias: new-1 stays
    assert {d for d, _ in dry.blobs} >= {digests["old-1"], digests["old-2"]}
    assert "would remove tag alice/app:old-1" in dry.render(dry_run=True)
    assert len(registry.manifests.tags("alice/app")) == 6  # nothing changed

    report = collect(registry, grace=3600)
    assert registry.manifests.tags("alice/app") == ["keep-me", "new-1", "new-2"]
    assert sorted(d for _, d in report.manifests) == sorted([digests["old-1"], digests["old-2"]])
    removed = {d for d, _ in report.blobs}
    assert digests["old-1"] in removed and len(removed) == 4  # two manifests and their layers
    for tag in ("keep-me", "new-1", "new-2"):
        r = await client.get(f"/v2/alice/app/manifests/{tag}", headers=ALICE)
        assert r.status == 200
    assert collect(registry, grace=3600).tags == []  # nothing more to do


async def test_retention_keeps_recently_pulled_tags(client: Client, registry: Registry) -> None:
    for tag in ("a", "b", "c"):
        await push_image(client, "alice/app", tag, layer=tag.encode())
    r = await client.get("/v2/alice/app/manifests/b", headers=ALICE)
    assert r.status == 200
    registry.hub.pulls.flush()
    registry.tag_policies.set(TagPolicy("alice/*", pulled_within=1))
    assert sorted(t.tag for t in collect(registry, dry_run=True).tags) == ["a", "c"]
