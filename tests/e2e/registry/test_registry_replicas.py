"""Two ``berth-registry serve`` replicas, each on a root of its own, sharing one PostgreSQL database
and one bucket of a real object store (Ceph's radosgw), behind Debian's haproxy, are one registry: a
push through the balancer pulls from each replica, a token one replica signed works on the other, an
upload started on one finishes on the other, search answers the same; a replica SIGKILLed in the
middle of a push loses nothing acknowledged and the client's retry on the other completes."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, push_image, sha, skopeo

from berth.testing.ceph import CephCluster
from berth.testing.haproxy import LoadBalancer, load_balancer
from berth.testing.postgres import PostgresServer
from berth.testing.registry import start_berth_registry

ALICE = basic("alice", "alicepw")


def _config(tmp_path: Path, url: str, ceph: CephCluster, bucket: str) -> Path:
    config = tmp_path / "registry.yaml"
    config.write_text(
        f"storage: {{driver: s3, s3: {{endpoint: {ceph.endpoint}, region: {ceph.region}, bucket: {bucket},\n"
        f"  access_key: {ceph.access_key}, secret_key: {ceph.secret_key}, path_style: true}}}}\n"
        f"metadata: {{driver: postgres, url: {json.dumps(url)}}}\n"
        f"auth: {{signing_key: {tmp_path / 'signing.pem'}, bcrypt_rounds: 4}}\n"
    )
    return config


@pytest.fixture
def replicas(
    postgres: PostgresServer, postgres_url: str, ceph: CephCluster, s3_bucket: str, tmp_path: Path
) -> Iterator[tuple[RunningRegistry, RunningRegistry, LoadBalancer]]:
    config = _config(tmp_path, postgres_url, ceph, s3_bucket)
    first = start_berth_registry(tmp_path / "replica-1", users={"alice": "alicepw"}, config=config)
    second = start_berth_registry(tmp_path / "replica-2", config=config)
    try:
        with load_balancer([first.port, second.port]) as balancer:
            yield first, second, balancer
    finally:
        first.stop()
        second.stop()


def _inspect_digest(host: str, ref: str) -> str:
    result = skopeo("inspect", "--tls-verify=false", "--creds", "alice:alicepw", f"docker://{host}/{ref}")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["Digest"])


def test_two_replicas_behind_haproxy_are_one_registry(
    replicas: tuple[RunningRegistry, RunningRegistry, LoadBalancer], tmp_path: Path
) -> None:
    first, second, balancer = replicas
    layout = tmp_path / "layout"
    digest = make_oci_layout(layout, "v1", files={"hello.txt": b"hello from the balancer\n"})
    for tag in ("v1", "v2"):  # round-robin: tokens from one replica are used on the other
        pushed = skopeo(
            "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw",
            f"oci:{layout}:v1", f"docker://{balancer.host}/alice/app:{tag}",
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
    assert _inspect_digest(first.host, "alice/app:v1") == digest
    assert _inspect_digest(second.host, "alice/app:v2") == digest
    pulled = skopeo(
        "copy", "--src-tls-verify=false", "--src-creds", "alice:alicepw",
        f"docker://{second.host}/alice/app:v1", f"dir:{tmp_path / 'pulled'}",
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr

    for path in ("/v2/_catalog", "/v2/alice/app/tags/list", "/v1/search?q=app"):
        answers = [json.loads(r.request("GET", path, headers=ALICE)[2]) for r in (first, second)]
        for answer in answers:  # each replica counts its own pulls until its next flush (5 s)
            for result in answer.get("results", []):
                assert result.pop("pull_count") >= 1
        assert answers[0] == answers[1], path
    assert json.loads(first.request("GET", "/v2/alice/app/tags/list", headers=ALICE)[2])["tags"] == [
        "v1",
        "v2",
    ]

    # an upload started on one replica continues and finishes on the other
    data = os.urandom(300_000)
    status, headers, _ = first.request("POST", "/v2/alice/app/blobs/uploads/", headers=ALICE)
    assert status == 202
    location = headers["Location"].removeprefix(first.url).removeprefix(balancer.url)
    status, headers, _ = first.request(
        "PATCH", location, data=data[:100_000],
        headers={**ALICE, "Content-Range": "0-99999", "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert status == 202
    status, headers, _ = second.request("GET", headers["Location"], headers=ALICE)
    assert status == 204 and headers["Range"] == "0-99999"
    status, headers, _ = second.request(
        "PATCH", headers["Location"], data=data[100_000:],
        headers={**ALICE, "Content-Range": f"100000-{len(data) - 1}", "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert status == 202
    closing = headers["Location"] + ("&" if "?" in headers["Location"] else "?") + f"digest={sha(data)}"
    status, _, body = second.request("PUT", closing, headers=ALICE)
    assert status == 201, body
    status, _, blob = first.request("GET", f"/v2/alice/app/blobs/{sha(data)}", headers=ALICE)
    assert status == 200 and blob == data


def _stream_until_killed(registry: RunningRegistry, location: str, total: int, sent: list[int]) -> None:
    """A PATCH of ``total`` bytes sent slowly, on a raw socket, until the server dies under it."""
    with socket.create_connection(("127.0.0.1", registry.port), timeout=30) as conn:
        conn.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {registry.host}\r\nAuthorization: {ALICE['Authorization']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n".encode()
        )
        try:
            while sent[0] < total:
                conn.sendall(os.urandom(64 * 1024))
                sent[0] += 64 * 1024
                time.sleep(0.01)
        except OSError:
            return


def test_a_replica_killed_mid_push_loses_nothing_and_the_retry_on_the_other_completes(
    replicas: tuple[RunningRegistry, RunningRegistry, LoadBalancer],
) -> None:
    first, second, balancer = replicas
    acknowledged = push_image(first, "alice/safe", "v1", b"acknowledged layer", ALICE)
    status, headers, _ = first.request("POST", "/v2/alice/big/blobs/uploads/", headers=ALICE)
    assert status == 202
    sent = [0]
    streamer = threading.Thread(
        target=_stream_until_killed, args=(first, headers["Location"], 64 << 20, sent)
    )
    streamer.start()
    while sent[0] < 2 << 20:  # the push is well under way
        time.sleep(0.01)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(10)
    streamer.join(30)

    # the client retries the blob on the replica that lives: a new upload, pushed whole
    layer = os.urandom(3 << 20)
    digest = push_image(second, "alice/big", "v1", layer, ALICE)
    status, _, body = second.request("GET", "/v2/alice/big/manifests/v1", headers={**ALICE, "Accept": "*/*"})
    assert status == 200 and sha(body) == digest
    status, _, body = second.request("GET", "/v2/alice/safe/manifests/v1", headers={**ALICE, "Accept": "*/*"})
    assert status == 200 and sha(body) == acknowledged  # what was acknowledged before the kill holds
    deadline = time.monotonic() + 10  # the balancer took the dead replica out of its pool
    while True:
        status, _, _ = balancer_request(balancer, "/v2/alice/safe/tags/list")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200
    check = second.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr


def balancer_request(balancer: LoadBalancer, path: str) -> tuple[int, dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(balancer.url + path, headers=ALICE)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
