"""The build cache (``RUN --mount=type=cache`` directories) through the docker CLI: ``docker system df
[-v]`` lists it, ``docker builder prune [-a] [-f] [--filter …]`` deletes it. The caches are made with
the store on the daemon's data root (which berthd reads from the disk on every request), as a build
would; the API's refusals are checked with docker-py."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from berth.engine.builder.cache_mounts import CacheMounts
from tests.e2e.conftest import Daemon

pytestmark = [pytest.mark.root, pytest.mark.docker_cli]

PIP = "cached mount /root/.cache/pip from exec /bin/sh -c pip install -r requirements.txt"
APT = "cached mount /var/cache/apt from exec /bin/sh -c apt-get update"


@pytest.fixture
def api(berthd: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=berthd.host, version="auto", timeout=60)
    try:
        yield client
    finally:
        client.close()


def _store(berthd: Daemon) -> CacheMounts:
    return CacheMounts(berthd.data_root / "builder" / "cache")


def _make(store: CacheMounts, cache_id: str, description: str, size: int) -> str:
    async def make() -> str:
        async with store.acquire(cache_id, description=description) as path:
            (path / "blob").write_bytes(os.urandom(size))
            return path.parent.name

    return asyncio.run(make())


def _age(store: CacheMounts, instance: str, last_used: float) -> None:
    record = store.root / instance / "record.json"
    raw = json.loads(record.read_text())
    raw["last_used"] = last_used
    record.write_text(json.dumps(raw))


def _df_rows(berthd: Daemon) -> dict[str, dict[str, str]]:
    shown = berthd.docker("system", "df", "--format", "json", check=True)
    rows = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    return {row["Type"]: row for row in rows}


def test_an_empty_build_cache(berthd: Daemon, api: docker.APIClient) -> None:
    assert _df_rows(berthd)["Build Cache"]["TotalCount"] == "0"
    pruned = berthd.docker("builder", "prune", "-f")
    assert pruned.returncode == 0 and "Total reclaimed space: 0B" in pruned.stdout, pruned
    assert "Deleted build cache objects" not in pruned.stdout
    assert api.prune_builds() == {"CachesDeleted": None, "SpaceReclaimed": 0}
    assert api.df()["BuildCache"] == []


def test_system_df_lists_cache_mounts_and_builder_prune_deletes_them(
    berthd: Daemon, api: docker.APIClient
) -> None:
    store = _store(berthd)
    pip = _make(store, "/root/.cache/pip", PIP, 300_000)
    apt = _make(store, "/var/cache/apt", APT, 100_000)
    sizes = {r.id: r.size for r in store.usage()}

    row = _df_rows(berthd)["Build Cache"]
    assert (row["TotalCount"], row["Active"]) == ("2", "0"), row
    verbose = berthd.docker("system", "df", "-v", check=True).stdout
    section = verbose.split("Build cache usage:", 1)[1]
    assert "CACHE ID" in section and "CACHE TYPE" in section, verbose
    header, *rows = [line for line in section.splitlines()[1:] if line.strip()]
    assert header.split()[:4] == ["CACHE", "ID", "CACHE", "TYPE"], section
    lines = {line.split()[0]: line.split() for line in rows}  # the CLI shows 12 characters of an id
    assert set(lines) == {pip[:12], apt[:12]}, section
    assert lines[pip[:12]][1] == "exec.cachemount" and lines[pip[:12]][-2:] == ["1", "false"], section

    records = {r["ID"]: r for r in api.df()["BuildCache"]}
    assert records[pip]["Description"] == PIP and records[pip]["Size"] == sizes[pip]
    assert records[pip]["Type"] == "exec.cachemount" and records[pip]["UsageCount"] == 1
    assert records[pip]["InUse"] is False and records[pip]["Shared"] is False
    only = api.get(api._url("/system/df"), params={"type": "build-cache"}).json()
    assert only["Images"] is None and len(only["BuildCache"]) == 2

    # --filter until: the cache used a day ago goes, the one used just now stays
    _age(store, apt, 1_000_000.0)
    pruned = berthd.docker("builder", "prune", "-f", "--filter", "until=24h")
    assert pruned.returncode == 0, pruned.stderr
    assert "Deleted build cache objects:" in pruned.stdout and apt in pruned.stdout, pruned.stdout
    assert pip not in pruned.stdout
    assert [r.id for r in store.usage()] == [pip]

    pruned = berthd.docker("builder", "prune", "-a", "-f")
    assert pruned.returncode == 0 and pip in pruned.stdout, pruned
    assert "Total reclaimed space: 0B" not in pruned.stdout
    assert store.usage() == [] and list(Path(store.root).iterdir()) == []


def test_builder_prune_keeps_storage_and_refuses_what_dockerd_refuses(
    berthd: Daemon, api: docker.APIClient
) -> None:
    store = _store(berthd)
    old = _make(store, "old", "cached mount /old from exec true", 200_000)
    new = _make(store, "new", "cached mount /new from exec true", 200_000)
    _age(store, old, 1_000.0)
    one = max(r.size for r in store.usage())
    pruned = berthd.docker("builder", "prune", "-f", "--keep-storage", str(one))
    assert pruned.returncode == 0, pruned.stderr
    assert old in pruned.stdout and new not in pruned.stdout, pruned.stdout
    assert [r.id for r in store.usage()] == [new]

    bad = berthd.docker("builder", "prune", "-f", "--filter", "dangling=true")
    assert bad.returncode != 0 and "invalid filter 'dangling'" in bad.stderr, bad
    bad = berthd.docker("builder", "prune", "-f", "--filter", "until=sometime")
    assert bad.returncode != 0, bad
    assert "\"until\" filter expects a duration (e.g., '24h') or a timestamp" in bad.stderr, bad.stderr
    for params, message in (
        ({"keep-storage": "lots"}, "keep-storage is in bytes and expects an integer, got lots"),
        ({"max-used-space": "-1"}, "max-used-space is in bytes and must not be negative"),
        ({"filters": '{"id":["a","b"]}'}, "filters expect only one value"),
    ):
        answer = api.post(api._url("/build/prune"), params=params)
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    assert [r.id for r in store.usage()] == [new]
    assert api.prune_builds(filters={"id": new[:6]})["CachesDeleted"] == [new]
