"""The hub: descriptions and READMEs, stars, pull counts, their API, search ranking, schema migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from registry_helpers import ALICE, BOB, ROOT, Client, basic, push_image

from berth.errors import Unavailable
from berth.registry.metadata import SqliteMetadata, schema
from berth.registry.service import Registry

DESC = "org.opencontainers.image.description"
API = "/api/v1/repositories"


def _json_put(client: Client, path: str, body: object, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.put(path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


def test_a_version_1_database_upgrades_through_every_step_at_open(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.executescript(schema.BASE_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO repositories VALUES ('alice/app', 'public', 'from a push', 1.0)")
    conn.execute("INSERT INTO repositories VALUES ('alice/bare', 'private', '', 1.0)")
    conn.execute("INSERT INTO tags VALUES ('alice/app', 'v1', 'sha256:aa', 100.0)")
    conn.execute("INSERT INTO tags VALUES ('alice/app', 'v2', 'sha256:bb', 200.0)")
    conn.commit()
    conn.close()

    db = SqliteMetadata(path)
    try:
        assert db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")["value"] == str(
            schema.SCHEMA_VERSION
        )  # type: ignore[index]
        rows = {r["name"]: dict(r) for r in db.query("SELECT * FROM repositories")}
        assert rows["alice/app"]["description"] == "from a push"
        assert rows["alice/app"]["description_source"] == "push"  # a push may still replace it
        assert rows["alice/app"]["last_pushed"] == 200.0 and rows["alice/app"]["readme"] == ""
        assert rows["alice/bare"]["description_source"] == "" and rows["alice/bare"]["last_pushed"] is None
        assert db.query("SELECT * FROM stars") == [] and db.query("SELECT * FROM pulls") == []
    finally:
        db.close()
    SqliteMetadata(path).close()  # opening a current database again changes nothing
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(Unavailable, match="knows only up to"):
        SqliteMetadata(path)


async def test_description_from_push_annotation_then_label_and_manual_wins(
    client: Client, registry: Registry
) -> None:
    await push_image(client, "alice/app", "v1", extra={"annotations": {DESC: "from the\nannotation"}})
    assert registry.repos.get("alice/app").description == "from the annotation"  # type: ignore[union-attr]
    await push_image(client, "alice/app", "v2", labels={DESC: "from the label"}, layer=b"other")
    assert registry.repos.get("alice/app").description == "from the label"  # type: ignore[union-attr]
    await push_image(client, "alice/app", "v3", layer=b"none")  # no description: nothing changes
    assert registry.repos.get("alice/app").description == "from the label"  # type: ignore[union-attr]

    registry.hub.descriptions.set("alice/app", "set by hand", "# App")
    await push_image(client, "alice/app", "v4", labels={DESC: "pushed later"}, layer=b"later")
    assert registry.repos.get("alice/app").description == "set by hand"  # type: ignore[union-attr]
    registry.hub.descriptions.set("alice/app", "", None)  # cleared: pushes set it again
    await push_image(client, "alice/app", "v5", labels={DESC: "pushed again"}, layer=b"again")
    assert registry.repos.get("alice/app").description == "pushed again"  # type: ignore[union-attr]
    assert registry.hub.descriptions.readme("alice/app") == "# App"


async def test_api_describe_is_for_owners_and_admins(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    r = await _json_put(client, f"{API}/alice/app", {"description": "x"}, BOB)
    assert r.status == 404 and (await r.json())["errors"][0]["code"] == "NAME_UNKNOWN"  # private: not there
    registry.repos.set_visibility("alice/app", "public")
    r = await _json_put(client, f"{API}/alice/app", {"description": "x"}, BOB)
    assert r.status == 403 and (await r.json())["errors"][0]["code"] == "DENIED"
    r = await _json_put(client, f"{API}/alice/app", {"description": "x"}, {})
    assert r.status == 401 and "Bearer realm=" in r.headers["WWW-Authenticate"]
    r = await _json_put(client, f"{API}/alice/app", {"description": "Tools", "readme": "# Tools"}, ALICE)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["description"] == "Tools" and body["readme"] == "# Tools"
    r = await _json_put(client, f"{API}/alice/app", {"readme": "## Only the README"}, ROOT)
    assert r.status == 200 and (await r.json())["description"] == "Tools"
    assert registry.hub.descriptions.readme("alice/app") == "## Only the README"
    assert list(registry.audit.entries())[-1] | {"time": ""} == {
        "time": "",
        "action": "describe",
        "actor": "root",
        "target": "alice/app",
        "address": "127.0.0.1",
        "fields": "readme",
    }

    registry.accounts.add_org("acme", "alice")
    registry.accounts.add_team("acme", "devs")
    registry.accounts.add_member("acme", "devs", "bob")
    await push_image(client, "acme/tool", "v1")
    registry.accounts.grant("acme", "devs", "acme/tool", "push")
    r = await _json_put(client, f"{API}/acme/tool", {"description": "x"}, BOB)
    assert r.status == 403  # pushing is not owning
    registry.accounts.grant("acme", "devs", "acme/tool", "admin")
    assert (await _json_put(client, f"{API}/acme/tool", {"description": "by bob"}, BOB)).status == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ([], "JSON object"),
        ({"descripton": "typo"}, "unknown field(s) descripton"),
        ({"description": 5}, "must be a string"),
        ({"description": "two\nlines"}, "one line"),
        ({"description": "x" * 600}, "at most 512"),
        ({"readme": "x" * 30_000}, "at most 25000"),
    ],
)
async def test_api_describe_refuses_bad_bodies(
    client: Client, registry: Registry, body: object, message: str
) -> None:
    await push_image(client, "alice/app", "v1")
    data = body if isinstance(body, str) else json.dumps(body)
    r = await client.put(f"{API}/alice/app", data=data, headers=ALICE)
    assert r.status == 400, await r.text()
    assert message in (await r.json())["errors"][0]["message"]
    assert registry.repos.get("alice/app").description == ""  # type: ignore[union-attr]


async def test_api_errors_for_paths_methods_and_missing_repositories(client: Client) -> None:
    assert (await client.get(f"{API}/alice/missing", headers=ALICE)).status == 404
    r = await client.get(f"{API}/Alice/Bad", headers=ALICE)
    assert r.status == 400 and (await r.json())["errors"][0]["code"] == "NAME_INVALID"
    assert (await client.post(f"{API}/alice/app", headers=ALICE)).status == 405
    assert (await client.get(f"{API}/alice/app/star", headers=ALICE)).status == 405
    assert (await client.get("/api/v1/other", headers=ALICE)).status == 404
    r = await _json_put(client, f"{API}/alice/missing", {"description": "x"}, ALICE)
    assert r.status == 404 and (await r.json())["errors"][0]["code"] == "NAME_UNKNOWN"


async def test_stars(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/app", "v1")
    assert (await client.put(f"{API}/alice/app/star", headers=BOB)).status == 404  # private
    registry.repos.set_visibility("alice/app", "public")
    r = await client.put(f"{API}/alice/app/star", headers=BOB)
    assert r.status == 200 and await r.json() == {"starred": True, "star_count": 1}
    assert (await client.put(f"{API}/alice/app/star", headers=BOB)).status == 200  # once per user
    r = await client.put(f"{API}/alice/app/star", headers=ALICE)
    assert (await r.json())["star_count"] == 2
    r = await client.put(f"{API}/alice/app/star")
    assert r.status == 401  # anonymous users do not star
    r = await client.get(f"{API}/alice/app", headers=BOB)
    assert (await r.json())["star_count"] == 2 and (await r.json())["starred"] is True
    r = await client.delete(f"{API}/alice/app/star", headers=BOB)
    assert await r.json() == {"starred": False, "star_count": 1}
    assert registry.hub.stars.count("alice/app") == 1 and not registry.hub.stars.starred("alice/app", "bob")


async def test_pull_counts_by_tag_and_digest_not_head(client: Client, registry: Registry) -> None:
    digest, _ = await push_image(client, "alice/app", "v1")
    await push_image(client, "alice/app", "v2", layer=b"two")
    for reference in ("v1", "v1", digest, "v2"):
        assert (await client.get(f"/v2/alice/app/manifests/{reference}", headers=ALICE)).status == 200
    assert (await client.head("/v2/alice/app/manifests/v1", headers=ALICE)).status == 200
    assert (await client.get("/v2/alice/app/manifests/v9", headers=ALICE)).status == 404

    r = await client.get(f"{API}/alice/app", headers=ALICE)
    body = await r.json()
    assert body["pull_count"] == 4 and body["last_pulled"].endswith("Z") and body["last_pushed"]
    tags = {t["name"]: t for t in body["tags"]}
    assert tags["v1"]["pull_count"] == 2 and tags["v2"]["pull_count"] == 1 and tags["v1"]["digest"] == digest
    assert body["visibility"] == "private" and body["description"] == "" and body["readme"] == ""
    assert registry.db.query("SELECT * FROM pulls") == []  # pending in memory, not yet written

    assert registry.hub.pulls.flush() == 3
    stored = {r["tag"]: r["count"] for r in registry.db.query("SELECT tag, count FROM pulls")}
    assert stored == {"": 4, "v1": 2, "v2": 1}
    await client.get("/v2/alice/app/manifests/v1", headers=ALICE)
    assert registry.hub.pulls.of("alice/app")[""][0] == 5  # stored plus pending
    registry.hub.pulls.flush()
    assert registry.hub.pulls.totals() == {"alice/app": 5}


async def test_search_carries_counts_and_ranks_by_stars_then_pulls(
    client: Client, registry: Registry
) -> None:
    for name in ("alice/tool-a", "alice/tool-b", "alice/tool-c", "alice/tool"):
        await push_image(client, name, "v1")
        registry.repos.set_visibility(name, "public")
    registry.hub.stars.star("alice/tool-b", "bob")
    for _ in range(3):
        await client.get("/v2/alice/tool-c/manifests/v1")
    await client.get("/v2/alice/tool-a/manifests/v1")
    r = await client.get("/v1/search", params={"q": "tool"})
    results = (await r.json())["results"]
    # an exact name match first, then stars, then pulls
    assert [x["name"] for x in results] == ["alice/tool", "alice/tool-b", "alice/tool-c", "alice/tool-a"]
    counts = {x["name"]: (x["star_count"], x["pull_count"]) for x in results}
    assert counts == {
        "alice/tool": (0, 0),
        "alice/tool-b": (1, 0),
        "alice/tool-c": (0, 3),
        "alice/tool-a": (0, 1),
    }


async def test_private_repositories_stay_hidden_from_the_api(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/secret", "v1")
    registry.hub.stars.star("alice/secret", "alice")
    r = await client.get(f"{API}/alice/secret", headers=BOB)
    missing = await client.get(f"{API}/alice/never", headers=BOB)
    assert r.status == missing.status == 404 and await r.json() == await missing.json() | {
        "errors": [{**(await missing.json())["errors"][0], "detail": {"name": "alice/secret"}}]
    }
    assert (await client.get(f"{API}/alice/secret", headers=basic("alice", "alicepw"))).status == 200
    r = await client.get("/v1/search", params={"q": "secret"}, headers=BOB)
    assert (await r.json())["results"] == []
