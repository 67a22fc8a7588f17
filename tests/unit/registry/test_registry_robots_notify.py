"""Robot grants, webhook signing, backoff, event parsing and the metadata migration 1 → 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from registry_helpers import Client, basic, push_image

from berth.errors import InvalidArgument, Unavailable
from berth.registry.accounts.robots import Grant, Robot, parse_grant, parse_login
from berth.registry.metadata import SCHEMA_VERSION, SqliteMetadata, schema
from berth.registry.notify.signing import sign, verify
from berth.registry.notify.store import parse_events
from berth.registry.notify.worker import DeliveryPolicy
from berth.registry.service import Registry


def test_robot_grants_stay_inside_the_organisation() -> None:
    robot = Robot("acme", "ci", "hash", (Grant("acme/*", "pull"), Grant("acme/app", "push")))
    assert robot.actions("acme/app") == {"pull", "push"}
    assert robot.actions("acme/lib/sub") == {"pull"}
    assert robot.actions("other/app") == set()
    assert parse_grant("acme", "app:push") == Grant("acme/app", "push")
    assert parse_grant("acme", "acme/ci-*:pull") == Grant("acme/ci-*", "pull")
    for bad in ("app:admin", "other/app:pull", ":pull", "App:pull"):
        with pytest.raises(InvalidArgument):
            parse_grant("acme", bad)
    assert parse_login("robot$acme+ci") == ("acme", "ci")
    assert parse_login("alice") is None


async def test_a_robot_pulls_by_grant_and_is_refused_once_removed(registry: Registry, client: Client) -> None:
    registry.accounts.add_org("acme", "alice")
    await push_image(client, "acme/app", "v1")
    token = registry.accounts.add_robot("acme", "ci", ["app:pull"])
    robot = basic("robot$acme+ci", token)
    assert (await client.get("/v2/acme/app/manifests/v1", headers=robot)).status == 200
    r = await client.delete("/v2/acme/app/manifests/v1", headers=robot)
    assert r.status == 403
    assert (
        await client.get("/v2/acme/app/manifests/v1", headers=basic("robot$acme+ci", "wrong"))
    ).status == 401
    registry.accounts.remove_robot("acme", "ci")
    assert (await client.get("/v2/acme/app/manifests/v1", headers=robot)).status == 401


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", b"what do ya want for nothing?") == expected
    assert verify("Jefe", b"what do ya want for nothing?", expected)
    assert not verify("other", b"what do ya want for nothing?", expected)


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = DeliveryPolicy(backoff=0.5, backoff_max=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_events_default_and_refusals() -> None:
    assert parse_events(None) == ("push", "delete")
    assert parse_events("pull, push,pull") == ("pull", "push")
    with pytest.raises(InvalidArgument, match="scanner"):
        parse_events("push,scan")
    with pytest.raises(InvalidArgument, match="unknown event"):
        parse_events("push,tag")


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def test_a_version_1_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with sqlite3.connect(path) as conn:  # what a version-1 berth-registry made
        conn.executescript(schema.BASE_SCHEMA)
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO users (name, password_hash, admin, created) VALUES ('old', 'x', 0, 0)")
    db = SqliteMetadata(path)
    try:
        assert _version(path) == SCHEMA_VERSION
        assert db.query("SELECT name FROM users")[0]["name"] == "old"
        assert db.query("SELECT count(*) AS n FROM webhooks")[0]["n"] == 0
    finally:
        db.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    SqliteMetadata(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(Unavailable, match="schema version 99"):
        SqliteMetadata(path)


def test_a_claimed_delivery_is_held_for_its_lease(registry: Registry) -> None:
    store = registry.webhooks
    hook = store.add("alice/app", "http://127.0.0.1:9/hook", "s", ("push",))
    store.add("bob", "http://127.0.0.1:9/other", "s", ("push",))
    assert store.publish("alice/app", "push", b"{}") == 1  # bob's hook is on another namespace
    assert store.publish("alice/app", "pull", b"{}") == 0  # nobody asked for pulls
    (delivery,) = store.claim(10, lease=60)
    assert delivery.hook == hook.id and delivery.attempt == 1 and delivery.event == "push"
    assert store.claim(10, lease=60) == []  # another worker (or replica) does not get it
    store.release(delivery)
    (again,) = store.claim(10, lease=60)
    assert again.id == delivery.id and again.attempt == 1
    store.retry(again, 0)
    assert store.claim(10, lease=60)[0].attempt == 2
    store.remove(hook.id)
    assert store.pending(hook.id) == 0 and store.claim(10, lease=0) == []
