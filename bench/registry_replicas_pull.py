"""Benchmark: 50 concurrent pullers of a 20 MB blob, one vs two vs three berth-registry replicas.

    .venv/bin/python bench/registry_replicas_pull.py [--clients 50] [--seconds 10] [--size-mb 20]

One one-node Ceph (radosgw: the object store), one PostgreSQL (the metadata); the blob is pushed
once into a public repository. Then for 1, 2 and 3 replicas (each ``berth-registry serve`` on a root
of its own, all on that bucket and database) behind haproxy, ``--clients`` aiohttp clients GET the
blob through the balancer in a loop for ``--seconds``, each response read whole; with ``redirect``
the replicas answer 307 to a presigned URL and the bytes come from radosgw itself. Printed: blob
pulls per second, MB/s, p50 and p99 latency, and the ratio to one replica. The baseline a replica
cannot beat is radosgw serving the same object straight to the same clients (the first row). On 2
cores every process shares the same two CPUs, so more replicas add no CPU: what the table shows is
how the work divides, not how it would scale on more machines. Everything is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import aiohttp  # noqa: E402
import boto3  # noqa: E402

from berth.testing.ceph import CephCluster, start_ceph  # noqa: E402
from berth.testing.haproxy import load_balancer  # noqa: E402
from berth.testing.postgres import postgres_server  # noqa: E402
from berth.testing.registry import RegistryProcess, registry_cli, start_berth_registry  # noqa: E402

REPO = "alice/bench"


def _config(path: Path, ceph: CephCluster, url: str, *, redirect: bool) -> Path:
    path.write_text(
        f"storage: {{driver: s3, s3: {{endpoint: {ceph.endpoint}, region: {ceph.region}, bucket: registry,\n"
        f"  access_key: {ceph.access_key}, secret_key: {ceph.secret_key}, path_style: true,"
        f" redirect: {str(redirect).lower()}}}}}\n"
        f"metadata: {{driver: postgres, url: {json.dumps(url)}}}\n"
        f"auth: {{signing_key: {path.parent / 'signing.pem'}}}\n"
        "default_visibility: public\n"
    )
    return path


def _push_blob(registry: RegistryProcess, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice:alicepw").decode()}
    status, headers, body = registry.request("POST", f"/v2/{REPO}/blobs/uploads/", headers=auth)
    assert status == 202, body
    location = headers["Location"]
    sep = "&" if "?" in location else "?"
    status, _, body = registry.request("PUT", f"{location}{sep}digest={digest}", data=data, headers=auth)
    assert status == 201, body
    return digest


async def _pull_loop(url: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def client() -> None:
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with session.get(url) as resp:
                    assert resp.status == 200, resp.status
                    async for _ in resp.content.iter_chunked(1 << 20):
                        pass
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def _row(name: str, latencies: list[float], seconds: float, size: int, base: float | None) -> str:
    rate = len(latencies) / seconds
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else latencies[0]
    ratio = f"{rate / base:.2f}x" if base else "-"
    return f"| {name:<32} | {rate:8.1f} | {rate * size / 1e6:8.0f} | {p50 * 1000:7.0f} | {p99 * 1000:7.0f} | {ratio:>6} |"


@contextlib.contextmanager
def _replicas(directory: Path, config: Path, count: int) -> Iterator[list[RegistryProcess]]:
    started = [start_berth_registry(directory / f"replica-{i}", config=config) for i in range(count)]
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size-mb", type=int, default=20)
    args = parser.parse_args()
    size = args.size_mb << 20
    data = os.urandom(size)
    with tempfile.TemporaryDirectory(prefix="berth-bench-replicas-") as tmp:
        directory = Path(tmp)
        ceph = start_ceph(directory / "ceph")
        try:
            ceph.create_bucket("registry")
            with postgres_server() as pg:
                url = pg.create_database("registry")
                plain = _config(directory / "plain.yaml", ceph, url, redirect=False)
                redirected = _config(directory / "redirect.yaml", ceph, url, redirect=True)
                registry_cli(
                    directory / "replica-0",
                    "user",
                    "add",
                    "alice",
                    "--password-stdin",
                    stdin="alicepw\n",
                    config=plain,
                )
                with _replicas(directory, plain, 1) as (first,):
                    digest = _push_blob(first, data)
                s3 = boto3.client("s3", endpoint_url=ceph.endpoint, region_name=ceph.region,
                                  aws_access_key_id=ceph.access_key, aws_secret_access_key=ceph.secret_key)  # fmt: skip
                key = next(
                    o["Key"]
                    for o in s3.list_objects_v2(Bucket="registry")["Contents"]
                    if digest.split(":")[1] in o["Key"]
                )
                direct = s3.generate_presigned_url(
                    "get_object", Params={"Bucket": "registry", "Key": key}, ExpiresIn=3600
                )
                print(
                    f"{args.clients} clients, {args.seconds:.0f} s each, a {args.size_mb} MB blob; 2 cores shared by all\n"
                )
                print(
                    "| setup                            | pulls/s  |   MB/s   | p50 ms  | p99 ms  | vs 1   |"
                )
                print(
                    "|----------------------------------|----------|----------|---------|---------|--------|"
                )
                lat = asyncio.run(_pull_loop(direct, args.clients, args.seconds))
                print(_row("radosgw directly (floor)", lat, args.seconds, size, None), flush=True)
                for config, label in ((plain, "through replicas"), (redirected, "redirect to radosgw")):
                    base = None
                    for count in (1, 2, 3):
                        with (
                            _replicas(directory, config, count) as started,
                            load_balancer([r.port for r in started]) as lb,
                        ):
                            lat = asyncio.run(
                                _pull_loop(f"{lb.url}/v2/{REPO}/blobs/{digest}", args.clients, args.seconds)
                            )
                        rate = len(lat) / args.seconds
                        print(
                            _row(
                                f"{count} replica{'s' if count > 1 else ''}, {label}",
                                lat,
                                args.seconds,
                                size,
                                base,
                            ),
                            flush=True,
                        )
                        base = base or rate
        finally:
            ceph.stop()


if __name__ == "__main__":
    main()
