"""UploadService: blob upload sessions (POST, PATCH, PUT, GET status, DELETE) with streaming digests.

Bytes are appended to ``uploads/<id>/data`` as they arrive and hashed on the way (one pass, no
extra copy), so closing a 200 MB upload costs only a rename. The running hash lives in memory per
session; if it is missing (a restart between PATCH and PUT) the file is hashed again on close. It is
sha256 unless the algorithm is known before the bytes arrive (a single POST, or a PUT that carries the
whole body); a chunked upload closed with another algorithm (sha512) is hashed again on close, as
distribution does, since PATCH does not say which digest will close it.
Nothing is visible until the digest matches: a bad or interrupted upload never reaches ``blobs/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from berth.errors import NotFound
from berth.registry import digests
from berth.registry.api.errors import ErrorCode, RegistryError
from berth.registry.blobs import BlobStore
from berth.registry.metadata import MetadataDB
from berth.registry.storage import paths
from berth.registry.storage.driver import FileWriter, StorageFull

_HASH_CHUNK = 4 << 20
_REMOTE_BATCH = 4 << 20  # bytes handed to an object store's writer per thread hop


@dataclass(slots=True)
class _Hashing:
    """The running hash of a session, its algorithm and how many bytes it has seen."""

    algorithm: str
    hasher: Any
    offset: int


def _feed(writer: FileWriter, hashing: _Hashing | None, chunks: list[bytes]) -> None:
    """Hash and write a batch of chunks, in order (in a thread: sha256 releases the GIL)."""
    for chunk in chunks:
        if hashing is not None:
            hashing.hasher.update(chunk)
            hashing.offset += len(chunk)
        writer.write(chunk)


class UploadService:
    """Upload sessions of one registry. All methods raise RegistryError with the spec's codes."""

    def __init__(self, blobs: BlobStore, db: MetadataDB) -> None:
        self._blobs = blobs
        self._db = db
        self._hashing: dict[str, _Hashing] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def start(self, repo: str, algorithm: str = "sha256") -> str:
        """Open a session for ``repo`` whose bytes are hashed with ``algorithm``; returns its id."""
        upload_id = str(uuid.uuid4())
        self._db.execute(
            "INSERT INTO uploads (id, repo, started) VALUES (?, ?, ?)", (upload_id, repo, time.time())
        )
        self._blobs.driver.writer(paths.upload_data(upload_id), append=False).close()
        self._hashing[upload_id] = _Hashing(algorithm, digests.hasher(algorithm), 0)
        return upload_id

    def offset(self, repo: str, upload_id: str) -> int:
        """Bytes received so far; BLOB_UPLOAD_UNKNOWN if there is no such session in ``repo``."""
        self._check(repo, upload_id)
        try:
            return self._blobs.driver.stat(paths.upload_data(upload_id)).size
        except NotFound as exc:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN) from exc

    async def append(
        self,
        repo: str,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        *,
        start: int | None = None,
        algorithm: str | None = None,
    ) -> int:
        """Append a request body; ``start`` (from Content-Range) must equal the current size, else 416.

        ``algorithm``: the digest that will close the upload is known; an empty session switches to it.
        Returns the new size. Bytes received before a client disconnects stay (the upload resumes).
        When the storage is full (``StorageFull``, 507) the session is dropped with its bytes: what it
        held is free again, and the client starts the upload over.
        """
        self._check(repo, upload_id)
        remote = self._blobs.remote
        async with self._lock(upload_id):
            open_writer = functools.partial(
                self._blobs.driver.writer, paths.upload_data(upload_id), append=True
            )
            writer = await asyncio.to_thread(open_writer) if remote else open_writer()
            batch: list[bytes] = []
            batched = 0
            feeding: asyncio.Future[None] | None = None  # the batch an object store's writer is taking
            try:
                if start is not None and start != writer.size:
                    raise RegistryError(
                        ErrorCode.BLOB_UPLOAD_INVALID,
                        f"range starts at {start}, upload has {writer.size} bytes",
                        status=416,
                        headers={"Range": f"0-{writer.size - 1}" if writer.size else "0-0"},
                    )
                hashing = self._hashing.get(upload_id)
                if hashing is not None and hashing.offset != writer.size:
                    hashing = None
                    self._hashing.pop(upload_id, None)
                if writer.size == 0 and algorithm is not None:
                    hashing = self._hashing[upload_id] = _Hashing(algorithm, digests.hasher(algorithm), 0)
                # Filesystem: hashing and os.write run inline on the loop: both are fast for large
                # chunks (sha256 releases the GIL, writes go to the page cache), and measuring showed
                # that handing chunks to a thread cost more than it saved.
                # Object store: the chunks (never joined) go to a thread in batches of _REMOTE_BATCH,
                # hashed and copied into the writer's part there, while the loop reads the next batch.
                async for chunk in chunks:
                    if not remote:
                        if hashing is not None:
                            hashing.hasher.update(chunk)
                            hashing.offset += len(chunk)
                        writer.write(chunk)
                        continue
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= _REMOTE_BATCH:
                        if feeding is not None:
                            await feeding
                        feeding = asyncio.ensure_future(asyncio.to_thread(_feed, writer, hashing, batch))
                        batch, batched = [], 0
                if feeding is not None:
                    await feeding
                    feeding = None
                if batch:
                    await asyncio.to_thread(_feed, writer, hashing, batch)
                    batch = []
                if remote:
                    await asyncio.to_thread(writer.close)
                return writer.size
            except StorageFull:
                batch = []
                if feeding is not None:
                    await asyncio.wait([feeding])
                    feeding = None
                await asyncio.to_thread(writer.cancel) if remote else writer.cancel()
                self._close(upload_id)
                raise
            finally:
                # the client went away mid-request: keep what arrived (the upload resumes)
                if feeding is not None:
                    await asyncio.wait([feeding])
                if batch and (feeding is None or (not feeding.cancelled() and not feeding.exception())):
                    await asyncio.to_thread(_feed, writer, hashing, batch)
                await asyncio.to_thread(writer.close) if remote else writer.close()

    async def finish(self, repo: str, upload_id: str, expected: str) -> int:
        """Verify the whole upload against ``expected`` and publish it; returns its size.

        DIGEST_INVALID (and the session stays open) if the bytes do not match.
        """
        self._check(repo, upload_id)
        algorithm = digests.algorithm_of(digests.require(expected))
        async with self._lock(upload_id):
            path = paths.upload_data(upload_id)
            size = self._blobs.driver.stat(path).size
            hashing = self._hashing.get(upload_id)
            if hashing is not None and hashing.offset == size and hashing.algorithm == algorithm:
                actual = f"{algorithm}:{hashing.hasher.hexdigest()}"
            else:
                actual = await asyncio.to_thread(self._hash_file, path, algorithm)
            if actual != expected:
                raise RegistryError(
                    ErrorCode.DIGEST_INVALID, detail={"expected": expected, "actual": actual, "size": size}
                )
            try:
                await asyncio.to_thread(self._blobs.publish, repo, path, expected, size)
            except RegistryError as refused:  # over quota: the bytes are dropped, as when storage is full
                if refused.code == ErrorCode.DENIED:
                    self._close(upload_id)
                raise
            self._close(upload_id)
            return size

    def cancel(self, repo: str, upload_id: str) -> None:
        """Drop a session and its bytes; BLOB_UPLOAD_UNKNOWN if it does not exist."""
        self._check(repo, upload_id)
        self._close(upload_id)

    def _close(self, upload_id: str) -> None:
        self._db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        self._hashing.pop(upload_id, None)
        self._locks.pop(upload_id, None)
        # Already gone when the data file was moved into blobs/ and its directory pruned.
        with contextlib.suppress(NotFound):
            self._blobs.driver.delete(paths.upload_dir(upload_id))

    def _check(self, repo: str, upload_id: str) -> None:
        row = self._db.query_one("SELECT repo FROM uploads WHERE id = ?", (upload_id,))
        if row is None or row["repo"] != repo:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    def _hash_file(self, path: str, algorithm: str) -> str:
        hasher = digests.hasher(algorithm)
        with self._blobs.driver.reader(path) as f:
            while block := f.read(_HASH_CHUNK):
                hasher.update(block)
        return f"{algorithm}:{hasher.hexdigest()}"

    def purge(self, older_than: float) -> list[str]:
        """Remove sessions started before ``older_than`` (unix time); returns their ids (gc uses it)."""
        rows = self._db.query("SELECT id FROM uploads WHERE started < ?", (older_than,))
        for row in rows:
            self._close(str(row["id"]))
        return [str(r["id"]) for r in rows]
