"""Benchmark: push of one large layer through berth-registry on the S3 driver, against the object store's
own floor and the filesystem driver.

    .venv/bin/python bench/registry_s3_push.py [--size-mb 200] [--runs 5]

A one-node Ceph (``berth.testing.ceph``: mon, memstore osd, radosgw with tcp_nodelay) on loopback in a temporary
directory, stopped by PID at the end. Three timings of the same random bytes per round:

* floor: the bytes put straight into radosgw with boto3's managed transfer (TransferConfig multipart,
  16 MiB parts, 8 in parallel), read from a file in the page cache;
* s3: a blob push through ``berth-registry serve`` on the S3 driver (POST, one streamed PATCH of the
  whole layer as docker and skopeo send it, PUT with the digest), until the PUT answers 201;
* filesystem: the same push to a berth-registry on the filesystem driver.

Fair rounds: one untimed warm-up round (radosgw makes its pools on the first writes); floor and s3
alternate which goes first; each round's layer differs (its first bytes are the round's number, so
every push is a new blob); after each timing its objects are deleted and radosgw's gc is run, so
memstore holds the same bytes before every timing (an OSD whose memstore fills with deleted-but-not-
collected objects costs 3-4x the CPU per write, which made runs swing 2x). The goal is judged on the
median of the rounds' s3/floor ratios.

Target (issue 16): s3 ≤ 1.3× floor.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from berth.testing.ceph import CephCluster, start_ceph  # noqa: E402
from berth.testing.registry import RegistryProcess, start_berth_registry  # noqa: E402

TARGET = 1.3
AUTH = {"Authorization": "Basic " + base64.b64encode(b"bench:benchpw").decode()}


def _client(ceph: CephCluster) -> Any:
    # Tuned as the driver is: no extra CRC32 pass over each part (SigV4 hashes the payload anyway).
    return boto3.client(
        "s3",
        endpoint_url=ceph.endpoint,
        region_name=ceph.region,
        aws_access_key_id=ceph.access_key,
        aws_secret_access_key=ceph.secret_key,
        config=Config(request_checksum_calculation="when_required", max_pool_connections=16),
    )


def floor(ceph: CephCluster, bucket: str, data_file: Path, run: int) -> float:
    client = _client(ceph)
    config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=16 << 20, max_concurrency=8)
    try:
        started = time.perf_counter()
        client.upload_file(str(data_file), bucket, f"floor/{run}", Config=config)
        return time.perf_counter() - started
    finally:
        client.close()


def _empty(ceph: CephCluster, bucket: str) -> None:
    """Delete every object of ``bucket`` and collect radosgw's garbage (see the module comment)."""
    client = _client(ceph)
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    finally:
        client.close()
    ceph.collect_garbage()


def push(registry: RegistryProcess, data_file: Path, digest: str, repo: str) -> float:
    """POST, one streamed PATCH of the file, PUT ?digest=: seconds until the PUT's 201."""
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=300, blocksize=1 << 20)
    try:
        started = time.perf_counter()
        conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers=AUTH)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 202, answer.status
        location = answer.headers["Location"]
        size = data_file.stat().st_size
        with open(data_file, "rb") as body:
            conn.request(
                "PATCH",
                location,
                body=body,
                headers={**AUTH, "Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )
            answer = conn.getresponse()
            answer.read()
        assert answer.status == 202, answer.status
        if os.environ.get("BENCH_PHASES"):
            print(f"  PATCH done at {time.perf_counter() - started:.2f} s")
        location = answer.headers["Location"]
        sep = "&" if "?" in location else "?"
        conn.request("PUT", f"{location}{sep}digest={digest}", headers={**AUTH, "Content-Length": "0"})
        answer = conn.getresponse()
        body_text = answer.read()
        assert answer.status == 201, (answer.status, body_text)
        return time.perf_counter() - started
    finally:
        conn.close()


def _s3_config(path: Path, ceph: CephCluster, bucket: str) -> Path:
    path.write_text(
        "storage:\n  driver: s3\n  s3:\n"
        f"    endpoint: {ceph.endpoint}\n    region: {ceph.region}\n    bucket: {bucket}\n"
        f"    access_key: {ceph.access_key}\n    secret_key: {ceph.secret_key}\n"
    )
    return path


def _layer_for(data_file: Path, round_number: int) -> str:
    """Make the layer this round's own (its first 8 bytes), so each push is a new blob; its digest."""
    with open(data_file, "r+b") as f:
        f.write(round_number.to_bytes(8, "big"))
    hasher = hashlib.sha256()
    with open(data_file, "rb") as f:
        while block := f.read(8 << 20):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def _round(
    ceph: CephCluster, s3_reg: RegistryProcess, fs_reg: RegistryProcess, data_file: Path, number: int
) -> dict[str, float]:
    """One round's three timings; floor and s3 take turns going first, each on an emptied store."""
    digest = _layer_for(data_file, number)
    timed: dict[str, float] = {}
    for name in ("floor", "s3") if number % 2 else ("s3", "floor"):
        if name == "floor":
            timed[name] = floor(ceph, "bench-floor", data_file, number)
            _empty(ceph, "bench-floor")
        else:
            timed[name] = push(s3_reg, data_file, digest, f"bench/s3-{number}")
            _empty(ceph, "bench-registry")
    timed["filesystem"] = push(fs_reg, data_file, digest, f"bench/fs-{number}")
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"floor": [], "s3": [], "filesystem": []}
    with tempfile.TemporaryDirectory(prefix="berth-bench-s3-") as tmp_name:
        tmp = Path(tmp_name)
        data_file = tmp / "layer"
        data_file.write_bytes(os.urandom(args.size_mb << 20))
        started = time.perf_counter()
        ceph = start_ceph(tmp / "ceph")
        print(f"ceph (mon, memstore osd, radosgw) up in {time.perf_counter() - started:.1f} s")
        registries: list[RegistryProcess] = []
        try:
            ceph.create_bucket("bench-floor")
            ceph.create_bucket("bench-registry")
            users = {"bench": "benchpw"}
            s3_reg = start_berth_registry(
                tmp / "s3-root", users=users, config=_s3_config(tmp / "s3.yml", ceph, "bench-registry")
            )
            registries.append(s3_reg)
            fs_reg = start_berth_registry(tmp / "fs-root", users=users)
            registries.append(fs_reg)
            for round_number in range(args.runs + 1):  # round 0 warms up and is not counted
                timed = _round(ceph, s3_reg, fs_reg, data_file, round_number)
                if round_number:
                    for name, took in timed.items():
                        times[name].append(took)
        finally:
            for registry in registries:
                registry.stop()
            ceph.stop()
    ratios = [s3 / fl for s3, fl in zip(times["s3"], times["floor"], strict=True)]
    mb = args.size_mb
    print(f"\npush of a {mb} MB layer, {args.runs} rounds (all runs: s)")
    print(f"{'path':<44} {'median s':>8} {'best s':>7} {'MB/s':>6} {'× floor':>8}  runs")
    labels = {
        "floor": "radosgw floor (boto3 multipart, 8 parallel)",
        "s3": "berth-registry, S3 driver",
        "filesystem": "berth-registry, filesystem driver",
    }
    floor_median = statistics.median(times["floor"])
    for name, label in labels.items():
        median = statistics.median(times[name])
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{label:<44} {median:>8.2f} {min(times[name]):>7.2f} {mb / median:>6.0f} "
            f"{median / floor_median:>8.2f}  {runs}"
        )
    ratio = statistics.median(ratios)
    print(f"\nS3 driver / floor, per round: {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"median {ratio:.2f} (target ≤ {TARGET}): {'met' if ratio <= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
