"""``PushService``: ``docker push`` — layers compressed in parallel, blobs the registry has not sent again.

For each layer of the image, in parallel (``max_concurrent_uploads``, 5 like dockerd):

* a layer stored compressed (pulled, or loaded as tar+gzip/zstd) is pushed as it is;
* a plain tar layer (``import``, ``commit``, ``build``) is gzip-compressed with ISA-L (``isal``, several
  times faster than zlib) *while* it uploads, in a worker thread; the compressed digest is remembered
  per diff_id (``<cache_dir>/compressed.json``) so a later push can ask the registry first;
* a blob the registry already has (``HEAD``) is reported ``Layer already exists``; one seen before in
  another repository of the same registry is cross-mounted (``POST ?mount=&from=``), ``Mounted from``.

Then the config and the manifest are put; the manifest is the stored one, byte for byte, when every
layer went up unchanged (so a pulled image keeps its digest), else a new OCI manifest. The tag's new
RepoDigest is recorded locally. Progress: Docker's ``Preparing``/``Waiting``/``Pushing``/``Pushed``/
``Layer already exists`` lines, then ``TAG: digest: sha256:… size: N`` and ``{"aux": {Tag, Digest, Size}}``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

try:
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal is a declared dependency; zlib is the slow fallback
    import zlib as _deflate  # type: ignore[no-redef]

from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.resolver import Endpoint, RegistryResolver
from berth.engine.events import EventBus
from berth.engine.images import ImageRecord, ImageService
from berth.engine.images.pull import Progress, _no_progress, progress_bar, run_all
from berth.errors import InvalidArgument, NotFound
from berth.oci import mediatypes, reference
from berth.oci.digest import Digest, hex_of, is_digest
from berth.oci.image import Descriptor, Manifest
from berth.store.metadata import LayerRow
from berth.util.atomic import read_json, write_json
from berth.util.faults import crash_point

_CHUNK = 4 << 20
_GZIP_LEVEL = 1  # ISA-L level 1: ~1 GB/s per core; layers are compressed once and remembered
_COMPRESSED = mediatypes.LAYERS_GZIP | mediatypes.LAYERS_ZSTD
_PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class PushResult:
    """One pushed tag: its name, the manifest digest and size."""

    tag: str
    digest: Digest
    size: int


class _Memory:
    """diff_id → compressed blob (digest, size) and blob → repositories it is known in; JSON-backed."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self.compressed: dict[str, dict[str, Any]] = {}
        self.repos: dict[str, list[str]] = {}
        if path is not None:
            try:
                data = read_json(path)
            except (FileNotFoundError, ValueError, NotFound):
                data = {}
            if isinstance(data, dict):
                self.compressed = dict(data.get("compressed") or {})
                self.repos = dict(data.get("repos") or {})

    def remember(self, diff_id: str | None, digest: str, size: int, repository: str) -> None:
        with self._lock:
            if diff_id:
                self.compressed[diff_id] = {"digest": digest, "size": size}
            seen = self.repos.setdefault(digest, [])
            if repository not in seen:
                seen.append(repository)
                del seen[:-8]
            if self._path is not None:
                write_json(self._path, {"compressed": self.compressed, "repos": self.repos}, durable=False)


