"""The web page's repository table (sort, filter, referrers, platforms), namespace pages and deletes
by owners (confirmation, CSRF token, refusals), over the real app in process."""

from __future__ import annotations

import io
import json
import re

from registry_helpers import ALICE, BOB, Client, push_blob, push_image, sha

from berth.registry.policy.rules import TagPolicies, TagPolicy
from berth.registry.service import Registry

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def _sign_in(client: Client, user: str, password: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": user, "password": password}, allow_redirects=False)
    assert r.status == 303


def _tag_order(html: str) -> list[str]:
    return re.findall(r'<tr id="tag-([^"]+)" class="tag">', html)


async def test_tags_sort_by_name_size_pushed_and_pulled_and_filter(
    client: Client, registry: Registry
) -> None:
    await push_image(client, "alice/app", "v1", layer=b"a" * 100)
    await push_image(client, "alice/app", "v2", layer=b"b" * 5000)
    await push_image(client, "alice/app", "edge", layer=b"c" * 2000)
    registry.repos.set_visibility("alice/app", "public")
    for _ in range(2):
        await client.get("/v2/alice/app/manifests/v1")
    registry.hub.pulls.flush()

    async def order(query: str) -> list[str]:
        r = await client.get(f"/r/alice/app?{query}")
        assert r.status == 200
        return _tag_order(await r.text())

    assert await order("") == ["edge", "v2", "v1"]  # newest push first
    assert await order("sort=name") == ["edge", "v1", "v2"]
    assert await order("sort=name&order=desc") == ["v2", "v1", "edge"]
    assert await order("sort=size") == ["v2", "edge", "v1"]
    assert (await order("sort=pulled"))[0] == "v1"
    assert await order("q=V&sort=name") == ["v1", "v2"]  # case-insensitive substring of the tag
    html = await (await client.get("/r/alice/app?q=nothing")).text()
    assert _tag_order(html) == [] and "No tag matches" in html and "3 tags in all" in html
    r = await client.get("/r/alice/app?sort=colour")
    assert r.status == 400 and "Unknown sort" in await r.text()
    assert (await client.get("/r/alice/app?order=up")).status == 400


async def test_index_platforms_and_referrers_are_shown(client: Client, registry: Registry) -> None:
    amd, amd_body = await push_image(client, "alice/multi", "amd", layer=b"amd64 layer")
    arm, arm_body = await push_image(client, "alice/multi", "arm", layer=b"arm64 layer")
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {
                "mediaType": MANIFEST,
                "digest": amd,
                "size": len(amd_body),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": MANIFEST,
                "digest": arm,
                "size": len(arm_body),
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ],
    }
    body = json.dumps(index).encode()
    r = await client.put(
        "/v2/alice/multi/manifests/1.0", data=io.BytesIO(body), headers={**ALICE, "Content-Type": INDEX}
    )
    assert r.status == 201
    empty = await push_blob(client, "alice/multi", b"{}")
    sbom = b'{"spdxVersion": "SPDX-2.3"}'
    sbom_digest = await push_blob(client, "alice/multi", sbom)
    artifact = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom_digest, "size": len(sbom)}],
        "subject": {"mediaType": INDEX, "digest": sha(body), "size": len(body)},
    }
    artifact_body = json.dumps(artifact).encode()
    r = await client.put(
        f"/v2/alice/multi/manifests/{sha(artifact_body)}",
        data=io.BytesIO(artifact_body),
        headers={**ALICE, "Content-Type": MANIFEST},
    )
    assert r.status == 201
    html = (await (await client.get("/r/alice/multi", headers=ALICE)).text()).replace("<wbr>", "")
    row = html[html.index('id="tag-1.0"') :].split("</tr>", 1)[0]
    assert "2 platforms" in row and "linux/amd64" in row and "linux/arm64/v8" in row
    assert "1 referrer" in row and "application/spdx+json" in row and sha(artifact_body) in row
    amd_row = html[html.index('id="tag-amd"') :].split("</tr>", 1)[0]
    assert "referrer" not in amd_row and "1 layer" in amd_row


