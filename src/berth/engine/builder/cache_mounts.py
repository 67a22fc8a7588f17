"""The build cache's storage for ``RUN --mount=type=cache``: host directories that RUN containers
bind-mount, kept across builds and daemon restarts, listed by ``GET /system/df`` (``BuildCache``,
type ``exec.cachemount``) and deleted by ``POST /build/prune`` and the GC after each build.

    <data-root>/builder/cache/
      <id>/                 one instance of a cache (id: 25 characters of base 36, as BuildKit's)
        record.json         {"cache_id","base","description","created","last_used","usage_count"}
        data/               what the RUN container sees at the mount's target
      .new-<id>/            an instance being made (renamed into place when complete)
      .trash-<id>/          an instance being deleted (renamed out of place first)

A cache is named by the mount's ``id`` (BuildKit's default: the target path) and a ``base``: BuildKit
keys a cache by its id and the ref it starts from, so ``from=``/``source=`` — and ``uid``/``gid``/
``mode`` given explicitly, which its Dockerfile frontend turns into such a ref — make another cache of
the same id; the caller folds them into ``base``. One name may have several instances: ``private``
makes a new one while the others are in use. ``mode``/``uid``/``gid`` apply to an instance's
directory when it is made, never after (what a RUN does to it stays).

Records are read from the disk on every call, so another ``CacheMounts`` on the same root (a test,
a restarted daemon) sees them; which instances are in use is this object's memory (a daemon that
crashed held none). Deleting renames the instance out of place under the lock that acquiring takes,
then removes it with ``shutil.rmtree``, which unlinks symlinks and never follows them: RUN steps
write these directories as root, links to ``/`` included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from berth.engine.builder.cache_prune import SpaceLimits, lru_order, matcher
from berth.errors import InvalidArgument
from berth.oci.image import format_rfc3339
from berth.util.atomic import fsync_dir, read_json, write_json

log = logging.getLogger("berthd.builder")

RECORD_TYPE = "exec.cachemount"
SHARING = ("shared", "private", "locked")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class CacheRecord:
    """One instance of a cache mount; ``size`` and ``in_use`` are filled by ``usage()``."""

    id: str
    cache_id: str
    base: str
    description: str
    created: float
    last_used: float | None
    usage_count: int
    size: int = 0
    in_use: bool = False

    def to_json(self) -> dict[str, Any]:
        """Docker's ``BuildCache`` object (``GET /system/df``)."""
        return {
            "ID": self.id,
            "Parents": [],
            "Type": RECORD_TYPE,
            "Description": self.description,
            "InUse": self.in_use,
            "Shared": False,  # BuildKit's "shared" is "an image holds it too": never a cache mount
            "Size": self.size,
            "CreatedAt": format_rfc3339(self.created),
            "LastUsedAt": None if self.last_used is None else format_rfc3339(self.last_used),
            "UsageCount": self.usage_count,
        }

    def _stored(self) -> dict[str, Any]:
        return {
            "cache_id": self.cache_id,
            "base": self.base,
            "description": self.description,
            "created": self.created,
            "last_used": self.last_used,
            "usage_count": self.usage_count,
        }


@dataclass(slots=True)
class _Hold:
    shared: bool  # held by ``sharing=shared`` users, whom another shared user joins
    count: int = 0


