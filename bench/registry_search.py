"""Benchmark: search, the repository page and catalog pagination of a big registry.

    .venv/bin/python bench/registry_search.py [--repos 10000] [--tags 100000] [--big-tags 2000]
        [--requests 200] [--profile PATH]

Fills a berth-registry root's metadata with ``--repos`` public repositories and ``--tags`` tags
directly through the metadata layer (one write transaction; the manifests are 200 real image
manifests, their configs and layers stored once and linked to every repository), one repository of
them holding ``--big-tags`` tags, then serves it and measures over keep-alive connections:
``/v1/search`` for random terms, the repository page ``/r/NAME`` of random repositories and of the
big one, and ``/v2/_catalog?n=100&last=…`` walked from the first page to the last (the time of the
first 10 pages against the last 10 shows whether a page's cost depends on where it is: flat means
a walk is linear in total). The baseline for the catalog is Debian's docker-registry (CNCF
distribution 2.8) with the same repository names laid out in its storage (``_layers`` folders are
what its catalog walks for); it has no search and no web page. ``--profile PATH`` runs cProfile
over PATH served in process and prints the top functions. Both servers are stopped by
PID at the end. Target: search and the repository page ≤ 50 ms at the median.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.registry.config import RegistryConfig  # noqa: E402
from berth.registry.service import Registry  # noqa: E402
from berth.testing.registry import RegistryProcess, start_berth_registry, start_distribution  # noqa: E402

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BIG = "big/many-tags"
WORDS = ["web", "api", "db", "cache", "worker", "proxy", "auth", "queue", "search", "ml"]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _images(registry: Registry, count: int) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """``count`` real images (config and layer blobs stored once); (manifest digest, size, blobs)."""
    images = []
    for i in range(count):
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "created": f"2026-01-{1 + i % 28:02d}T00:00:00Z"}
        ).encode()
        layer = random.randbytes(200 + i)
        blobs = [(_sha(config), len(config)), (_sha(layer), len(layer))]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": blobs[0][0],
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": blobs[1][0],
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        for data in (config, layer, manifest):
            registry.blobs.put_bytes("seed/images", _sha(data), data)
        images.append((_sha(manifest), len(manifest), blobs))
    return images


def fill(root: Path, repos: int, tags: int, big_tags: int) -> list[str]:
    """The metadata of ``repos`` repositories and ``tags`` tags; returns the repository names."""
    registry = Registry(RegistryConfig(root=root, bcrypt_rounds=4))
    images = _images(registry, 200)
    names = sorted({f"team{i % 300}/{WORDS[i % len(WORDS)]}-{i}" for i in range(repos - 1)} | {BIG})
    per_repo = [big_tags if name == BIG else 0 for name in names]
    rest = tags - big_tags
    for i in range(rest):
        per_repo[(i * 7919) % len(names) if names[(i * 7919) % len(names)] != BIG else 0] += 1
    now = time.time()
    db = registry.db
    with db.write():
        for n, (name, count) in enumerate(zip(names, per_repo, strict=True)):
            db.execute(
                "INSERT INTO repositories (name, visibility, description, created, last_pushed) VALUES (?, 'public', ?, ?, ?)",
                (name, f"The {name.split('/')[-1]} service of {name.split('/')[0]}", now, now),
            )
            used = [images[i] for i in sorted({(n + k) % len(images) for k in range(min(count, 3))})]
            for digest, size, blobs in used:
                db.execute(
                    "INSERT INTO manifests (repo, digest, media_type, size, artifact_type, annotations, created) "
                    "VALUES (?, ?, ?, ?, ?, '{}', ?)",
                    (name, digest, MANIFEST, size, "application/vnd.oci.image.config.v1+json", now),
                )
                db.execute("INSERT OR IGNORE INTO repo_blobs (repo, digest) VALUES (?, ?)", (name, digest))
                for blob, _ in blobs:
                    db.execute(
                        "INSERT INTO manifest_refs (repo, manifest, child) VALUES (?, ?, ?)",
                        (name, digest, blob),
                    )
                    db.execute("INSERT OR IGNORE INTO repo_blobs (repo, digest) VALUES (?, ?)", (name, blob))
            chosen = used
            for k in range(count):
                db.execute(
                    "INSERT INTO tags (repo, tag, digest, updated) VALUES (?, ?, ?, ?)",
                    (name, f"v{k // 100}.{k % 100}", chosen[k % len(chosen)][0], now - k),
                )
            if n % 7 == 0:
                db.execute(
                    "INSERT INTO pulls (repo, tag, count, last_pulled) VALUES (?, '', ?, ?)",
                    (name, n % 97, now),
                )
            if n % 11 == 0:
                db.execute("INSERT INTO stars (repo, user, created) VALUES (?, 'bench', ?)", (name, now))
    registry.close()
    return names


def distribution_layout(root: Path, names: list[str]) -> None:
    """The repositories as distribution's catalog sees them: ``repositories/NAME/_layers``."""
    base = root / "data" / "docker" / "registry" / "v2" / "repositories"
    for name in names:
        (base / name / "_layers").mkdir(parents=True, exist_ok=True)