async def test_namespace_page_lists_repositories_teams_and_hides_private(
    client: Client, registry: Registry
) -> None:
    registry.accounts.add_org("acme", "alice")
    registry.accounts.add_team("acme", "devs")
    registry.accounts.add_team("acme", "ops")
    registry.accounts.add_member("acme", "devs", "bob")
    registry.accounts.grant("acme", "devs", "app", "push")
    await push_image(client, "acme/app", "v1")
    await push_image(client, "acme/secret", "v1")
    registry.repos.set_visibility("acme/app", "public")

    html = await (await client.get("/o/acme")).text()
    assert "acme/app" in html and "acme/secret" not in html and "Sign in to see your teams" in html
    assert "Usage" not in html  # only for those who belong to the namespace
    await _sign_in(client, "bob", "bobpw")
    html = await (await client.get("/o/acme")).text()
    assert 'id="team-devs"' in html and "acme/app: push" in html and 'id="team-ops"' not in html
    await _sign_in(client, "alice", "alicepw")
    html = await (await client.get("/o/acme")).text()
    assert 'id="team-devs"' in html and 'id="team-ops"' in html and "acme/secret" in html
    assert "owner <b>alice</b>" in html
    assert "Usage" in html and "no quota" in html
    registry.quotas.set("acme", 10_000_000)
    html = await (await client.get("/o/acme")).text()
    used, quota = registry.quotas.usage("acme")
    assert used > 0 and quota == 10_000_000
    assert f"used of 10.0 MB ({100 * used / quota:.0f}%)" in html
    assert "alice" in await (await client.get("/o/alice")).text()  # a user's namespace too
    assert (await client.get("/o/nobody")).status == 404


async def _confirm_token(client: Client, repo: str, reference: str) -> str:
    r = await client.get(f"/delete/{repo}", params={"reference": reference})
    html = await r.text()
    assert r.status == 200, html
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found and "next garbage collection" in html
    return found.group(1)


