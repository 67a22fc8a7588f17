"""Benchmark: berth-registry against Debian's docker-registry (CNCF distribution 2.8), side by side.

    .venv/bin/python bench/registry_blob.py [--size-mb 200] [--runs 3] [--clients 50] [--pulls 40]

Starts both registries on free loopback ports with temporary roots (distribution with a temporary
config file), measures monolithic PUTs and full GETs of fresh random blobs, alternating between the
two servers (best and median), then ``--clients`` concurrent pullers each pulling a small image
(manifest, config, 1 MB layer) ``--pulls`` times over keep-alive connections, and prints a table with
ratios. berth-registry is driven with a bearer token (its normal mode); distribution runs without
auth. Both servers are stopped by PID at the end. Needs ``apt-get install -y docker-registry``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.testing.registry import RegistryProcess, start_berth_registry  # noqa: E402
from berth.testing.registry import start_distribution as start_distribution_process  # noqa: E402

REPO = "bench/app"


@dataclass
class Server:
    """A registry under test (``berth.testing.registry``) and the headers its requests carry."""

    name: str
    registry: RegistryProcess
    headers: dict[str, str]

    @property
    def port(self) -> int:
        return self.registry.port

    def stop(self) -> None:
        self.registry.stop()


def start_distribution(tmp: Path) -> Server:
    try:
        registry = start_distribution_process(tmp / "distribution", quiet=True)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from exc
    return Server("distribution 2.8", registry, {})


def start_berth(tmp: Path) -> Server:
    registry = start_berth_registry(tmp / "berth", users={"bench": "benchpw"}, log_level="warning")
    conn = http.client.HTTPConnection("127.0.0.1", registry.port)
    basic = base64.b64encode(b"bench:benchpw").decode()
    conn.request(
        "GET",
        f"/token?service=berth-registry&scope=repository:{REPO}:pull,push",
        headers={"Authorization": f"Basic {basic}"},
    )
    token = json.loads(conn.getresponse().read())["token"]
    conn.close()
    return Server("berth-registry", registry, {"Authorization": f"Bearer {token}"})


def upload(server: Server, data: bytes, digest: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", f"/v2/{REPO}/blobs/uploads/", headers=server.headers)
    resp = conn.getresponse()
    resp.read()
    location = resp.getheader("Location") or ""
    if location.startswith("http"):
        location = location.split(str(server.port), 1)[1]
    sep = "&" if "?" in location else "?"
    start = time.perf_counter()
    conn.request(
        "PUT",
        f"{location}{sep}digest={digest}",
        body=data,
        headers={**server.headers, "Content-Type": "application/octet-stream"},
    )
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if resp.status != 201:
        raise SystemExit(f"{server.name}: PUT answered {resp.status}")
    return elapsed


def download(server: Server, digest: str, buf: bytearray) -> float:
    """Seconds to GET the blob into ``buf`` (allocated and touched beforehand: only the transfer is timed)."""
    size = len(buf)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", f"/v2/{REPO}/blobs/{digest}", headers=server.headers)
    resp = conn.getresponse()
    view, got = memoryview(buf), 0
    while got < size:
        n = resp.readinto(view[got:])
        if not n:
            break
        got += n
    elapsed = time.perf_counter() - start
    conn.close()
    if resp.status != 200 or got != size:
        raise SystemExit(f"{server.name}: GET answered {resp.status} with {got} bytes")
    return elapsed


def push_small_image(server: Server) -> list[str]:
    layer = os.urandom(1 << 20)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    digests = []
    for blob in (config, layer):
        d = "sha256:" + hashlib.sha256(blob).hexdigest()
        upload(server, blob, d)
        digests.append(d)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digests[0],
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digests[1],
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request(
        "PUT",
        f"/v2/{REPO}/manifests/latest",
        body=manifest,
        headers={**server.headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        raise SystemExit(f"{server.name}: manifest PUT answered {resp.status}")
    return digests


async def concurrent_pulls(
    server: Server, digests: list[str], clients: int, pulls: int
) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of ``clients`` pullers, each pulling ``pulls`` times."""
    latencies: list[float] = []
    base = f"http://127.0.0.1:{server.port}"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}

    async def puller(session: aiohttp.ClientSession) -> None:
        for _ in range(pulls):
            for path in (f"/v2/{REPO}/manifests/latest", *(f"/v2/{REPO}/blobs/{d}" for d in digests)):
                t0 = time.perf_counter()
                async with session.get(base + path, headers={**server.headers, **accept}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{server.name}: {path} answered {resp.status}")
                latencies.append(time.perf_counter() - t0)

    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(clients)]
    try:
        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for session in sessions:
                tg.create_task(puller(session))
        elapsed = time.perf_counter() - start
    finally:
        for session in sessions:
            await session.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, p99 * 1000