def timed(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes, dict[str, str]]:
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
    return elapsed, body, dict(response.getheaders())


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def walk_catalog(server: RegistryProcess, n: int = 100) -> list[float]:
    """Seconds per page of a whole ``_catalog`` walk, first page first."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    times, path = [], f"/v2/_catalog?n={n}"
    while path:
        elapsed, _, headers = timed(conn, path)
        times.append(elapsed)
        link = headers.get("Link", "")
        path = link[1 : link.index(">")] if link else ""
    conn.close()
    return times


def measure_berth(server: RegistryProcess, names: list[str], requests: int) -> dict[str, tuple[float, float]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    rng = random.Random(7)
    results: dict[str, tuple[float, float]] = {}
    terms = [
        rng.choice(WORDS) + ("-" + str(rng.randrange(10000)) if rng.random() < 0.5 else "")
        for _ in range(requests)
    ]
    timed(conn, "/v1/search?q=web")  # warm-up
    results["/v1/search?q=TERM&n=25"] = percentiles([timed(conn, f"/v1/search?q={t}&n=25")[0] for t in terms])
    sample = [rng.choice(names) for _ in range(requests)]
    timed(conn, f"/r/{sample[0]}")
    results["/r/NAME (about 10 tags)"] = percentiles([timed(conn, f"/r/{name}")[0] for name in sample])
    results[f"/r/{BIG} (first 200 tags)"] = percentiles([timed(conn, f"/r/{BIG}")[0] for _ in range(20)])
    results[f"/r/{BIG}?q=v1&sort=size"] = percentiles(
        [timed(conn, f"/r/{BIG}?q=v1&sort=size")[0] for _ in range(20)]
    )
    results["/ (front page, all repositories)"] = percentiles([timed(conn, "/")[0] for _ in range(10)])
    conn.close()
    return results


def profile(root: Path, path: str) -> None:
    """cProfile's top functions (cumulative) of ``path`` served in process by the same app."""
    import asyncio
    import cProfile
    import pstats

    from aiohttp.test_utils import TestClient, TestServer

    from berth.registry.app import build_app

    async def run() -> None:
        registry = Registry(RegistryConfig(root=root, bcrypt_rounds=4))
        async with TestClient(TestServer(build_app(registry))) as client:
            await (await client.get(path)).read()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(20):
                await (await client.get(path)).read()
            profiler.disable()
        registry.close()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--tags", type=int, default=100000)
    parser.add_argument("--big-tags", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--profile", metavar="PATH", help="profile this path in process, e.g. /v1/search?q=web"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-bench-search-") as tmp:
        root = Path(tmp) / "berth"
        start = time.perf_counter()
        names = fill(root, args.repos, args.tags, args.big_tags)
        print(f"filled {len(names)} repositories, {args.tags} tags in {time.perf_counter() - start:.1f} s")
        if args.profile:
            profile(root, args.profile)
            return
        berth = start_berth_registry(root, log_level="warning")
        try:
            results = measure_berth(berth, names, args.requests)
            berth_pages = walk_catalog(berth)
        finally:
            berth.stop()
        distribution_layout(Path(tmp) / "distribution", names)
        distribution = start_distribution(Path(tmp) / "distribution", quiet=True)
        try:
            dist_pages = walk_catalog(distribution)
        finally:
            distribution.stop()

    print(f"\n{'metric (ms)':<44} {'berth median':>13} {'berth p95':>10} {'target':>8}")
    for label, (median, p95) in results.items():
        target = "≤ 50" if "search" in label or "/r/" in label else "-"
        print(f"{label:<44} {median * 1000:>13.1f} {p95 * 1000:>10.1f} {target:>8}")
    print(
        f"\n{'catalog, n=100 (ms per page)':<44} {'berth-registry':>15} {'distribution 2.8':>17} {'ratio (x better)':>17}"
    )
    rows = [
        ("pages", float(len(berth_pages)), float(len(dist_pages))),
        (
            "first 10 pages, median",
            statistics.median(berth_pages[:10]) * 1000,
            statistics.median(dist_pages[:10]) * 1000,
        ),
        (
            "last 10 pages, median",
            statistics.median(berth_pages[-10:]) * 1000,
            statistics.median(dist_pages[-10:]) * 1000,
        ),
        ("whole walk (s)", sum(berth_pages), sum(dist_pages)),
    ]
    for label, bv, dv in rows:
        ratio = "" if label == "pages" else f"{dv / bv:>16.2f}x"
        print(f"{label:<44} {bv:>15.2f} {dv:>17.2f} {ratio:>17}")
    b_growth = statistics.median(berth_pages[-10:]) / statistics.median(berth_pages[:10])
    d_growth = statistics.median(dist_pages[-10:]) / statistics.median(dist_pages[:10])
    print(f"{'last/first page time (1.0 = flat, linear walk)':<44} {b_growth:>15.2f} {d_growth:>17.2f}")


if __name__ == "__main__":
    main()
