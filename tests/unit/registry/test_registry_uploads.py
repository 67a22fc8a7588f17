"""Blob uploads and blob reads through the in-process app (InMemoryDriver)."""

from __future__ import annotations

import hashlib
import json

import pytest
from registry_helpers import ALICE, BOB, Client, push_blob, sha

from berth.registry.service import Registry
from berth.registry.uploads import UploadService


async def _error_code(r: object) -> str:
    body = json.loads(await r.text())  # type: ignore[attr-defined]
    return str(body["errors"][0]["code"])


async def test_monolithic_post_then_put(client: Client) -> None:
    digest = await push_blob(client, "alice/app", b"hello world")
    r = await client.get(f"/v2/alice/app/blobs/{digest}", headers=ALICE)
    assert r.status == 200
    assert await r.read() == b"hello world"
    assert r.headers["Docker-Content-Digest"] == digest
    r = await client.head(f"/v2/alice/app/blobs/{digest}", headers=ALICE)
    assert r.status == 200 and r.headers["Content-Length"] == "11"


async def test_single_post(client: Client) -> None:
    data = b"single post body"
    r = await client.post(f"/v2/alice/app/blobs/uploads/?digest={sha(data)}", data=data, headers=ALICE)
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/alice/app/blobs/{sha(data)}"


async def test_single_post_bad_digest_leaves_nothing(client: Client, registry: Registry) -> None:
    r = await client.post(f"/v2/alice/app/blobs/uploads/?digest={sha(b'other')}", data=b"data", headers=ALICE)
    assert r.status == 400 and await _error_code(r) == "DIGEST_INVALID"
    assert registry.blobs.size(sha(b"data")) is None
    assert registry.db.query("SELECT * FROM uploads") == []


async def test_chunked_upload_with_status_and_out_of_order(client: Client) -> None:
    data = b"0123456789abcdefghij"
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    location = r.headers["Location"]
    r = await client.patch(location, data=data[:10], headers={**ALICE, "Content-Range": "0-9"})
    assert r.status == 202 and r.headers["Range"] == "0-9"
    location = r.headers["Location"]
    r = await client.patch(location, data=data[12:], headers={**ALICE, "Content-Range": "12-19"})
    assert r.status == 416
    r = await client.get(location, headers=ALICE)
    assert r.status == 204 and r.headers["Range"] == "0-9"
    r = await client.patch(location, data=data[10:15], headers={**ALICE, "Content-Range": "10-14"})
    assert r.status == 202 and r.headers["Range"] == "0-14"
    r = await client.put(
        f"{location}?digest={sha(data)}", data=data[15:], headers={**ALICE, "Content-Range": "15-19"}
    )
    assert r.status == 201
    r = await client.get(f"/v2/alice/app/blobs/{sha(data)}", headers=ALICE)
    assert await r.read() == data


async def test_put_with_wrong_digest_keeps_blob_invisible(client: Client, registry: Registry) -> None:
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    r = await client.put(f"{r.headers['Location']}?digest={sha(b'x')}", data=b"y", headers=ALICE)
    assert r.status == 400 and await _error_code(r) == "DIGEST_INVALID"
    r = await client.head(f"/v2/alice/app/blobs/{sha(b'y')}", headers=ALICE)
    assert r.status == 404
    assert registry.blobs.size(sha(b"y")) is None


async def test_cancel_upload(client: Client) -> None:
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    location = r.headers["Location"]
    r = await client.delete(location, headers=ALICE)
    assert r.status == 204
    r = await client.get(location, headers=ALICE)
    assert r.status == 404 and await _error_code(r) == "BLOB_UPLOAD_UNKNOWN"


async def test_upload_id_bound_to_repository(client: Client) -> None:
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    upload_id = r.headers["Location"].rsplit("/", 1)[1]
    r = await client.get(f"/v2/alice/other/blobs/uploads/{upload_id}", headers=ALICE)
    assert r.status == 404


async def test_cross_repository_mount(client: Client, registry: Registry) -> None:
    digest = await push_blob(client, "alice/src", b"shared layer")
    r = await client.post(f"/v2/alice/dst/blobs/uploads/?mount={digest}&from=alice/src", headers=ALICE)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == digest
    assert registry.blobs.linked_size("alice/dst", digest) == len(b"shared layer")


async def test_mount_from_repository_caller_cannot_read_starts_upload(client: Client) -> None:
    digest = await push_blob(client, "alice/private", b"secret layer")
    r = await client.post(f"/v2/bob/dst/blobs/uploads/?mount={digest}&from=alice/private", headers=BOB)
    assert r.status == 202  # no mount: bob cannot pull alice/private, so he must upload the bytes
    r = await client.head(f"/v2/bob/dst/blobs/{digest}", headers=BOB)
    assert r.status == 404


