"""The cache-mount store: sharing modes under concurrent use, mode/uid/gid on creation only, records
on disk across stores, prune (all, until, sizes, filters) and GC in LRU order, in-use instances kept,
and deletion that never follows a symlink out of a cache."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from berth.engine.builder.cache_mounts import CacheMounts, CacheRecord, disk_usage
from berth.engine.builder.cache_prune import SpaceLimits, lru_order
from berth.errors import InvalidArgument

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown of the cache directories needs root")


@pytest.fixture
def store(tmp_path: Path) -> CacheMounts:
    return CacheMounts(tmp_path / "cache")


async def _make(store: CacheMounts, cache_id: str, size: int = 0, **options: object) -> str:
    """A cache holding ``size`` bytes of data; returns its instance id."""
    async with store.acquire(cache_id, **options) as path:  # type: ignore[arg-type]
        if size:
            (path / "blob").write_bytes(b"x" * size)
        return path.parent.name


def _age(store: CacheMounts, instance: str, last_used: float) -> None:
    """Pretend ``instance`` was last used at ``last_used`` (as if long ago)."""
    record = store.root / instance / "record.json"
    raw = json.loads(record.read_text())
    raw["last_used"] = last_used
    record.write_text(json.dumps(raw))


def _ids(store: CacheMounts) -> list[str]:
    return [r.id for r in store.usage()]


async def test_shared_users_get_one_directory_at_a_time(store: CacheMounts) -> None:
    async with (
        store.acquire("/root/.cache", sharing="shared") as one,
        store.acquire("/root/.cache", sharing="shared") as two,
    ):
        assert one == two
        assert [r.in_use for r in store.usage()] == [True]
    assert [r.in_use for r in store.usage()] == [False]
    async with store.acquire("/root/.cache") as again:  # shared by default; the same cache later
        assert again == one


async def test_private_users_get_a_new_instance_only_while_the_others_are_held(store: CacheMounts) -> None:
    async with store.acquire("c", sharing="private") as one:
        (one / "mine").write_text("1")
        async with store.acquire("c", sharing="private") as two:
            assert one != two and not (two / "mine").exists()
            async with store.acquire("c", sharing="shared") as three:  # a shared user joins no private one
                assert three not in (one, two)
    assert len(store.usage()) == 3
    async with store.acquire("c", sharing="private") as reused:  # a free instance: no fourth
        assert reused in {one, two, three}
    assert len(store.usage()) == 3


async def test_locked_users_wait_for_the_holder(store: CacheMounts) -> None:
    order: list[str] = []
    entered = asyncio.Event()

    async def first() -> None:
        async with store.acquire("apt", sharing="locked") as path:
            entered.set()
            order.append("first in")
            await asyncio.sleep(0.2)
            (path / "f").write_text("first")
            order.append("first out")

    async def second() -> Path:
        await entered.wait()
        async with store.acquire("apt", sharing="locked") as path:
            order.append("second in")
            assert (path / "f").read_text() == "first"
            return path

    _, path = await asyncio.gather(first(), second())
    assert order == ["first in", "first out", "second in"]
    assert len(store.usage()) == 1 and path.exists()


async def test_locked_users_wait_for_shared_holders_too_and_a_cancelled_wait_holds_nothing(
    store: CacheMounts,
) -> None:
    async with store.acquire("x", sharing="shared"):
        waiter = asyncio.ensure_future(_make(store, "x", sharing="locked"))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert [r.in_use for r in store.usage()] == [False]
    async with asyncio.timeout(5), store.acquire("x", sharing="locked"):
        pass


async def test_mode_uid_and_gid_apply_when_an_instance_is_made_only(store: CacheMounts) -> None:
    async with store.acquire("perm", mode=0o2770, uid=1234, gid=5678) as path:
        st = path.stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o2770, 1234, 5678)
        os.chmod(path, 0o777)  # what a RUN step does to its cache stays
    async with store.acquire("perm", mode=0o700, uid=0, gid=0) as path:
        st = path.stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o777, 1234, 5678)
    async with store.acquire("perm", base="perms:700:0:0", mode=0o700) as other:  # another cache
        assert other != path and other.stat().st_mode & 0o7777 == 0o700


async def test_a_seed_fills_a_new_instance_before_its_owner_is_set(store: CacheMounts) -> None:
    seeded: list[Path] = []

    def seed(path: Path) -> None:
        seeded.append(path)
        (path / "from-stage").write_text("seed")

    async with store.acquire("s", base="stage:abc", seed=seed, uid=7, gid=7) as path:
        assert (path / "from-stage").read_text() == "seed" and path.stat().st_uid == 7
    async with store.acquire("s", base="stage:abc", seed=seed):
        pass
    assert len(seeded) == 1


async def test_records_persist_for_a_new_store_and_in_use_is_per_store(tmp_path: Path) -> None:
    first = CacheMounts(tmp_path / "cache")
    async with first.acquire(
        "/root/.cache/pip", description="cached mount /root/.cache/pip from exec /bin/sh -c pip install x"
    ) as path:
        (path / "wheel").write_text("w")
        second = CacheMounts(tmp_path / "cache")  # a restarted daemon: the crashed one held nothing
        [record] = second.usage()
        assert not record.in_use and first.usage()[0].in_use
    async with second.acquire("/root/.cache/pip") as again:
        assert again == path and (again / "wheel").read_text() == "w"
    [record] = second.usage()
    assert record.usage_count == 2 and record.size >= 4096
    assert record.description == "cached mount /root/.cache/pip from exec /bin/sh -c pip install x"
    assert record.last_used is not None and record.last_used >= record.created
    body = record.to_json()
    assert body["Type"] == "exec.cachemount" and body["ID"] == record.id and len(record.id) == 25
    assert body["CreatedAt"].endswith("Z") and body["Shared"] is False and body["UsageCount"] == 2


async def test_prune_deletes_every_unused_cache_and_never_one_in_use(store: CacheMounts) -> None:
    a = await _make(store, "a", 10_000)
    b = await _make(store, "b", 20_000)
    sizes = {r.id: r.size for r in store.usage()}
    async with store.acquire("held") as held:
        deleted, reclaimed = store.prune()  # without -a too: cache mounts are nothing an image shares
        assert sorted(deleted) == sorted([a, b]) and reclaimed == sizes[a] + sizes[b]
        assert store.prune(all=True) == ([], 0)
        assert store.prune(filters={"inuse": []}) == ([], 0)  # in use: never a prune's
        assert _ids(store) == [held.parent.name]
    size = disk_usage(store.root / held.parent.name)
    assert store.prune(all=True) == ([held.parent.name], size)
    assert store.usage() == []


async def test_prune_until_spares_caches_used_since(store: CacheMounts) -> None:
    old = await _make(store, "old")
    new = await _make(store, "new")
    _age(store, old, 1_000_000.0)
    assert store.prune(until=1_000_000.0)[0] == [old]
    assert store.prune(until=1_000_000.0) == ([], 0)
    assert store.prune(until=None)[0] == [new]


async def test_prune_keeps_storage_by_deleting_the_least_recently_used(store: CacheMounts) -> None:
    ids = [await _make(store, name, 40_000) for name in ("a", "b", "c", "d")]
    for age, instance in enumerate(ids):
        _age(store, instance, 1_000.0 + age)  # a is the least recently used, d the most
    one = store.usage()[0].size
    deleted, reclaimed = store.prune(keep_storage=2 * one)
    assert deleted == ids[:2] and reclaimed == 2 * one
    assert sorted(_ids(store)) == sorted(ids[2:])
    assert store.prune(keep_storage=10 * one) == ([], 0)  # within: nothing goes


async def test_gc_keeps_the_cache_within_its_limit_in_lru_order(tmp_path: Path) -> None:
    store = CacheMounts(tmp_path / "cache", gc_limits=SpaceLimits(reserved=1))
    ids = [await _make(store, name, 30_000) for name in ("a", "b", "c")]
    _age(store, ids[0], 3_000.0)
    _age(store, ids[1], 1_000.0)  # b the least recently used
    _age(store, ids[2], 2_000.0)
    one = store.usage()[0].size
    assert store.gc(2 * one)[0] == [ids[1]]
    assert store.gc(one)[0] == [ids[2]]
    async with store.acquire("a"):  # used just now, and in use: the configured limit spares it
        assert store.gc() == ([], 0)
    assert store.gc()[0] == [ids[0]]  # gc_limits: 1 byte
    assert CacheMounts(tmp_path / "cache").gc() == ([], 0)  # no limits: no GC


async def test_prune_filters_as_dockerd(store: CacheMounts) -> None:
    pip = await _make(store, "pip", description="cached mount /root/.cache/pip from exec pip")
    apt = await _make(store, "apt", description="cached mount /var/cache/apt from exec apt-get")
    assert store.prune(filters={"type": ["regular"]}) == ([], 0)
    assert store.prune(filters={"shared": []}) == ([], 0)
    assert store.prune(filters={"private": ["false"]}) == ([], 0)
    assert store.prune(filters={"parent": [pip]}) == ([], 0)
    assert store.prune(filters={"label": ["a=b"]}) == ([], 0)  # no cache has labels
    assert store.prune(filters={"description": ["cached mount /var/cache/apt"]}) == ([], 0)  # equal, not in
    assert store.prune(filters={"id": [f"^{pip[:5]}"], "type": ["exec.cachemount"]})[0] == [pip]
    assert store.prune(filters={"private": ["true"], "label!": ["x"]})[0] == [apt]
    for bad, message in (
        ({"dangling": ["true"]}, "invalid filter 'dangling'"),
        ({"id": ["a", "b"]}, "filters expect only one value"),
        ({"inuse": ["maybe"]}, "invalid filter 'inuse=maybe'"),
        ({"id": ["("]}, "invalid filter 'id=\\('"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            store.prune(filters=bad)


async def test_deleting_a_cache_never_follows_its_symlinks(store: CacheMounts, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "precious").write_text("keep me")
    (outside / "file").write_text("keep me too")
    async with store.acquire("evil") as path:
        os.symlink(outside / "dir", path / "to-dir")
        os.symlink("/", path / "to-root")
        os.symlink(outside / "file", path / "to-file")
        os.link(outside / "file", path / "hardlink")
        (path / "sub").mkdir()
        os.symlink("../../../../..", path / "sub" / "up")
    deleted, _ = store.prune()
    assert len(deleted) == 1 and list(store.root.iterdir()) == []
    assert (outside / "dir" / "precious").read_text() == "keep me"
    assert (outside / "file").read_text() == "keep me too" and os.stat(outside / "file").st_nlink == 1


async def test_leftovers_of_a_stopped_daemon_are_removed_and_bad_records_skipped(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for name in (".new-abc/data", ".trash-def/data", "broken"):
        (root / name).mkdir(parents=True)
    (root / "broken" / "record.json").write_text("{")
    store = CacheMounts(root)
    assert sorted(p.name for p in root.iterdir()) == ["broken"]
    assert store.usage() == [] and store.prune() == ([], 0)


async def test_bad_options_are_refused(store: CacheMounts) -> None:
    for options in ({"sharing": "exclusive"}, {"mode": 0o17777}, {"uid": -1}):
        with pytest.raises(InvalidArgument):
            async with store.acquire("x", **options):  # type: ignore[arg-type]
                pass
    with pytest.raises(InvalidArgument):
        async with store.acquire(""):
            pass


async def test_many_concurrent_users_of_each_mode(store: CacheMounts) -> None:
    paths: dict[str, set[Path]] = {"shared": set(), "private": set(), "locked": set()}
    inside = {"locked": 0}

    async def use(sharing: str) -> None:
        async with store.acquire(f"cache-{sharing}", sharing=sharing) as path:
            paths[sharing].add(path)
            if sharing == "locked":
                inside["locked"] += 1
                assert inside["locked"] == 1
            await asyncio.sleep(0.01)
            if sharing == "locked":
                inside["locked"] -= 1

    await asyncio.gather(*(use(s) for s in ("shared", "private", "locked") for _ in range(8)))
    assert len(paths["shared"]) == 1 and len(paths["locked"]) == 1
    assert 1 < len(paths["private"]) <= 8


def test_space_limits_fold_as_buildkit() -> None:
    gib = 1 << 30
    assert SpaceLimits().keep_bytes(10 * gib, gib) is None
    assert SpaceLimits(reserved=2 * gib).keep_bytes(10 * gib, gib) == 2 * gib
    assert SpaceLimits(max_used=4 * gib).keep_bytes(10 * gib, gib) == 4 * gib
    assert SpaceLimits(min_free=3 * gib).keep_bytes(10 * gib, gib) == 8 * gib  # free 2 GiB more
    assert SpaceLimits(min_free=3 * gib).keep_bytes(10 * gib, 5 * gib) == 10 * gib  # enough free
    assert SpaceLimits(5 * gib, 4 * gib, 9 * gib).keep_bytes(10 * gib, gib) == 5 * gib  # never below


def test_lru_order_puts_the_never_used_and_the_oldest_first() -> None:
    def rec(name: str, last_used: float | None, count: int) -> CacheRecord:
        return CacheRecord(name, name, "", "", 0.0, last_used, count)

    records = [rec("c", 30.0, 1), rec("a", None, 0), rec("b", 10.0, 5), rec("d", 10.0, 2)]
    assert [r.id for r in lru_order(records)] == ["a", "d", "b", "c"]