async def test_owner_deletes_a_tag_after_confirming_with_the_csrf_token(
    client: Client, registry: Registry
) -> None:
    digest, _ = await push_image(client, "alice/app", "v1")
    await push_image(client, "alice/app", "v1-copy", layer=b"layer-bytes")  # the same manifest
    registry.repos.set_visibility("alice/app", "public")
    await _sign_in(client, "alice", "alicepw")
    assert "Delete tag" in await (await client.get("/r/alice/app")).text()
    token = await _confirm_token(client, "alice/app", "v1")

    r = await client.post(
        "/delete/alice/app", data={"reference": "v1", "csrf": "0" * 64}, allow_redirects=False
    )
    assert r.status == 403 and registry.manifests.tags("alice/app") == ["v1", "v1-copy"]
    r = await client.post(
        "/delete/alice/app",
        data={"reference": "v1", "csrf": token},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert r.status == 403 and registry.manifests.tags("alice/app") == ["v1", "v1-copy"]
    r = await client.post("/delete/alice/app", data={"reference": "v1", "csrf": token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/r/alice/app?deleted=v1"
    assert registry.manifests.tags("alice/app") == ["v1-copy"]
    assert (await client.get(f"/v2/alice/app/manifests/{digest}", headers=ALICE)).status == 200
    html = await (await client.get("/r/alice/app?deleted=v1")).text()
    assert "Deleted tag <code>v1</code>" in html and "berth-registry gc" in html

    token = await _confirm_token(client, "alice/app", digest)
    r = await client.post(
        "/delete/alice/app", data={"reference": digest, "csrf": token}, allow_redirects=False
    )
    assert r.status == 303 and registry.manifests.tags("alice/app") == []
    assert (await client.get(f"/v2/alice/app/manifests/{digest}", headers=ALICE)).status == 404
    r = await client.post(
        "/delete/alice/app", data={"reference": digest, "csrf": token}, allow_redirects=False
    )
    assert r.status == 404 and "manifest unknown" in await r.text()


async def test_non_owners_and_basic_auth_cannot_delete_from_the_page(
    client: Client, registry: Registry
) -> None:
    await push_image(client, "alice/app", "v1")
    registry.repos.set_visibility("alice/app", "public")
    r = await client.get("/delete/alice/app", params={"reference": "v1"})
    assert r.status == 401  # anonymous: sign in first
    await _sign_in(client, "bob", "bobpw")
    assert "Delete tag" not in await (await client.get("/r/alice/app")).text()
    r = await client.get("/delete/alice/app", params={"reference": "v1"})
    assert r.status == 403 and "only its owners may" in await r.text()
    r = await client.post("/delete/alice/app", data={"reference": "v1", "csrf": "x"}, allow_redirects=False)
    assert r.status == 403 and registry.manifests.tags("alice/app") == ["v1"]
    client.session.cookie_jar.clear()
    r = await client.post("/delete/alice/app", data={"reference": "v1", "csrf": "x"}, headers=ALICE)
    assert r.status == 403 and registry.manifests.tags("alice/app") == ["v1"]  # no session, no delete
    await push_image(client, "alice/secret", "v1")
    r = await client.get("/delete/alice/secret", params={"reference": "v1"}, headers=BOB)
    assert r.status == 404  # a private repository is not there for bob


async def test_api_deletes_a_tag_and_a_manifest(client: Client, registry: Registry) -> None:
    digest, _ = await push_image(client, "alice/app", "v1")
    await push_image(client, "alice/app", "v2", layer=b"other")
    r = await client.delete("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 202 and registry.manifests.tags("alice/app") == ["v2"]
    assert (await client.get(f"/v2/alice/app/manifests/{digest}", headers=ALICE)).status == 200
    assert (await client.delete("/v2/alice/app/manifests/v1", headers=ALICE)).status == 404
    r = await client.delete(f"/v2/alice/app/manifests/{digest}", headers=ALICE)
    assert r.status == 202
    assert (await client.get(f"/v2/alice/app/manifests/{digest}", headers=ALICE)).status == 404
    assert (await client.delete("/v2/alice/app/manifests/v2", headers=BOB)).status in (403, 404)
    assert registry.manifests.tags("alice/app") == ["v2"]


async def test_catalog_pages_follow_each_other(client: Client, registry: Registry) -> None:
    for i in range(7):
        await push_image(client, f"alice/r{i}", "v1")
    names, last = [], ""
    while True:
        r = await client.get("/v2/_catalog", params={"n": "3", "last": last}, headers=ALICE)
        page = (await r.json())["repositories"]
        names += page
        if "Link" not in r.headers:
            break
        last = page[-1]
    assert names == [f"alice/r{i}" for i in range(7)]


async def test_an_immutable_tag_is_not_deleted_from_the_page(client: Client, registry: Registry) -> None:
    digest, _ = await push_image(client, "alice/app", "v1")
    TagPolicies(registry.db).set(TagPolicy("alice/app", immutable=("v*",)))
    await _sign_in(client, "alice", "alicepw")
    for reference in ("v1", digest):
        token = await _confirm_token(client, "alice/app", reference)
        r = await client.post("/delete/alice/app", data={"reference": reference, "csrf": token})
        html = await r.text()
        assert r.status == 403 and "is immutable" in html and "Not deleted" in html
    assert registry.manifests.tags("alice/app") == ["v1"]


async def test_search_matches_names_and_descriptions_beyond_ascii(client: Client, registry: Registry) -> None:
    for name, description in (
        ("alice/one", "Éclair pastry"),
        ("alice/two", "Plain TOOLS"),
        ("alice/three", ""),
    ):
        await push_image(client, name, "v1")
        registry.repos.set_visibility(name, "public")
        registry.hub.descriptions.set(name, description, "")
    found = registry.repos.search("éclair", lambda info: True)
    assert [r.name for r in found] == ["alice/one"]
    assert [r.name for r in registry.repos.search("tools", lambda info: True)] == ["alice/two"]
    assert [r.name for r in registry.repos.search("thr", lambda info: True)] == ["alice/three"]
    assert len(registry.repos.search("", lambda info: True)) == 3
