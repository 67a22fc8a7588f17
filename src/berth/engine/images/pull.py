"""``PullService``: ``docker pull`` — resolve, fetch, unpack while downloading, register; Docker's progress.

Steps for ``pull("busybox")``:

1. resolve ``docker.io/library/busybox`` to endpoints (mirrors first, then ``--default-registry``), and fetch
   the manifest, picking this host's platform (else linux/amd64) out of an index;
2. fetch and check the config (its ``rootfs.diff_ids`` give every layer's chain id up front);
3. download layers ``max_concurrent_downloads`` at a time (3, like dockerd), each decompressed and
   unpacked *while it downloads* (one pass: network → sha256 → content store → gunzip → tar apply).
   A layer whose parent is committed unpacks straight onto it. On overlay, where a layer is a
   self-contained directory, one whose parent is still in flight unpacks into a parentless extract
   snapshot and is moved under its parent (one rename) once that is committed, so order does not matter;
   on the naive snapshotter it is spooled to the content store and unpacked after its parent. Layers
   already present are not downloaded;
4. register the image with its tag and RepoDigest in one transaction.

Nothing half-done is visible: blobs enter the content store only verified, snapshots are committed only
when fully unpacked and matching their diff_id, the image and its names appear at once at the end. On any
failure the layers and blobs this pull added are removed again and the previous image keeps its tag.

Progress goes to an async callback as Docker's JSON messages (``{"status","id","progressDetail",
"progress"}``); the daemon streams them to the client (``daemon/server/routes/distribution.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from berth.distribution.auth import Credentials
from berth.distribution.blobstream import BlobStream
from berth.distribution.client import RegistryClient
from berth.distribution.errors import BadCredentials, DigestMismatch, RegistryProtocolError, TruncatedStream
from berth.distribution.resolver import Endpoint, RegistryResolver
from berth.distribution.wire import FetchedManifest, parse_manifest
from berth.engine.events import EventBus
from berth.engine.images import ImageRecord, ImageService
from berth.errors import BerthError, Forbidden, InvalidArgument, NotFound, Unauthorized, Unavailable
from berth.oci import mediatypes, reference
from berth.oci.digest import Digest, hex_of
from berth.oci.image import Descriptor, chain_ids, diff_ids, parse_config
from berth.oci.platform import parse as parse_platform
from berth.store import content as content_store
from berth.store.metadata import LayerRow
from berth.store.snapshots import EXTRACT_PREFIX, OverlaySnapshotter
from berth.store.unpack import LayerStats
from berth.util.faults import crash_point

Progress = Callable[[dict[str, Any]], Awaitable[None]]
_T = TypeVar("_T")
MAX_CONFIG_SIZE = 8 << 20
_PROGRESS_INTERVAL = 0.1
_BAR_WIDTH = 50
_READ_SIZE = 1 << 20
_LAYER_MEDIA = mediatypes.LAYERS_GZIP | mediatypes.LAYERS_ZSTD | mediatypes.LAYERS_TAR


async def _no_progress(message: dict[str, Any]) -> None:
    return None


async def run_all(jobs: Sequence[Callable[[], Coroutine[Any, Any, None]]]) -> None:
    """Run ``jobs`` in one TaskGroup; the first failure cancels the rest and is raised as itself
    (not as an ``ExceptionGroup``), so callers and the API see one clear error."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job())
    except BaseExceptionGroup as group_error:
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group_error


def progress_bar(current: int, total: int) -> str:
    """Docker's ``[=====>    ] 1.2MB/3.4MB`` text (jsonmessage.JSONProgress.String)."""
    if total <= 0:
        return human_size(current)
    filled = min(_BAR_WIDTH, int(_BAR_WIDTH * current / total))
    arrow = ">" if filled < _BAR_WIDTH else ""
    bar = "=" * max(0, filled - (1 if arrow else 0)) + arrow
    return f"[{bar:<{_BAR_WIDTH}}] {human_size(current)}/{human_size(total)}"