async def test_blob_unknown_and_invalid_digest(client: Client) -> None:
    await push_blob(client, "alice/app", b"x")
    r = await client.get(f"/v2/alice/app/blobs/{sha(b'missing')}", headers=ALICE)
    assert r.status == 404 and await _error_code(r) == "BLOB_UNKNOWN"
    r = await client.get("/v2/alice/app/blobs/sha256:nothex", headers=ALICE)
    assert r.status == 400 and await _error_code(r) == "DIGEST_INVALID"


async def test_blob_delete_unlinks(client: Client) -> None:
    digest = await push_blob(client, "alice/app", b"to delete")
    r = await client.delete(f"/v2/alice/app/blobs/{digest}", headers=ALICE)
    assert r.status == 202
    r = await client.head(f"/v2/alice/app/blobs/{digest}", headers=ALICE)
    assert r.status == 404


async def test_invalid_name(client: Client) -> None:
    r = await client.get("/v2/Alice/App/tags/list", headers=ALICE)
    assert r.status == 400 and await _error_code(r) == "NAME_INVALID"


async def test_a_full_storage_answers_507_and_drops_the_upload(
    client: Client, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage has room for 10 bytes: the PATCH is answered 507 with the reason, and the session
    and its bytes are gone (the room is free again; the client starts over)."""
    from berth.registry.storage import inmemory
    from berth.registry.storage.driver import StorageFull

    real_write = inmemory._MemoryWriter.write

    def write(self: inmemory._MemoryWriter, data: bytes) -> int:
        if self.size + len(data) > 10:
            raise StorageFull("/uploads/x/data", "inmemory")
        return real_write(self, data)

    monkeypatch.setattr(inmemory._MemoryWriter, "write", write)
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    location = r.headers["Location"]
    r = await client.patch(location, data=b"0123456789abcdef", headers=ALICE)
    body = json.loads(await r.text())
    assert r.status == 507 and body["errors"][0]["code"] == "UNKNOWN"
    assert body["errors"][0]["message"] == "inmemory: writing /uploads/x/data: no space left on device"
    assert registry.db.query("SELECT * FROM uploads") == []
    assert not [p for p in registry.blobs.driver._objects if p.startswith("/uploads/")]  # type: ignore[attr-defined]
    r = await client.get(location, headers=ALICE)
    assert r.status == 404 and await _error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def _sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def _count_rehashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each time an upload's file is read back to be hashed (instead of hashed as it streamed)."""
    calls: list[str] = []
    original = UploadService._hash_file

    def counting(self: UploadService, path: str, algorithm: str) -> str:
        calls.append(algorithm)
        return original(self, path, algorithm)

    monkeypatch.setattr(UploadService, "_hash_file", counting)
    return calls


async def test_sha512_upload_is_hashed_as_it_streams_when_the_digest_comes_first(
    client: Client, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    rehashed = _count_rehashes(monkeypatch)
    one, two = b"single post, sha512", b"whole body in the closing PUT"
    r = await client.post(f"/v2/alice/app/blobs/uploads/?digest={_sha512(one)}", data=one, headers=ALICE)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == _sha512(one)
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    r = await client.put(f"{r.headers['Location']}?digest={_sha512(two)}", data=two, headers=ALICE)
    assert r.status == 201
    assert rehashed == []
    assert registry.blobs.size(_sha512(one)) == len(one) and registry.blobs.size(_sha512(two)) == len(two)
    assert registry.blobs.get_bytes(_sha512(two)) == two


async def test_chunked_sha512_upload_is_verified_by_sha512_on_close(
    client: Client, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    rehashed = _count_rehashes(monkeypatch)
    data = b"first chunk|second chunk"
    r = await client.post("/v2/alice/app/blobs/uploads/", headers=ALICE)
    r = await client.patch(r.headers["Location"], data=data[:12], headers=ALICE)
    location = r.headers["Location"]
    r = await client.put(f"{location}?digest={_sha512(data + b'!')}", data=data[12:], headers=ALICE)
    assert r.status == 400 and await _error_code(r) == "DIGEST_INVALID"
    assert registry.blobs.size(_sha512(data)) is None
    r = await client.put(f"{location}?digest={_sha512(data)}", headers=ALICE)
    assert r.status == 201, await r.text()
    # PATCH does not say which digest will close the upload: the running hash is sha256, so a sha512
    # close reads the file once more (as distribution does); a sha256 close never does.
    assert rehashed == ["sha512", "sha512"]
    assert registry.blobs.get_bytes(_sha512(data)) == data
    await push_blob(client, "alice/app", b"chunked, sha256")
    assert rehashed == ["sha512", "sha512"]