class _Compressor:
    """Reads a plain layer tar from the content store and yields gzip chunks (ISA-L), one per call."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._deflate = _deflate.compressobj(_GZIP_LEVEL, _deflate.DEFLATED, 31)
        self._done = False
        self.consumed = 0

    def next_chunk(self) -> bytes:
        """The next compressed bytes (may be empty while input remains); ``None``-like b"" + done at end."""
        while not self._done:
            data = self._source.read(_CHUNK)
            if not data:
                self._done = True
                tail: bytes = self._deflate.flush()
                self._source.close()
                return tail
            self.consumed += len(data)
            out: bytes = self._deflate.compress(data)
            if out:
                return out
        return b""

    @property
    def done(self) -> bool:
        return self._done


class PushService:
    """Pushes local images to registries (module docstring)."""

    def __init__(
        self,
        *,
        images: ImageService,
        resolver: RegistryResolver,
        cache_dir: Path | None = None,
        max_concurrent_uploads: int = 5,
        events: EventBus | None = None,
        client_factory: Callable[[Endpoint, Credentials], RegistryClient] | None = None,
    ) -> None:
        self._events = events
        self._images = images
        self._resolver = resolver
        self._max_uploads = max(1, max_concurrent_uploads)
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
        self._memory = _Memory(cache_dir / "compressed.json" if cache_dir else None)
        self._client_factory = client_factory or (
            lambda endpoint, creds: RegistryClient(endpoint=endpoint, credentials=creds)
        )

    def plan(self, name: str, tag: str = "") -> list[reference.Reference]:
        """The references ``POST /images/{name}/push?tag=`` means: one tag, or every tag of the repository."""
        base = reference.parse(name, default_tag=False)
        if base.digest:
            raise InvalidArgument("cannot push a digest reference")
        if tag:
            return [reference.parse(f"{base.repository}:{tag}")]
        if base.tag:
            return [base]
        refs = []
        for record in self._images.records():
            for shown in record.repo_tags:
                candidate = reference.parse(shown)
                if candidate.repository == base.repository:
                    refs.append(candidate)
        if not refs:
            raise NotFound(f"An image does not exist locally with the tag: {base.familiar_name}")
        return sorted(refs, key=str)

    async def push(
        self,
        ref: reference.Reference,
        *,
        credentials: Credentials | None = None,
        progress: Progress | None = None,
    ) -> PushResult:
        """Push the local image ``ref`` names to its registry under ``ref``'s tag."""
        emit = progress or _no_progress
        record = await asyncio.to_thread(self._images.resolve, str(ref))
        endpoint = self._resolver.push_endpoint(ref.domain)
        await emit({"status": f"The push refers to repository [{ref.repository}]"})
        client = self._client_factory(endpoint, credentials or Credentials())
        try:
            await client.ping()
            return await self._push(client, ref, record, emit)
        finally:
            await client.close()

    async def _push(
        self, client: RegistryClient, ref: reference.Reference, record: ImageRecord, emit: Progress
    ) -> PushResult:
        repo = ref.path
        rows, stored = await asyncio.to_thread(self._layers, record)
        for row in reversed(rows):
            await emit({"status": "Preparing", "progressDetail": {}, "id": hex_of(row.diff_id)[:12]})
        semaphore = asyncio.Semaphore(self._max_uploads)
        siblings = self._siblings(client.endpoint.host, record)
        pushed: list[Descriptor | None] = [None] * len(rows)

        def job(i: int) -> Callable[[], Coroutine[Any, Any, None]]:
            async def one() -> None:
                if semaphore.locked():
                    await emit(
                        {"status": "Waiting", "progressDetail": {}, "id": hex_of(rows[i].diff_id)[:12]}
                    )
                async with semaphore:
                    pushed[i] = await self._layer(client, ref, rows[i], emit, siblings)

            return one

        await run_all([job(i) for i in range(len(rows))])
        layers = tuple(d for d in pushed if d is not None)
        config = await asyncio.to_thread(self._images.content.read_bytes, record.image_id)
        if not await client.blob_exists(repo, record.image_id):
            await client.upload_blob(repo, config, digest=record.image_id)
        if stored is not None and [(d.digest, d.size) for d in stored.layers] == [
            (d.digest, d.size) for d in layers
        ]:
            manifest_bytes = await asyncio.to_thread(self._images.content.read_bytes, record.manifest_digest)
            media_type = stored.media_type
        else:
            config_desc = Descriptor(mediatypes.OCI_CONFIG, Digest(record.image_id), len(config))
            manifest = Manifest(config_desc, layers)
            manifest_bytes, media_type = manifest.to_bytes(), mediatypes.OCI_MANIFEST
        tag = ref.tag or "latest"
        crash_point("push.before-manifest")
        digest = await client.put_manifest(repo, tag, manifest_bytes, media_type)
        await asyncio.to_thread(self._record_digest, ref, record, digest)
        size = len(manifest_bytes)
        if self._events is not None:
            self._events.publish("image", "push", ref.familiar, {"name": ref.familiar})
        await emit({"status": f"{tag}: digest: {digest} size: {size}"})
        await emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}})
        return PushResult(tag, digest, size)

    def _layers(self, record: ImageRecord) -> tuple[list[LayerRow], Manifest | None]:
        rows = []
        for chain in record.chain_ids:
            row = self._images.layer(chain)
            if row is None:
                raise NotFound(f"layer {chain} of image {record.short_id}: not found")
            rows.append(row)
        try:
            stored = Manifest.from_bytes(self._images.content.read_bytes(record.manifest_digest))
        except (NotFound, InvalidArgument):
            stored = None
        return rows, stored

    def _record_digest(self, ref: reference.Reference, record: ImageRecord, digest: Digest) -> None:
        self._images.set_ref(f"{ref.repository}@{digest}", "digest", record.image_id)

    def _siblings(self, host: str, record: ImageRecord) -> list[str]:
        """Repositories on ``host`` this image came from or went to (its RepoDigests and tags): a blob
        the registry lacks in the target repository may be mounted from one of them."""
        repos: list[str] = []
        for name in [*record.repo_digests, *record.repo_tags]:
            try:
                ref = reference.parse(name)
            except InvalidArgument:
                continue
            if self._resolver.registry_host(ref.domain) == host and ref.path not in repos:
                repos.append(ref.path)
        return repos

    async def _layer(
        self,
        client: RegistryClient,
        ref: reference.Reference,
        row: LayerRow,
        emit: Progress,
        siblings: list[str],
    ) -> Descriptor:
        repo, short = ref.path, hex_of(row.diff_id)[:12]
        content = self._images.content
        host = client.endpoint.host
        stored: Descriptor | None = None
        desc: Descriptor | None = None
        if row.media_type in _COMPRESSED and content.exists(row.blob_digest):
            size = content.info(row.blob_digest).size
            stored = desc = Descriptor(row.media_type, Digest(row.blob_digest), size)
            diff_key = None
        else:
            known = self._memory.compressed.get(row.diff_id)
            desc = (
                Descriptor(mediatypes.OCI_LAYER_GZIP, Digest(known["digest"]), int(known["size"]))
                if known and is_digest(str(known.get("digest")))
                else None
            )
            diff_key = row.diff_id
        if desc is not None:
            if await client.blob_exists(repo, desc.digest):
                await emit({"status": "Layer already exists", "progressDetail": {}, "id": short})
                self._memory.remember(diff_key, desc.digest, desc.size, f"{host}/{repo}")
                return desc
            seen_in = [
                s.partition("/")[2]
                for s in self._memory.repos.get(desc.digest, [])
                if s.startswith(host + "/")
            ]
            candidates = list(dict.fromkeys([*seen_in, *siblings]))
            for source_repo in candidates:
                if source_repo == repo:
                    continue
                if await client.mount_blob(repo, desc.digest, source_repo):
                    await emit({"status": f"Mounted from {source_repo}", "progressDetail": {}, "id": short})
                    self._memory.remember(diff_key, desc.digest, desc.size, f"{host}/{repo}")
                    return desc
        await emit({"status": "Pushing", "progressDetail": {}, "id": short})
        if stored is not None:
            body = self._stream_file(stored.digest, stored.size, short, emit)
            digest, size = await client.upload_blob(repo, body, digest=stored.digest)
            media_type = row.media_type
        else:
            body = self._stream_compressed(row, short, emit)
            digest, size = await client.upload_blob(repo, body)
            media_type = mediatypes.OCI_LAYER_GZIP
        self._memory.remember(diff_key, digest, size, f"{host}/{repo}")
        await emit({"status": "Pushed", "progressDetail": {}, "id": short})
        return Descriptor(media_type, digest, size)

    async def _stream_file(self, digest: str, total: int, short: str, emit: Progress) -> AsyncIterator[bytes]:
        source = await asyncio.to_thread(self._images.content.open, digest)
        sent, last = 0, 0.0
        try:
            while chunk := await asyncio.to_thread(source.read, _CHUNK):
                sent += len(chunk)
                yield chunk
                if time.monotonic() - last >= _PROGRESS_INTERVAL:
                    last = time.monotonic()
                    await emit(_pushing(sent, total, short))
        finally:
            source.close()

    async def _stream_compressed(self, row: LayerRow, short: str, emit: Progress) -> AsyncIterator[bytes]:
        """Gzip (ISA-L) the plain layer in a worker thread, one chunk ahead of the upload."""
        raw = await asyncio.to_thread(self._images.content.open, row.blob_digest)
        compressor = _Compressor(raw)
        last = 0.0
        try:
            pending = asyncio.ensure_future(asyncio.to_thread(compressor.next_chunk))
            while True:
                chunk = await pending
                finished = compressor.done
                if not finished:
                    pending = asyncio.ensure_future(asyncio.to_thread(compressor.next_chunk))
                if chunk:
                    yield chunk
                if time.monotonic() - last >= _PROGRESS_INTERVAL or finished:
                    last = time.monotonic()
                    await emit(_pushing(compressor.consumed, row.tar_size, short))
                if finished:
                    break
        finally:
            if not pending.done():
                pending.cancel()
            raw.close()


def _pushing(current: int, total: int, short: str) -> dict[str, Any]:
    return {
        "status": "Pushing",
        "progressDetail": {"current": current, "total": total},
        "progress": progress_bar(current, total),
        "id": short,
    }


def parse_progress_line(line: bytes) -> dict[str, Any]:
    """One JSON progress line (tests and the bench read the stream with it)."""
    value = json.loads(line)
    if not isinstance(value, dict):
        raise InvalidArgument("progress line is not a JSON object")
    return value