def disk_usage(root: Path) -> int:
    """Bytes allocated to ``root`` and everything under it (``st_blocks`` × 512, hard links once),
    as BuildKit sizes a cache mount (containerd's ``fs.DiskUsage``); symlinks are not followed."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue  # removed meanwhile (a cache in use)
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                stack.extend(entry.path for entry in os.scandir(path))
    return total


def _new_id() -> str:
    number, digits = secrets.randbits(128), []
    while number:
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(25, "0")


class CacheMounts:
    """The store of cache-mount directories under ``root``; ``gc_limits`` bound it after builds
    (``None``: no GC)."""

    def __init__(self, root: Path, *, gc_limits: SpaceLimits | None = None) -> None:
        self.root = root
        self.gc_limits = gc_limits
        self._lock = threading.Lock()  # the held map, the generation; records appear/vanish under it
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._prune_lock = threading.Lock()  # one prune at a time: each measures, then deletes
        self._held: dict[str, _Hold] = {}
        self._generation = 0  # bumped on every release: what a locked waiter waits for
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the builder's dir: its own mode
        root.mkdir(exist_ok=True, mode=0o700)
        for leftover in root.iterdir():  # instances half made or half deleted when a daemon stopped
            if leftover.name.startswith((".new-", ".trash-")):
                shutil.rmtree(leftover, ignore_errors=True)

    # -- using a cache ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def acquire(
        self,
        cache_id: str,
        *,
        sharing: str = "shared",
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        description: str = "",
        base: str = "",
        seed: Callable[[Path], None] | None = None,
    ) -> AsyncIterator[Path]:
        """The host directory of cache ``cache_id`` for one RUN, held until the block ends.

        ``shared``: users at the same time get the same directory; ``private``: a directory no one
        else holds (a new instance when all are in use); ``locked``: waits until no one holds it.
        A new instance's directory gets ``mode``/``uid``/``gid`` (the ids stored on the host's
        filesystem: mapping them for a user namespace is the caller's) after ``seed(path)`` (run
        in a thread) filled it, for ``from=``."""
        if sharing not in SHARING:
            raise InvalidArgument(f"unrecognized cache sharing mode {sharing!r}: shared, private or locked")
        if not cache_id:
            raise InvalidArgument("a cache mount needs an id")
        if not 0 <= mode <= 0o7777 or uid < 0 or gid < 0:
            raise InvalidArgument(f"invalid cache mount mode/uid/gid: {mode:o} {uid}:{gid}")
        new = _NewInstance(mode, uid, gid, description, seed)
        while True:
            claimed = await self._claim_async((cache_id, base), sharing, new)
            if isinstance(claimed, tuple):
                break
            await self._released_since(claimed)
        instance, path = claimed
        try:
            yield path
        finally:
            self._release(instance)

    async def _claim_async(
        self, key: tuple[str, str], sharing: str, new: _NewInstance
    ) -> tuple[str, Path] | int:
        task = asyncio.ensure_future(asyncio.to_thread(self._claim, key, sharing, new))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._release_abandoned)  # the claim still completes: undo it
            raise

    def _release_abandoned(self, task: asyncio.Future[tuple[str, Path] | int]) -> None:
        if not task.cancelled() and task.exception() is None and isinstance(task.result(), tuple):
            self._release(task.result()[0])  # type: ignore[index]  # a tuple, checked above

    def _claim(self, key: tuple[str, str], sharing: str, new: _NewInstance) -> tuple[str, Path] | int:
        """Hold an instance of ``key`` (made if needed) → (its id, its directory); or, for a locked
        user finding every instance held, the generation to wait past."""
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one claim per name at a time: a new shared instance is made once
            with self._lock:
                instances = sorted(
                    (r for r in self._records() if (r.cache_id, r.base) == key),
                    key=lambda r: r.last_used or 0.0,
                    reverse=True,  # the most recently used first: the warmest cache
                )
                chosen = None
                if sharing == "shared":
                    chosen = next((r for r in instances if self._shared_hold(r.id)), None)
                if chosen is None:
                    chosen = next((r for r in instances if r.id not in self._held), None)
                if chosen is None and sharing == "locked" and instances:
                    return self._generation
                instance = chosen.id if chosen is not None else _new_id()
                self._held.setdefault(instance, _Hold(shared=sharing == "shared")).count += 1
            try:
                if chosen is None:
                    self._make(instance, key, new)
                else:
                    self._write(replace(chosen, last_used=time.time(), usage_count=chosen.usage_count + 1))
            except BaseException:
                self._release(instance)
                raise
        return instance, self.root / instance / "data"

    def _shared_hold(self, instance: str) -> bool:
        hold = self._held.get(instance)
        return hold is not None and hold.shared

    def _make(self, instance: str, key: tuple[str, str], new: _NewInstance) -> None:
        staging = self.root / f".new-{instance}"
        try:
            staging.mkdir(mode=0o700)
            data = staging / "data"
            data.mkdir()
            if new.seed is not None:
                new.seed(data)
            os.chown(data, new.uid, new.gid)
            os.chmod(data, new.mode)  # after chown, which clears setuid/setgid bits
            now = time.time()
            record = CacheRecord(instance, key[0], key[1], new.description, now, now, 1)
            write_json(staging / "record.json", record._stored(), mode=0o600)
            os.rename(staging, self.root / instance)
            fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _release(self, instance: str) -> None:
        with self._lock:
            hold = self._held[instance]
            hold.count -= 1
            if hold.count == 0:
                del self._held[instance]
            self._generation += 1
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there
                loop.call_soon_threadsafe(_wake, future)

    async def _released_since(self, generation: int) -> None:
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._generation != generation:
                return
            self._waiters.append((asyncio.get_running_loop(), future))
        await future

    # -- listing and deleting -------------------------------------------------------------------

    def usage(self) -> list[CacheRecord]:
        """Every instance, oldest first, with its size (``disk_usage``: blocks) and whether it is
        in use; read from the disk each time."""
        records = self._records()
        with self._lock:
            held = set(self._held)
        out = [replace(r, size=disk_usage(self.root / r.id), in_use=r.id in held) for r in records]
        return sorted(out, key=lambda r: (r.created, r.id))

    def prune(
        self,
        *,
        all: bool = False,  # Docker's name for it
        until: float | None = None,
        keep_storage: int = 0,
        max_used_space: int = 0,
        min_free_space: int = 0,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[list[str], int]:
        """Delete unused instances → (their ids, bytes reclaimed). ``until``: only those last used
        at or before it (unix seconds); ``filters``: see ``cache_prune``; with any of the sizes
        (``keep_storage`` is ``reserved-space``), the least recently used go first and only until
        the cache fits (``SpaceLimits.keep_bytes``). An instance in use is never deleted.

        ``all`` changes nothing here: without it BuildKit spares only internal and frontend
        records and those an image shares, and cache mounts are none of these, so ``docker
        builder prune`` removes them with or without ``-a``, as dockerd does."""
        del all
        match = matcher(filters, RECORD_TYPE)
        limits = SpaceLimits(keep_storage, max_used_space, min_free_space)
        with self._prune_lock:
            records = self.usage()
            total = sum(r.size for r in records)
            keep = limits.keep_bytes(total, self._free_bytes())
            chosen = [
                r
                for r in records
                if not r.in_use
                and (until is None or r.last_used is None or r.last_used <= until)
                and match(r, r.in_use)
            ]
            sizes = {r.id: r.size for r in chosen}
            deleted, reclaimed = [], 0
            for record in lru_order(chosen) if keep is not None else chosen:
                if keep is not None and total <= keep:
                    break
                if self._delete(record.id):
                    deleted.append(record.id)
                    reclaimed += sizes[record.id]
                    total -= sizes[record.id]
        if deleted:
            log.info("build cache: deleted %d cache mounts, %d bytes", len(deleted), reclaimed)
        return deleted, reclaimed

    def gc(self, limit: int | None = None) -> tuple[list[str], int]:
        """Keep the cache within ``limit`` bytes (else within ``gc_limits``; neither: nothing to
        do) by deleting the least recently used unused instances; the builder calls it after each
        build (in a thread: it walks the caches)."""
        limits = SpaceLimits(reserved=limit) if limit is not None else self.gc_limits
        if limits is None:
            return [], 0
        return self.prune(
            all=True,
            keep_storage=limits.reserved,
            max_used_space=limits.max_used,
            min_free_space=limits.min_free,
        )

    def _delete(self, instance: str) -> bool:
        trash = self.root / f".trash-{instance}"
        with self._lock:  # a claim reads the records under it: it sees the instance or never will
            if instance in self._held:
                return False
            try:
                os.rename(self.root / instance, trash)
            except FileNotFoundError:
                return False  # deleted by someone else
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def _records(self) -> list[CacheRecord]:
        out = []
        for entry in os.scandir(self.root):
            if entry.name.startswith("."):
                continue
            try:
                raw = read_json(Path(entry.path) / "record.json")
                out.append(
                    CacheRecord(
                        id=entry.name,
                        cache_id=str(raw["cache_id"]),
                        base=str(raw.get("base", "")),
                        description=str(raw.get("description", "")),
                        created=float(raw["created"]),
                        last_used=None if raw.get("last_used") is None else float(raw["last_used"]),
                        usage_count=int(raw.get("usage_count", 0)),
                    )
                )
            except FileNotFoundError:
                continue  # being deleted (or made by hand): not an instance
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("build cache: skipping %s: %s", entry.path, exc)
        return out

    def _write(self, record: CacheRecord) -> None:
        write_json(self.root / record.id / "record.json", record._stored(), mode=0o600)

    def _free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize


@dataclass(frozen=True, slots=True)
class _NewInstance:
    """How to make an instance if the claim needs one."""

    mode: int
    uid: int
    gid: int
    description: str
    seed: Callable[[Path], None] | None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