def measure(
    servers: list[Server], size: int, runs: int, clients: int, pulls: int
) -> dict[str, dict[str, float]]:
    """PUTs and GETs alternate between the servers (same blob bytes, same moment), so drift in the
    machine's load falls on both alike; the pullers then run against each in turn."""
    base = bytearray(os.urandom(size))
    into = bytearray(size)  # the GET target, touched once here rather than inside each timed GET
    puts: dict[str, list[float]] = {s.name: [] for s in servers}
    gets: dict[str, list[float]] = {s.name: [] for s in servers}
    for _ in range(runs):
        base[:8] = os.urandom(8)  # a fresh blob each run: no dedup shortcut
        data = bytes(base)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        for server in servers:
            os.sync()  # no earlier run's dirty pages being written back meanwhile
            puts[server.name].append(upload(server, data, digest))
        del data
        for _ in range(3):
            for server in servers:
                gets[server.name].append(download(server, digest, into))
    results = {}
    for server in servers:
        rps, p99 = asyncio.run(concurrent_pulls(server, push_small_image(server), clients, pulls))
        put, get = puts[server.name], gets[server.name]
        results[server.name] = {
            "put": min(put),
            "put_median": statistics.median(put),
            "get": min(get),
            "get_median": statistics.median(get),
            "rps": rps,
            "p99": p99,
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pulls", type=int, default=40)
    args = parser.parse_args()
    size = args.size_mb * 1000 * 1000
    with tempfile.TemporaryDirectory(prefix="berth-bench-registry-") as tmp_name:
        tmp = Path(tmp_name)
        servers: list[Server] = []
        try:
            servers.append(start_berth(tmp))
            servers.append(start_distribution(tmp))
            results = measure(servers, size, args.runs, args.clients, args.pulls)
        finally:
            for server in servers:
                server.stop()
    b, d = results["berth-registry"], results["distribution 2.8"]
    gets = args.runs * 3
    rows = [
        (f"PUT {args.size_mb} MB blob (s, best of {args.runs})", b["put"], d["put"], d["put"] / b["put"]),
        (
            f"PUT {args.size_mb} MB blob (s, median)",
            b["put_median"],
            d["put_median"],
            d["put_median"] / b["put_median"],
        ),
        (f"GET {args.size_mb} MB blob (s, best of {gets})", b["get"], d["get"], d["get"] / b["get"]),
        (
            f"GET {args.size_mb} MB blob (s, median)",
            b["get_median"],
            d["get_median"],
            d["get_median"] / b["get_median"],
        ),
        (f"{args.clients} concurrent pullers (req/s)", b["rps"], d["rps"], b["rps"] / d["rps"]),
        (f"{args.clients} concurrent pullers p99 (ms)", b["p99"], d["p99"], d["p99"] / b["p99"]),
    ]
    print(f"{'metric':<40} {'berth-registry':>15} {'distribution 2.8':>17} {'ratio (x better)':>17}")
    for label, bv, dv, ratio in rows:
        print(f"{label:<40} {bv:>15.3f} {dv:>17.3f} {ratio:>16.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
