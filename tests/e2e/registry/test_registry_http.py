"""Plain HTTP against the real server: Range reads, chunked uploads, gc while serving, 50 clients at once."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import socket
import time

from registry_e2e_helpers import RunningRegistry, basic, sha

ALICE = basic("alice", "alicepw")


def _upload(running: RunningRegistry, repo: str, data: bytes, headers: dict[str, str] = ALICE) -> str:
    status, h, body = running.request("POST", f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert status == 202, body
    digest = sha(data)
    status, _, body = running.request("PUT", f"{h['Location']}?digest={digest}", data=data, headers=headers)
    assert status == 201, body
    return digest


def _manifest(running: RunningRegistry, repo: str, tag: str, layer: bytes) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    cfg, lay = _upload(running, repo, config), _upload(running, repo, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay, "size": len(layer)}
            ],
        }
    ).encode()
    status, _, body = running.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        data=manifest,
        headers={**ALICE, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert status == 201, body
    return sha(manifest)


def test_range_and_head_over_filesystem(running: RunningRegistry) -> None:
    data = os.urandom(1 << 20)
    digest = _upload(running, "alice/blobs", data)
    status, headers, body = running.request(
        "GET", f"/v2/alice/blobs/blobs/{digest}", headers={**ALICE, "Range": "bytes=100-199"}
    )
    assert status == 206 and body == data[100:200]
    status, headers, body = running.request("HEAD", f"/v2/alice/blobs/blobs/{digest}", headers=ALICE)
    assert status == 200 and headers["Content-Length"] == str(len(data)) and body == b""
    assert headers["Docker-Content-Digest"] == digest


def test_blobs_larger_than_a_copy_buffer_read_back_whole_from_cache_and_from_disk(
    running: RunningRegistry,
) -> None:
    data = os.urandom(5 << 20)  # three 2 MB copy buffers, the last one partial
    digest = _upload(running, "alice/big", data)
    path = f"/v2/alice/big/blobs/{digest}"
    (stored,) = [p for p in running.root.rglob("data") if p.parent.name == digest.split(":")[1]]
    for _ in ("page cache", "disk"):
        status, _, body = running.request("GET", path, headers=ALICE)
        assert status == 200 and body == data
        status, _, body = running.request("GET", path, headers={**ALICE, "Range": "bytes=2097000-4194400"})
        assert status == 206 and body == data[2097000:4194401]
        os.sync()  # dirty pages cannot be dropped; then evict them: reads go to a thread
        fd = os.open(stored, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def test_chunked_upload_resumes_after_416(running: RunningRegistry) -> None:
    data = os.urandom(300_000)
    status, h, _ = running.request("POST", "/v2/alice/chunks/blobs/uploads/", headers=ALICE)
    loc = h["Location"]
    status, h, _ = running.request(
        "PATCH", loc, data=data[:100_000], headers={**ALICE, "Content-Range": "0-99999"}
    )
    assert status == 202 and h["Range"] == "0-99999"
    status, h, _ = running.request(
        "PATCH", h["Location"], data=data[:10], headers={**ALICE, "Content-Range": "0-9"}
    )
    assert status == 416
    status, h, _ = running.request("GET", loc, headers=ALICE)
    assert status == 204 and h["Range"] == "0-99999"
    status, h, _ = running.request(
        "PATCH", h["Location"], data=data[100_000:], headers={**ALICE, "Content-Range": "100000-299999"}
    )
    assert status == 202
    status, h, _ = running.request("PUT", f"{h['Location']}?digest={sha(data)}", headers=ALICE)
    assert status == 201
    status, _, body = running.request("GET", f"/v2/alice/chunks/blobs/{sha(data)}", headers=ALICE)
    assert status == 200 and body == data


def test_gc_while_serving(running: RunningRegistry) -> None:
    _manifest(running, "alice/app", "v1", b"referenced layer")
    orphan = _upload(running, "alice/app", b"orphan layer")
    dry = running.cli("gc", "--dry-run", "--grace", "0")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove blob {orphan}" in dry.stdout
    kept = running.cli("gc")  # default grace: freshly pushed blobs stay
    assert orphan not in kept.stdout
    real = running.cli("gc", "--grace", "0")
    assert real.returncode == 0 and f"removed blob {orphan}" in real.stdout
    assert running.request("HEAD", f"/v2/alice/app/blobs/{orphan}", headers=ALICE)[0] == 404
    status, _, _ = running.request("GET", "/v2/alice/app/manifests/v1", headers=ALICE)
    assert status == 200
    blobs_dir = running.root / "storage" / "blobs" / "sha256" / orphan[7:9] / orphan[7:]
    assert not blobs_dir.exists()


def test_fifty_clients_push_and_pull_at_once(running: RunningRegistry) -> None:
    payloads = {i: os.urandom(64 * 1024 + i) for i in range(50)}
    _manifest(running, "alice/shared", "v1", b"shared")

    def work(i: int) -> bool:
        digest = _upload(running, f"alice/c{i % 5}", payloads[i])
        status, headers, body = running.request("GET", f"/v2/alice/c{i % 5}/blobs/{digest}", headers=ALICE)
        ok = status == 200 and hashlib.sha256(body).hexdigest() == digest[7:]
        status, _, _ = running.request("GET", "/v2/alice/shared/manifests/v1", headers=ALICE)
        return ok and status == 200

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(work, range(50)))
    assert all(results)
    for i, data in payloads.items():
        status, _, body = running.request("GET", f"/v2/alice/c{i % 5}/blobs/{sha(data)}", headers=ALICE)
        assert status == 200 and body == data


def test_cli_errors_are_one_line(running: RunningRegistry) -> None:
    result = running.cli("user", "add", "alice", "--password-stdin", stdin="x\n")
    assert result.returncode == 1 and result.stderr.startswith("berth-registry: ")
    assert len(result.stderr.strip().splitlines()) == 1
    listed = running.cli("user", "list")
    assert listed.stdout.split() == ["alice", "bob", "root", "(admin)"]


def test_interrupted_upload_leaves_nothing_visible(running: RunningRegistry) -> None:
    data = os.urandom(1 << 20)
    status, h, _ = running.request("POST", "/v2/alice/cut/blobs/uploads/", headers=ALICE)
    location = h["Location"]
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        head = (
            f"PUT {location}?digest={sha(data)} HTTP/1.1\r\nHost: {running.host}\r\n"
            f"Authorization: {ALICE['Authorization']}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        conn.sendall(head.encode() + data[:100_000])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server notices the disconnect and keeps the bytes it got
        status, h, _ = running.request("GET", location, headers=ALICE)
        if status == 204 and h["Range"] == "0-99999":
            break
        time.sleep(0.05)
    assert status == 204 and h["Range"] == "0-99999"
    assert running.request("HEAD", f"/v2/alice/cut/blobs/{sha(data)}", headers=ALICE)[0] == 404
    status, h, _ = running.request(
        "PATCH", location, data=data[100_000:], headers={**ALICE, "Content-Range": f"100000-{len(data) - 1}"}
    )
    assert status == 202
    status, _, _ = running.request("PUT", f"{location}?digest={sha(data)}", headers=ALICE)
    assert status == 201
    assert running.request("GET", f"/v2/alice/cut/blobs/{sha(data)}", headers=ALICE)[2] == data


def test_user_passwd_and_rm(running: RunningRegistry) -> None:
    assert running.request("GET", "/v2/", headers=basic("bob", "bobpw"))[0] == 200
    assert running.cli("user", "passwd", "bob", "--password-stdin", stdin="newpw\n").returncode == 0
    assert running.request("GET", "/v2/", headers=basic("bob", "bobpw"))[0] == 401
    assert running.request("GET", "/v2/", headers=basic("bob", "newpw"))[0] == 200
    assert running.cli("user", "rm", "bob").returncode == 0
    assert running.request("GET", "/v2/", headers=basic("bob", "newpw"))[0] == 401
    missing = running.cli("user", "rm", "bob")
    assert missing.returncode == 1 and "no such user: bob" in missing.stderr