def human_size(value: float) -> str:
    """go-units HumanSize: decimal units, 3 significant digits (``1.23MB``)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    index = 0
    while value >= 1000 and index < len(units) - 1:
        value /= 1000
        index += 1
    return f"{value:.4g}{units[index]}"


@dataclass(frozen=True, slots=True)
class PullResult:
    """What a pull produced: the local image, the digest it was pulled by, and whether it changed."""

    record: ImageRecord
    digest: Digest
    updated: bool


class _Rollback:
    """What this pull added (snapshots and blobs), removed again if it fails."""

    def __init__(self) -> None:
        self.chains: list[str] = []
        self.blobs: list[str] = []
        self.detached: list[str] = []


@dataclass(frozen=True, slots=True)
class _Detached:
    """A layer unpacked, verified, in a parentless extract snapshot, waiting for its parent."""

    key: str
    stats: LayerStats


class ImageServiceTarget:
    """The pull's view of the local image store (``ImageStore``'s methods for pull and push), with
    this pull's rollback record kept alongside."""

    def __init__(self, images: ImageService) -> None:
        self.images = images
        self.content = images.content
        self.snapshotter = images.snapshotter
        # Overlay layers are self-contained directories (whiteouts are stored, not applied), so a layer
        # can be unpacked before its parent exists and moved under it afterwards (``PullService._adopt``).
        self.detachable = isinstance(images.snapshotter, OverlaySnapshotter)

    def existing_layer(self, chain: str) -> LayerRow | None:
        row = self.images.layer(chain)
        if row is None or not self.snapshotter.exists(chain):
            return None
        if not self.content.exists(row.blob_digest):
            return None
        return row

    def commit_layer(self, key: str, row: LayerRow, rollback: _Rollback) -> LayerRow:
        """Commit extract snapshot ``key`` as ``row.chain_id`` (or drop it if another pull won)."""
        stored, committed = self.images.adopt_layer(key, row)
        if committed:
            rollback.chains.append(row.chain_id)
        return stored

    def register(
        self,
        config_bytes: bytes,
        manifest_bytes: bytes,
        layers: list[LayerRow],
        tag: reference.Reference | None,
        digest_name: str,
    ) -> tuple[ImageRecord, bool]:
        """Record the image, point ``tag`` and ``digest_name`` at it; (record, whether ``tag`` moved)."""
        images = self.images
        previous = images.ref(str(tag)) if tag else None
        record, _ = images.register(config_bytes, layers, manifest_bytes, [tag] if tag else [])
        images.set_ref(digest_name, "digest", record.image_id)
        return images.resolve(record.image_id), previous != record.image_id

    def rollback(self, rollback: _Rollback) -> None:
        """Remove the snapshots and blobs a failed pull added, unless an image uses them by now."""
        for key in rollback.detached:
            self.snapshotter.remove(key)
        self.images.discard_layers(rollback.chains, set(rollback.blobs))


class PullCancelled(Unavailable):
    """The pull was abandoned (another layer failed, or the client went away) while this layer ran."""


