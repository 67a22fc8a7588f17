"""Failed logins are limited (429 with Retry-After), tokens expire and die with a password change, and
an append-only audit log records pushes, deletes, logins and grants — over real HTTP (aiohttp's test
server on loopback) and through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from registry_helpers import ALICE, BOB, Client, basic, push_image

from berth.registry import main as registry_main
from berth.registry.auth.throttle import LoginThrottle, TooManyLogins
from berth.registry.service import Registry

WRONG = basic("alice", "wrong")


async def _token(client: Client, headers: dict[str, str], scope: str = "repository:alice/app:pull,push"):
    return await client.get("/token", params={"scope": scope}, headers=headers)


async def test_failed_logins_lock_the_user_out_from_that_address(client: Client) -> None:
    for _ in range(5):
        assert (await _token(client, WRONG)).status == 401
    locked = await _token(client, ALICE)  # the right password too, while locked out
    assert locked.status == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 300
    body = await locked.json()
    assert (
        body["errors"][0]["code"] == "TOOMANYREQUESTS"
        and "too many failed login" in body["errors"][0]["message"]
    )
    # the API's Basic auth and the OAuth2 password grant are the same door
    assert (await client.get("/v2/", headers=ALICE)).status == 429
    form = {"grant_type": "password", "username": "alice", "password": "alicepw"}
    assert (await client.post("/token", data=form)).status == 429
    assert (await _token(client, BOB, "repository:bob/app:pull")).status == 200  # another user is not


def test_the_lock_out_ends_and_spraying_is_limited_per_address() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=3, address_limit=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("alice", "10.0.0.1")
    with pytest.raises(TooManyLogins) as locked:
        throttle.check("alice", "10.0.0.1")
    assert locked.value.retry_after == 60
    throttle.check("alice", "10.0.0.2")  # another address may still try
    now[0] += 61
    throttle.check("alice", "10.0.0.1")  # aged out
    for user in ("a", "b", "c", "d", "e"):  # one address trying many users
        throttle.failed(user, "10.0.0.9")
    with pytest.raises(TooManyLogins):
        throttle.check("f", "10.0.0.9")


async def test_tokens_expire_as_configured_and_die_with_a_password_change(
    client: Client, registry: Registry
) -> None:
    body = await (await _token(client, ALICE)).json()
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"] == registry.config.token_ttl == 300
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/v2/", headers=bearer)).status == 200
    offline = await (await client.get("/token", params={"offline_token": "true"}, headers=ALICE)).json()
    registry.accounts.set_password("alice", "new-password")
    refused = await client.get("/v2/", headers=bearer)
    assert refused.status == 401 and "before the password of alice changed" in await refused.text()
    refresh = {"grant_type": "refresh_token", "refresh_token": offline["refresh_token"]}
    assert (await client.post("/token", data=refresh)).status == 401
    fresh = await _token(client, basic("alice", "new-password"))
    assert fresh.status == 200


async def test_the_audit_log_records_pushes_deletes_and_logins(client: Client, registry: Registry) -> None:
    assert (await _token(client, WRONG)).status == 401
    assert (await _token(client, ALICE)).status == 200
    _, manifest = await push_image(client, "alice/app", "v1")
    r = await client.delete("/v2/alice/app/manifests/v1", headers=ALICE)
    assert r.status == 202
    entries = list(registry.audit.entries())
    actions = [(e["action"], e["actor"], e["target"]) for e in entries]
    assert actions == [
        ("login-failed", "alice", "alice"),
        ("login", "alice", "alice"),
        ("push", "alice", "alice/app:v1"),
        ("delete", "alice", "alice/app:v1"),
    ], actions
    assert all(e["address"] == "127.0.0.1" and e["time"].endswith("Z") for e in entries)
    assert entries[2]["digest"].startswith("sha256:")
    mode = (registry.config.root / "audit.log").stat().st_mode & 0o777
    assert mode == 0o600


def test_the_cli_records_its_changes_and_prints_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ["--root", str(tmp_path / "reg")]

    def cli(*args: str, stdin: str = "") -> str:
        import io
        import sys

        old = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            assert registry_main.main([*root, *args]) == 0
        finally:
            sys.stdin = old
        return capsys.readouterr().out

    cli("user", "add", "carol", "--password-stdin", stdin="pw\n")
    cli("org", "add", "acme", "--owner", "carol")
    cli("team", "add", "acme", "devs")
    cli("team", "members", "acme", "devs", "add", "carol")
    cli("team", "grant", "acme", "devs", "acme/app", "push")
    cli("user", "passwd", "carol", "--password-stdin", stdin="pw2\n")
    lines = [json.loads(line) for line in cli("audit", "--format", "json").splitlines()]
    assert [e["action"] for e in lines] == [
        "user-add", "org-add", "team-add", "member-add", "grant", "password-change",
    ]  # fmt: skip
    assert (
        lines[4]["target"] == "acme/app" and lines[4]["access"] == "push" and lines[4]["team"] == "acme/devs"
    )
    assert all(e["actor"].startswith("cli:") for e in lines)
    assert len(cli("audit", "--since", "10m").splitlines()) == 7  # the header and the six
    assert len(cli("audit", "--since", "2099-01-01T00:00:00Z").splitlines()) == 1
    table = cli("audit", "--action", "grant")
    assert table.splitlines()[0].split()[:5] == ["TIME", "ACTION", "ACTOR", "ADDRESS", "TARGET"]
    assert len(table.splitlines()) == 2 and "access=push" in table
