"""Token auth, Basic auth, visibility, namespaces, organisations, teams and grants."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from registry_helpers import ALICE, BOB, ROOT, Client, basic, push_blob, push_image

from berth.registry.auth.tokens import TokenIssuer
from berth.registry.service import Registry


async def _token(client: Client, scope: str, headers: dict[str, str] | None = None) -> str:
    r = await client.get(
        "/token", params={"service": "berth-registry", "scope": scope}, headers=headers or {}
    )
    assert r.status == 200, await r.text()
    return str((await r.json())["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_base_challenges_anonymous(client: Client) -> None:
    r = await client.get("/v2/")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="http://')
    assert 'service="berth-registry"' in r.headers["WWW-Authenticate"]
    assert json.loads(await r.text())["errors"][0]["code"] == "UNAUTHORIZED"
    assert (await client.get("/v2/", headers=ALICE)).status == 200
    assert (await client.get("/v2/", headers=basic("alice", "wrong"))).status == 401


async def test_token_flow_and_scope_intersection(client: Client, registry: Registry) -> None:
    r = await client.post("/v2/alice/app/blobs/uploads/")
    assert r.status == 401
    assert 'scope="repository:alice/app:pull,push"' in r.headers["WWW-Authenticate"]
    token = await _token(client, "repository:alice/app:pull,push repository:bob/app:pull,push", ALICE)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "bob/app", "actions": []},
    ]
    assert claims["aud"] == "berth-registry" and claims["sub"] == "alice"
    await push_image(client, "alice/app", "v1", headers=_bearer(token))
    pull_only = await _token(client, "repository:alice/app:pull", ALICE)
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=_bearer(pull_only))
    assert r.status == 401  # alice may push, the token does not say so: ask for a wider token
    r = await client.get(
        "/token", params={"scope": "repository:alice/app:pull"}, headers=basic("alice", "bad")
    )
    assert r.status == 401


async def test_private_repository_is_invisible(client: Client) -> None:
    await push_image(client, "alice/secret", "v1")
    anonymous = await _token(client, "repository:alice/secret:pull")
    missing = await _token(client, "repository:alice/nothing:pull")
    for headers in (BOB, _bearer(anonymous)):
        r = await client.get("/v2/alice/secret/manifests/v1", headers=headers)
        assert r.status == 404 and json.loads(await r.text())["errors"][0]["code"] == "NAME_UNKNOWN"
    r_missing = await client.get("/v2/alice/nothing/manifests/v1", headers=_bearer(missing))
    assert r_missing.status == 404
    r = await client.get("/v2/alice/secret/tags/list", headers=BOB)
    assert r.status == 404
    r = await client.get("/v2/alice/secret/manifests/v1")
    assert r.status == 401  # anonymous without a token: same answer as for a missing repository
    assert (await client.get("/v2/alice/nothing/manifests/v1")).status == 401


async def test_public_repository_anonymous_pull(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/pub", "v1")
    registry.repos.set_visibility("alice/pub", "public")
    assert (await client.get("/v2/alice/pub/manifests/v1")).status == 200
    token = await _token(client, "repository:alice/pub:pull,push")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["pull"] and claims["sub"] == ""
    r = await client.post("/v2/alice/pub/blobs/uploads/", headers=_bearer(token))
    assert r.status == 401
    r = await client.post("/v2/alice/pub/blobs/uploads/", headers=BOB)
    assert r.status == 403 and json.loads(await r.text())["errors"][0]["code"] == "DENIED"


async def test_push_outside_own_namespace_denied(client: Client) -> None:
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=BOB)
    assert r.status == 403
    r = await client.post("/v2/library/busybox/blobs/uploads/", headers=BOB)
    assert r.status == 403
    r = await client.post("/v2/library/busybox/blobs/uploads/", headers=ROOT)
    assert r.status == 202


async def test_org_teams_and_grants(client: Client, registry: Registry) -> None:
    accounts = registry.accounts
    accounts.add_user("carol", "carolpw")
    accounts.add_org("acme", "alice")
    accounts.add_team("acme", "devs")
    accounts.add_team("acme", "readers")
    accounts.add_member("acme", "devs", "bob")
    accounts.add_member("acme", "readers", "carol")
    assert accounts.grant("acme", "devs", "web", "push") == "acme/web"
    accounts.grant("acme", "readers", "*", "pull")
    carol = basic("carol", "carolpw")
    await push_image(client, "acme/web", "v1", headers=ALICE)  # the owner
    await push_image(client, "acme/web", "v2", headers=BOB)  # a team with push
    r = await client.post("/v2/acme/web/blobs/uploads/", headers=carol)
    assert r.status == 403
    assert (await client.get("/v2/acme/web/manifests/v1", headers=carol)).status == 200
    r = await client.delete("/v2/acme/web/manifests/v1", headers=BOB)
    assert r.status == 403
    r = await client.post("/v2/acme/other/blobs/uploads/", headers=BOB)
    assert r.status == 403
    accounts.remove_member("acme", "readers", "carol")
    assert (await client.get("/v2/acme/web/manifests/v1", headers=carol)).status == 404
    token = await _token(client, "repository:acme/web:pull,push,delete", BOB)
    assert jwt.decode(token, options={"verify_signature": False})["access"][0]["actions"] == ["pull", "push"]


async def test_oauth2_password_and_refresh_token(client: Client) -> None:
    r = await client.get(
        "/token",
        params={
            "scope": "repository:alice/app:pull",
            "offline_token": "true",
            "client_id": "docker",
            "account": "alice",
        },
        headers=ALICE,
    )
    body = await r.json()
    assert {"token", "access_token", "expires_in", "issued_at", "refresh_token"} <= set(body)
    r = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "service": "berth-registry",
            "scope": "repository:alice/app:push",
        },
    )
    assert r.status == 200
    claims = jwt.decode((await r.json())["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["access"][0]["actions"] == ["push"]
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["token"]})
    assert r.status == 401  # an access token is not a refresh token
    r = await client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": "alicepw",
            "scope": "repository:alice/app:pull",
        },
    )
    assert r.status == 200
    r = await client.post("/token", data={"grant_type": "password", "username": "alice", "password": "no"})
    assert r.status == 401


async def test_forged_token_rejected(client: Client) -> None:
    forged = jwt.encode({"sub": "alice", "aud": "berth-registry", "access": []}, "k" * 32, algorithm="HS256")
    r = await client.get("/v2/", headers=_bearer(forged))
    assert r.status == 401


async def test_search_and_ping(client: Client, registry: Registry) -> None:
    await push_image(client, "alice/busybox", "v1")
    await push_image(
        client,
        "alice/tools",
        "v1",
        extra={"annotations": {"org.opencontainers.image.description": "busybox tools"}},
    )
    await push_image(client, "alice/busy", "v1")
    await push_image(client, "alice/hidden-busybox", "v1")
    for name in ("alice/busybox", "alice/tools", "alice/busy"):
        registry.repos.set_visibility(name, "public")
    r = await client.get("/v1/_ping")
    assert r.status == 200 and r.headers["X-Docker-Registry-Standalone"] == "true"
    r = await client.get("/v1/search", params={"q": "busybox"})
    body = await r.json()
    assert [x["name"] for x in body["results"]] == ["alice/busybox", "alice/tools"]
    assert body["num_results"] == 2 and body["query"] == "busybox"
    r = await client.get("/v1/search", params={"q": "busybox"}, headers=ALICE)
    names = [x["name"] for x in (await r.json())["results"]]
    assert names == ["alice/busybox", "alice/hidden-busybox", "alice/tools"]
    r = await client.get("/v1/search", params={"q": "busy", "n": "1", "page": "2"}, headers=ALICE)
    body = await r.json()
    assert [x["name"] for x in body["results"]] == ["alice/busybox"] and body["num_pages"] == 4


async def test_token_from_another_key_rejected(client: Client, registry: Registry, tmp_path: Path) -> None:
    other = TokenIssuer(tmp_path / "other.key", service="berth-registry")
    forged = other.issue("alice", [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}])
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=_bearer(forged))
    assert r.status == 401
    alice = registry.accounts.get_user("alice")
    assert alice is not None
    genuine = registry.tokens.issue(
        "alice", [{"type": "repository", "name": "alice/app", "actions": ["push"]}], stamp=alice.stamp
    )
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=_bearer(genuine))
    assert r.status == 202


def test_key_is_made_once_and_private(registry: Registry) -> None:
    kid = registry.tokens.kid
    key_file = registry.config.root / "auth" / "token.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert TokenIssuer(key_file, service="x").kid == kid


async def test_a_mount_the_token_lacks_the_source_for_asks_for_both_scopes(client: Client) -> None:
    """The user may pull the source but the token names only the target: 401 with both scopes (as
    distribution answers), and the retry with the wider token mounts instead of uploading."""
    digest = await push_blob(client, "alice/src", b"shared layer")
    narrow = await _token(client, "repository:alice/dst:pull,push", ALICE)
    url = f"/v2/alice/dst/blobs/uploads/?mount={digest}&from=alice/src"
    r = await client.post(url, headers=_bearer(narrow))
    assert r.status == 401
    wanted = "repository:alice/dst:pull,push repository:alice/src:pull"
    assert f'scope="{wanted}"' in r.headers["WWW-Authenticate"]
    wide = await _token(client, wanted, ALICE)
    r = await client.post(url, headers=_bearer(wide))
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == digest
    bob = await _token(client, "repository:bob/dst:pull,push", BOB)  # bob may not pull alice/src at all:
    r = await client.post(f"/v2/bob/dst/blobs/uploads/?mount={digest}&from=alice/src", headers=_bearer(bob))
    assert r.status == 202  # an upload, as if the source did not exist