async def _finish_in_thread(
    executor: concurrent.futures.Executor,
    fn: Callable[..., _T],
    *args: object,
    cancel: Callable[[], None],
) -> _T:
    """Run ``fn`` on ``executor``; if this task is cancelled, ``cancel()`` the thread's input and wait
    for the thread to end before the cancellation goes on, so no thread commits after a rollback."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(executor, functools.partial(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the thread's own error is moot now
        raise


def _nothing() -> None:
    return None


class _ThreadReader:
    """A blocking ``read`` over a ``BlobStream`` for worker threads; also copies into a content writer."""

    def __init__(
        self,
        blob: BlobStream,
        loop: asyncio.AbstractEventLoop,
        on_data: Callable[[int], Awaitable[None]],
    ) -> None:
        self._blob = blob
        self._loop = loop
        self.writer: content_store.Writer | None = None
        self._on_data = on_data
        self._buffer = b""
        self._offset = 0
        self._eof = False
        self._cancelled = False
        self._fetching: asyncio.Task[Any] | None = None

    def cancel(self) -> None:
        """Make reads raise ``PullCancelled``, including one waiting on the network right now (called
        on the loop when the pull is abandoned)."""
        self._cancelled = True
        if self._fetching is not None and not self._fetching.done():
            self._fetching.cancel()

    async def _fetch(self) -> bytes:
        if self._cancelled:
            raise PullCancelled("pull cancelled")
        self._fetching = asyncio.current_task()
        data = await self._blob.read(_READ_SIZE)
        if data:
            await self._on_data(self._blob.received)
        return data

    def _fill(self) -> None:
        if self._cancelled:
            raise PullCancelled("pull cancelled")
        try:
            data = asyncio.run_coroutine_threadsafe(self._fetch(), self._loop).result()
        except concurrent.futures.CancelledError as exc:
            raise PullCancelled("pull cancelled") from exc
        if not data:
            self._eof = True
            self._buffer, self._offset = b"", 0
            return
        if self.writer is not None:
            self.writer.write(data)
            crash_point("pull.mid-blob")
        self._buffer, self._offset = data, 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(_READ_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        while self._offset >= len(self._buffer):
            if self._eof:
                return b""
            self._fill()
        data = self._buffer[self._offset : self._offset + size]
        self._offset += len(data)
        return data

    def drain(self) -> None:
        while self.read(_READ_SIZE):
            pass

    def readable(self) -> bool:
        return True


class PullService:
    """Pulls images from registries into the local store (module docstring)."""

    def __init__(
        self,
        *,
        images: ImageService,
        resolver: RegistryResolver,
        max_concurrent_downloads: int = 3,
        events: EventBus | None = None,
        client_factory: Callable[[Endpoint, Credentials], RegistryClient] | None = None,
    ) -> None:
        self._events = events
        self._target = ImageServiceTarget(images)
        self._images = images
        self._resolver = resolver
        self._max_downloads = max(1, max_concurrent_downloads)
        # Layer threads block on the network for a whole download: they get their own pool, so a big
        # pull never starves the daemon's default executor (which every other blocking call shares).
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2 * self._max_downloads + 1, thread_name_prefix="berth-pull"
        )
        self._client_factory = client_factory or (
            lambda endpoint, creds: RegistryClient(endpoint=endpoint, credentials=creds)
        )

    def registry_clients(self, domain: str, credentials: Credentials | None = None) -> list[RegistryClient]:
        """Clients for the endpoints a pull from ``domain`` tries, in order (mirrors first), each with
        the credentials it may see. The caller closes them. (``GET /distribution/{name}/json``.)"""
        creds = credentials or Credentials()
        return [
            self._client_factory(endpoint, _credentials_for(endpoint, creds))
            for endpoint in self._resolver.pull_endpoints(domain)
        ]

    def close(self) -> None:
        """Release the layer threads (at daemon shutdown); pulls still running finish first."""
        self._executor.shutdown(wait=False, cancel_futures=False)

    @staticmethod
    def reference_of(from_image: str, tag: str = "") -> reference.Reference:
        """``fromImage`` + ``tag`` query values → a reference (a ``tag`` may also be a digest)."""
        text = from_image
        if tag:
            text = f"{from_image}@{tag}" if tag.startswith("sha256:") else f"{from_image}:{tag}"
        return reference.parse(text)

    async def pull(
        self,
        ref: reference.Reference,
        *,
        credentials: Credentials | None = None,
        progress: Progress | None = None,
        platform: str = "",
    ) -> PullResult:
        """Pull ``ref`` (tag or digest). Errors: ``NotFound`` (no such image or no access), ``Unauthorized``,
        ``Unavailable`` (registry down, or it sent bad content: ``DigestMismatch``, ``TruncatedStream``…)."""
        emit = progress or _no_progress
        creds = credentials or Credentials()
        os_name, architecture = _platform(platform)
        endpoints = self._resolver.pull_endpoints(ref.domain)
        last: BerthError | None = None
        for index, endpoint in enumerate(endpoints):
            client = self._client_factory(endpoint, _credentials_for(endpoint, creds))
            try:
                try:
                    top, manifest = await client.resolve_image(
                        ref.path,
                        ref.digest or ref.tag or "latest",
                        os_name=os_name,
                        architecture=architecture,
                    )
                except (NotFound, Unauthorized, Forbidden, Unavailable) as exc:
                    last = exc
                    if index + 1 < len(endpoints):
                        continue  # a mirror failed: the next mirror, then the registry itself
                    raise self._not_found(ref, exc) from exc
                return await self._pull_from(client, ref, top, manifest, emit)
            finally:
                await client.close()
        raise self._not_found(ref, last or NotFound("no registry to pull from"))

    def _not_found(self, ref: reference.Reference, exc: BerthError) -> BerthError:
        if isinstance(exc, NotFound | Unauthorized | Forbidden) and not isinstance(exc, BadCredentials):
            return NotFound(
                f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
                f"'docker login': {exc}"
            )
        return exc

    async def _pull_from(
        self,
        client: RegistryClient,
        ref: reference.Reference,
        top: FetchedManifest,
        fetched: FetchedManifest,
        emit: Progress,
    ) -> PullResult:
        repo = ref.path
        await emit({"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest or "latest"})
        manifest = parse_manifest(fetched)
        for layer in manifest.layers:
            if layer.media_type and layer.media_type not in _LAYER_MEDIA:
                raise InvalidArgument(f"unsupported layer media type {layer.media_type} in {fetched.digest}")
        config_bytes = await client.fetch_blob(repo, manifest.config, limit=MAX_CONFIG_SIZE)
        try:
            config = parse_config(config_bytes)
        except InvalidArgument as exc:
            raise RegistryProtocolError(f"config {manifest.config.digest}: {exc}") from exc
        diffs = diff_ids(config)
        if len(diffs) != len(manifest.layers):
            raise RegistryProtocolError(
                f"manifest {fetched.digest} has {len(manifest.layers)} layers, "
                f"its config {len(diffs)} diff_ids"
            )
        chains = [str(c) for c in chain_ids(diffs)]
        rollback = _Rollback()
        try:
            rows = await self._fetch_layers(client, repo, manifest.layers, diffs, chains, emit, rollback)
            tag_ref = ref if ref.tag and not ref.digest else None
            digest_name = f"{ref.repository}@{top.digest}"
            record, moved = await asyncio.to_thread(
                self._target.register, config_bytes, fetched.data, rows, tag_ref, digest_name
            )
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._target.rollback, rollback))
            raise
        await emit({"status": f"Digest: {top.digest}"})
        shown = ref.familiar if ref.tag or ref.digest else ref.with_tag("latest").familiar
        if self._events is not None:
            self._events.publish("image", "pull", shown, {"name": shown})
        updated = moved or bool(rollback.chains)
        if updated:
            await emit({"status": f"Status: Downloaded newer image for {shown}"})
        else:
            await emit({"status": f"Status: Image is up to date for {shown}"})
        return PullResult(record, top.digest, updated)

    async def _fetch_layers(
        self,
        client: RegistryClient,
        repo: str,
        layers: Sequence[Descriptor],
        diffs: Sequence[Digest],
        chains: Sequence[str],
        emit: Progress,
        rollback: _Rollback,
    ) -> list[LayerRow]:
        count = len(layers)
        rows: list[LayerRow | None] = [None] * count
        ready = [asyncio.Event() for _ in range(count)]
        todo: list[int] = []
        for i, chain in enumerate(chains):
            row = await asyncio.to_thread(self._target.existing_layer, chain)
            short = hex_of(layers[i].digest)[:12]
            if row is not None:
                rows[i] = row
                ready[i].set()
                await emit({"status": "Already exists", "progressDetail": {}, "id": short})
            else:
                todo.append(i)
                await emit({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
        semaphore = asyncio.Semaphore(self._max_downloads)

        def job(i: int) -> Callable[[], Coroutine[Any, Any, None]]:
            async def one() -> None:
                rows[i] = await self._layer(
                    client, repo, i, layers, diffs, chains, ready, semaphore, emit, rollback
                )
                ready[i].set()

            return one

        await run_all([job(i) for i in todo])
        return [row for row in rows if row is not None]

    async def _layer(
        self,
        client: RegistryClient,
        repo: str,
        i: int,
        layers: Sequence[Descriptor],
        diffs: Sequence[Digest],
        chains: Sequence[str],
        ready: list[asyncio.Event],
        semaphore: asyncio.Semaphore,
        emit: Progress,
        rollback: _Rollback,
    ) -> LayerRow:
        desc = layers[i]
        short = hex_of(desc.digest)[:12]
        parent = chains[i - 1] if i else ""
        loop = asyncio.get_running_loop()
        last_report = [0.0]

        async def on_data(received: int) -> None:
            now = time.monotonic()
            if now - last_report[0] >= _PROGRESS_INTERVAL or received >= desc.size:
                last_report[0] = now
                await emit(
                    {
                        "status": "Downloading",
                        "progressDetail": {"current": received, "total": desc.size},
                        "progress": progress_bar(received, desc.size),
                        "id": short,
                    }
                )

        if semaphore.locked():
            await emit({"status": "Waiting", "progressDetail": {}, "id": short})
        async with semaphore:
            async with client.open_blob(repo, desc) as blob:
                streaming = i == 0 or ready[i - 1].is_set()
                reader = _ThreadReader(blob, loop, on_data)
                detached: _Detached | None = None
                if streaming:
                    row = await _finish_in_thread(
                        self._executor,
                        self._stream_unpack,
                        reader,
                        desc,
                        diffs[i],
                        chains[i],
                        parent,
                        rollback,
                        cancel=reader.cancel,
                    )
                elif self._target.detachable:
                    detached = await _finish_in_thread(
                        self._executor,
                        self._unpack_detached,
                        reader,
                        desc,
                        diffs[i],
                        rollback,
                        cancel=reader.cancel,
                    )
                else:
                    await _finish_in_thread(
                        self._executor, self._spool, reader, desc, rollback, cancel=reader.cancel
                    )
            await emit({"status": "Verifying Checksum", "progressDetail": {}, "id": short})
            await emit({"status": "Download complete", "progressDetail": {}, "id": short})
        if not streaming:
            await ready[i - 1].wait()
            if detached is not None:
                row = await _finish_in_thread(
                    self._executor, self._adopt, detached, desc, chains[i], parent, rollback, cancel=_nothing
                )
            else:
                row = await _finish_in_thread(
                    self._executor,
                    self._unpack_stored,
                    desc,
                    diffs[i],
                    chains[i],
                    parent,
                    rollback,
                    cancel=_nothing,
                )
        await emit(
            {
                "status": "Extracting",
                "progressDetail": {"current": desc.size, "total": desc.size},
                "progress": progress_bar(desc.size, desc.size),
                "id": short,
            }
        )
        await emit({"status": "Pull complete", "progressDetail": {}, "id": short})
        return row

    # -- worker-thread parts ------------------------------------------------------------------------------
    def _stream_unpack(
        self,
        reader: _ThreadReader,
        desc: Descriptor,
        diff_id: Digest,
        chain: str,
        parent: str,
        rollback: _Rollback,
    ) -> LayerRow:
        """Network → content writer → unpack, in one pass; verified before anything is committed."""
        content, snapshotter = self._target.content, self._target.snapshotter
        with content.writer() as writer:
            reader.writer = writer
            key = EXTRACT_PREFIX + secrets.token_hex(8)
            snapshotter.prepare(key, parent)
            try:
                stats = snapshotter.apply_layer(key, reader)  # type: ignore[arg-type]  # duck-typed reader
                reader.drain()  # the BlobStream checks size and digest when it reaches the end
                self._commit_blob(writer, desc, rollback)
                self._check_diff(desc, stats.diff_id, diff_id)
                row = LayerRow(
                    chain, stats.diff_id, parent, desc.digest, _media(desc), stats.tar_size, stats.size
                )
                return self._target.commit_layer(key, row, rollback)
            except BaseException:
                snapshotter.remove(key)
                raise

    def _unpack_detached(
        self, reader: _ThreadReader, desc: Descriptor, diff_id: Digest, rollback: _Rollback
    ) -> _Detached:
        """Like ``_stream_unpack``, into a parentless extract snapshot (overlay only), not yet committed."""
        content, snapshotter = self._target.content, self._target.snapshotter
        with content.writer() as writer:
            reader.writer = writer
            key = EXTRACT_PREFIX + secrets.token_hex(8)
            snapshotter.prepare(key, "")
            rollback.detached.append(key)
            stats = snapshotter.apply_layer(key, reader)  # type: ignore[arg-type]  # duck-typed reader
            reader.drain()
            self._commit_blob(writer, desc, rollback)
            self._check_diff(desc, stats.diff_id, diff_id)
            return _Detached(key, stats)

    def _adopt(
        self, detached: _Detached, desc: Descriptor, chain: str, parent: str, rollback: _Rollback
    ) -> LayerRow:
        """Put a detached layer under its (now committed) parent: prepare a snapshot on the parent and
        move the unpacked directory in as its upper dir — one rename, no copy — then commit it."""
        snapshotter = self._target.snapshotter
        key = EXTRACT_PREFIX + secrets.token_hex(8)
        snapshotter.prepare(key, parent)
        try:
            target = snapshotter.fs(key)
            target.rmdir()  # freshly made and empty
            os.rename(snapshotter.fs(detached.key), target)
            stats = detached.stats
            row = LayerRow(
                chain, stats.diff_id, parent, desc.digest, _media(desc), stats.tar_size, stats.size
            )
            return self._target.commit_layer(key, row, rollback)
        except BaseException:
            snapshotter.remove(key)
            raise
        finally:
            snapshotter.remove(detached.key)

    def _spool(self, reader: _ThreadReader, desc: Descriptor, rollback: _Rollback) -> None:
        with self._target.content.writer() as writer:
            reader.writer = writer
            reader.drain()
            self._commit_blob(writer, desc, rollback)

    def _unpack_stored(
        self, desc: Descriptor, diff_id: Digest, chain: str, parent: str, rollback: _Rollback
    ) -> LayerRow:
        content, snapshotter = self._target.content, self._target.snapshotter
        key = EXTRACT_PREFIX + secrets.token_hex(8)
        snapshotter.prepare(key, parent)
        try:
            with content.open(desc.digest) as reader:
                stats = snapshotter.apply_layer(key, reader)
            self._check_diff(desc, stats.diff_id, diff_id)
            row = LayerRow(
                chain, stats.diff_id, parent, desc.digest, _media(desc), stats.tar_size, stats.size
            )
            return self._target.commit_layer(key, row, rollback)
        except BaseException:
            snapshotter.remove(key)
            raise

    def _commit_blob(self, writer: content_store.Writer, desc: Descriptor, rollback: _Rollback) -> None:
        existed = self._target.content.exists(desc.digest)
        try:
            writer.commit(desc.digest)
        except content_store.DigestMismatch as exc:
            raise DigestMismatch(f"blob {desc.digest}", exc.expected, exc.actual) from exc
        if writer.offset and writer.offset != desc.size:
            raise TruncatedStream(f"blob {desc.digest}", writer.offset, desc.size)
        if not existed:
            rollback.blobs.append(desc.digest)

    @staticmethod
    def _check_diff(desc: Descriptor, actual: str, expected: str) -> None:
        if actual != expected:
            raise RegistryProtocolError(
                f"layer {desc.digest} unpacks to {actual}, but the image config expects {expected}"
            )


def _credentials_for(endpoint: Endpoint, creds: Credentials) -> Credentials:
    """The registry's credentials are not sent to a mirror unless they name the mirror itself."""
    if not endpoint.mirror or creds.anonymous:
        return creds
    address = creds.server_address
    named = address.split("://", 1)[-1].split("/", 1)[0]
    return creds if named == endpoint.host else Credentials()


def _platform(text: str) -> tuple[str | None, str | None]:
    """The API's ``platform`` query → (os, architecture); "" → the host's (None, None)."""
    if not text:
        return None, None
    wanted = parse_platform(text)
    return wanted.os, wanted.architecture


def _media(desc: Descriptor) -> str:
    return desc.media_type or mediatypes.OCI_LAYER_GZIP
