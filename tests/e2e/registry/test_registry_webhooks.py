"""Webhooks of a real berth-registry delivered to a real aiohttp receiver on loopback: the envelope,
its HMAC, retries with backoff, org hooks, opt-in pull events, the delivery log, and deliveries that
outlive a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, push_image, start_registry
from webhook_receiver import Receiver

from berth.testing.registry import free_port

ALICE = basic("alice", "alicepw")
SECRET = "s3cret-for-tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port()).start()
    try:
        yield rec
    finally:
        rec.stop()


def _config(tmp_path: Path, *, attempts: int = 4, backoff: float = 0.2) -> Path:
    config = tmp_path / "registry.yml"
    config.write_text(
        f"auth:\n  bcrypt_rounds: 4\nnotifications:\n  attempts: {attempts}\n  backoff: {backoff}\n"
        "  backoff_max: 1\n  timeout: 5\n"
    )
    return config


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=_config(tmp_path))
    try:
        yield reg
    finally:
        reg.stop()


def _cli(reg: RunningRegistry, *args: str) -> str:
    result = reg.cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _hook(reg: RunningRegistry, target: str, url: str, *extra: str) -> str:
    out = _cli(reg, "webhook", "add", target, url, "--secret", SECRET, *extra)
    return out.split()[1]  # "webhook ID added: …"


def _event(received: object) -> dict[str, object]:
    body = json.loads(received.body)  # type: ignore[attr-defined]
    assert len(body["events"]) == 1
    event: dict[str, object] = body["events"][0]
    return event


def _signed_by(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _deliveries(reg: RunningRegistry) -> list[dict[str, object]]:
    out = _cli(reg, "webhook", "ls", "--deliveries", "--format", "json")
    return [json.loads(line) for line in out.splitlines()]


def test_push_and_delete_events_are_signed_envelopes(registry: RunningRegistry, receiver: Receiver) -> None:
    hook_id = _hook(registry, "alice/app", receiver.url)
    digest = push_image(registry, "alice/app", "v1", b"layer one", ALICE)
    (push,) = receiver.wait_for(1)
    assert push.headers["Content-Type"] == "application/vnd.docker.distribution.events.v1+json"
    assert push.headers["X-Berth-Signature-256"] == _signed_by(SECRET, push.body)
    assert push.headers["X-Berth-Signature-256"] != _signed_by("another secret", push.body)
    event = _event(push)
    assert event["action"] == "push"
    target = event["target"]
    assert isinstance(target, dict)
    assert target["repository"] == "alice/app" and target["digest"] == digest and target["tag"] == "v1"
    assert target["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert target["size"] == target["length"] > 0
    assert target["url"] == f"{registry.url}/v2/alice/app/manifests/{digest}"
    assert event["actor"] == {"name": "alice"}
    request = event["request"]
    assert isinstance(request, dict) and request["method"] == "PUT" and request["host"] == registry.host
    source = event["source"]
    assert isinstance(source, dict) and source["addr"] == registry.host and source["instanceID"]

    # A pull is not sent unless the hook asked for pull events.
    status, _, _ = registry.request("GET", "/v2/alice/app/manifests/v1", headers=ALICE)
    assert status == 200
    status, _, _ = registry.request("DELETE", "/v2/alice/app/manifests/v1", headers=ALICE)
    assert status == 202
    deleted = _event(receiver.wait_for(2)[1])
    assert deleted["action"] == "delete"
    assert deleted["target"] == {
        "repository": "alice/app",
        "digest": digest,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": target["size"],
        "length": target["size"],
        "url": target["url"],
        "tag": "v1",
    }
    time.sleep(0.5)
    assert len(receiver.received) == 2  # no pull event came
    log = _deliveries(registry)
    assert [(d["webhook"], d["event"], d["attempt"], d["status"]) for d in log] == [
        (hook_id, "push", 1, 200),
        (hook_id, "delete", 1, 200),
    ]


def test_a_failing_receiver_gets_retries_with_backoff(registry: RunningRegistry, receiver: Receiver) -> None:
    receiver.statuses = [500, 500]
    hook_id = _hook(registry, "alice/app", receiver.url)
    push_image(registry, "alice/app", "v1", b"layer", ALICE)
    first, second, third = receiver.wait_for(3)
    assert [r.headers["X-Berth-Attempt"] for r in (first, second, third)] == ["1", "2", "3"]
    assert first.body == second.body == third.body  # the same event, signed the same way
    assert second.at - first.at >= 0.2 * 0.9  # backoff 0.2 s, then doubled
    assert third.at - second.at >= 0.4 * 0.9
    time.sleep(0.5)
    assert len(receiver.received) == 3  # the 200 ended it
    log = _deliveries(registry)
    assert [(d["attempt"], d["status"], d["error"]) for d in log] == [
        (1, 500, "HTTP 500"),
        (2, 500, "HTTP 500"),
        (3, 200, ""),
    ]
    table = _cli(registry, "webhook", "ls", "--deliveries")
    assert table.splitlines()[0].split() == ["WEBHOOK", "TIME", "EVENT", "ATTEMPT", "RESULT"]
    assert len(table.splitlines()) == 4 and hook_id in table.splitlines()[3]

    # The repository's page shows its owner the hook and its attempts, newest first; others see none.
    status, _, page = registry.request("GET", "/r/alice/app", headers=ALICE)
    assert status == 200
    section = page.decode().split('<h2 id="webhooks">Webhooks</h2>', 1)[1]
    assert f'id="hook-{hook_id}"' in section and receiver.url in section
    results = re.findall(r"<td>push</td><td>(\d)</td><td class=\"muted\">([^<]*)</td>", section)
    assert results == [("3", "200"), ("2", "HTTP 500"), ("1", "HTTP 500")]
    _cli(registry, "repo", "visibility", "alice/app", "public")
    status, _, page = registry.request("GET", "/r/alice/app")
    assert status == 200 and b"Webhooks" not in page and receiver.url.encode() not in page


def test_attempts_stop_at_the_configured_number(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    config = _config(tmp_path, attempts=2, backoff=0.1)
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        _hook(reg, "alice/app", receiver.url)
        push_image(reg, "alice/app", "v1", b"layer", ALICE)
        receiver.wait_for(2)
        time.sleep(1.0)
        assert len(receiver.received) == 2
        assert [d["status"] for d in _deliveries(reg)] == [503, 503]
        listed = json.loads(_cli(reg, "webhook", "ls", "--format", "json"))
        assert listed[0]["pending"] == 0  # given up, not queued for ever
    finally:
        reg.stop()


def test_org_hook_covers_its_repositories_and_pulls_only_when_asked(
    registry: RunningRegistry, receiver: Receiver, tmp_path: Path
) -> None:
    _cli(registry, "org", "add", "acme", "--owner", "alice")
    _hook(registry, "acme", receiver.url, "--events", "push,pull")
    other = Receiver(free_port()).start()
    try:
        _hook(registry, "alice", other.url)  # another namespace's hook hears nothing of acme
        digest = push_image(registry, "acme/app", "v1", b"acme layer", ALICE)
        status, _, _ = registry.request("HEAD", "/v2/acme/app/manifests/v1", headers=ALICE)
        assert status == 200  # a HEAD is no pull
        status, _, _ = registry.request("GET", f"/v2/acme/app/manifests/{digest}", headers=ALICE)
        assert status == 200
        status, _, _ = registry.request("DELETE", "/v2/acme/app/manifests/v1", headers=ALICE)
        assert status == 202  # not subscribed: no event
        push_event, pull_event = (_event(r) for r in receiver.wait_for(2))
        assert push_event["action"] == "push" and push_event["target"]["repository"] == "acme/app"  # type: ignore[index]
        assert pull_event["action"] == "pull" and pull_event["target"]["digest"] == digest  # type: ignore[index]
        assert "tag" not in pull_event["target"]  # type: ignore[operator]
        assert pull_event["request"]["method"] == "GET"  # type: ignore[index]
        time.sleep(0.5)
        assert len(receiver.received) == 2 and other.received == []
    finally:
        other.stop()


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet: every attempt is refused
    config = _config(tmp_path, attempts=100, backoff=0.1)
    root = tmp_path / "root"
    reg = start_registry(root, users={"alice": "alicepw"}, config=config)
    try:
        _hook(reg, "alice/app", f"http://127.0.0.1:{port}/hook")
        digest = push_image(reg, "alice/app", "v1", b"layer", ALICE)
        deadline = time.monotonic() + 10
        while not _deliveries(reg) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _deliveries(reg)[0]["status"] is None and _deliveries(reg)[0]["error"]
    finally:
        reg.stop()
    receiver = Receiver(port).start()
    reg = start_registry(root, config=config)
    try:
        (delivered,) = receiver.wait_for(1)
        assert _event(delivered)["target"]["digest"] == digest  # type: ignore[index]
        assert int(delivered.headers["X-Berth-Attempt"]) > 1
    finally:
        reg.stop()
        receiver.stop()


def test_a_delivery_cut_off_by_a_stop_is_sent_at_once_after_the_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold = 1
    config = _config(tmp_path, attempts=3, backoff=30)  # a retry after a failure would wait 30 s
    root = tmp_path / "root"
    reg = start_registry(root, users={"alice": "alicepw"}, config=config)
    try:
        _hook(reg, "alice/app", receiver.url)
        push_image(reg, "alice/app", "v1", b"layer", ALICE)
        receiver.wait_for(1)  # in flight: the receiver does not answer
    finally:
        stopping = time.monotonic()
        reg.stop()
    assert time.monotonic() - stopping < 5  # the stop does not wait for the receiver
    reg = start_registry(root, config=config)
    try:
        first, again = receiver.wait_for(2, timeout=10)  # not after the 35 s lease
        assert again.body == first.body and again.headers["X-Berth-Attempt"] == "1"
        assert [d["attempt"] for d in _deliveries(reg)] == [1]  # the cut-off try was no attempt
    finally:
        reg.stop()


def test_webhook_cli_refuses_what_it_cannot_do(registry: RunningRegistry, receiver: Receiver) -> None:
    scan = registry.cli("webhook", "add", "alice/app", receiver.url, "--secret", "x", "--events", "push,scan")
    assert scan.returncode == 1 and "scan" in scan.stderr and "no vulnerability scanner" in scan.stderr
    bogus = registry.cli("webhook", "add", "alice/app", receiver.url, "--secret", "x", "--events", "tag")
    assert bogus.returncode == 1 and "unknown event" in bogus.stderr
    nobody = registry.cli("webhook", "add", "nobody", receiver.url, "--secret", "x")
    assert nobody.returncode == 1 and "no such organisation or user: nobody" in nobody.stderr
    ftp = registry.cli("webhook", "add", "alice/app", "ftp://127.0.0.1/x", "--secret", "x")
    assert ftp.returncode == 1 and "http://" in ftp.stderr
    empty = registry.cli("webhook", "add", "alice/app", receiver.url, "--secret", "")
    assert empty.returncode == 1 and "--secret" in empty.stderr

    hook_id = _hook(registry, "alice/app", receiver.url, "--events", "delete")
    table = _cli(registry, "webhook", "ls").splitlines()
    assert table[0].split() == ["ID", "TARGET", "EVENTS", "PENDING", "URL"]
    assert table[1].split() == [hook_id, "alice/app", "delete", "0", receiver.url]
    assert SECRET not in "\n".join(table)
    listed = json.loads(_cli(registry, "webhook", "ls", "--format", "json"))
    assert listed == [
        {"id": hook_id, "target": "alice/app", "url": receiver.url, "events": ["delete"], "pending": 0}
    ]
    push_image(registry, "alice/app", "v1", b"layer", ALICE)  # only deletes were asked for
    _cli(registry, "webhook", "rm", hook_id)
    assert json.loads(_cli(registry, "webhook", "ls", "--format", "json")) == []
    gone = registry.cli("webhook", "rm", hook_id)
    assert gone.returncode == 1 and f"no such webhook: {hook_id}" in gone.stderr
    status, _, _ = registry.request("DELETE", "/v2/alice/app/manifests/v1", headers=ALICE)
    assert status == 202
    time.sleep(0.5)
    assert receiver.received == []
    audit = [json.loads(line) for line in (registry.root / "audit.log").read_text().splitlines()]
    assert {"webhook-add", "webhook-remove"} <= {e["action"] for e in audit}
