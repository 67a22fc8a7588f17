"""Benchmark: berthd's registry client (pull until runnable, push) next to ``skopeo copy``.

    .venv/bin/python bench/pull_push.py [--size-mb 200] [--layers 50] [--runs 3]
                                        [--registry docker|berth|both]

Against Debian's docker-registry (CNCF distribution 2.8, what issue 5's dockerd numbers used) and/or a
berth-registry, on free loopback ports with temporary roots, stopped by PID at the end:

* pull of a ``--size-mb`` single-layer image (tar+gzip) into a fresh image store, until the image is
  registered and its layer unpacked (runnable); skopeo copies the same image to an OCI directory (it
  downloads and verifies but does not unpack, so its time is a lower bound for any engine);
* push of a ``--size-mb`` plain layer (as ``import``/``commit`` leave it): berth compresses (ISA-L gzip)
  while uploading; skopeo pushes the same uncompressed OCI layout with ``--dest-compress``;
* pull of an image of ``--layers`` small layers.

Best of ``--runs``; each run uses a fresh store and a fresh repository. Prints a table with ratios and
the issue's targets (dockerd 20.10 measured 3.2 s / 10.3 s / 5.7 s on the reference machine).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "distribution"))

from dist_helpers import (  # noqa: E402
    DOCKER_REGISTRY,
    Layout,
    Registry,
    sha,
    start_berth_registry,
    start_docker_registry,
)
from isal import isal_zlib  # noqa: E402

from berth.distribution.auth import Credentials  # noqa: E402
from berth.distribution.client import RegistryClient  # noqa: E402
from berth.distribution.resolver import RegistryResolver  # noqa: E402
from berth.engine.events import EventBus  # noqa: E402
from berth.engine.images import ImageService  # noqa: E402
from berth.engine.images.pull import PullService  # noqa: E402
from berth.engine.images.push import PushService  # noqa: E402
from berth.oci import mediatypes, reference  # noqa: E402

USERS = {"bench": "benchpw"}
TARGETS = {"pull-big": 1.0, "push-big": 2.0, "pull-many": 0.6}


def big_tar(size_mb: int) -> bytes:
    """``size_mb`` MB in 10 MB files, each half random and half text-like (compresses to ~55%)."""
    raw = io.BytesIO()
    text = b"".join(
        f"line {i} of a fairly ordinary text file in a container image\n".encode() for i in range(80_000)
    )
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(max(1, size_mb // 10)):
            data = os.urandom(5 << 20) + text[: 5 << 20]
            info = tarfile.TarInfo(f"data/file{i:03d}.bin")
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def small_tar(i: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for j in range(5):
            data = (f"layer {i} file {j}\n" * 200).encode() + os.urandom(2048)
            info = tarfile.TarInfo(f"layer{i:02d}/file{j}.txt")
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def layout_of(directory: Path, tars: list[bytes], *, compress: bool) -> Layout:
    layout = Layout(directory)
    descs, diffs = [], []
    for tar in tars:
        blob = isal_gzip(tar) if compress else tar
        media = mediatypes.OCI_LAYER_GZIP if compress else mediatypes.OCI_LAYER_TAR
        descs.append({"mediaType": media, "digest": layout.put(blob), "size": len(blob)})
        diffs.append(sha(tar))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diffs},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": layout.put(config), "size": len(config)},
            "layers": descs,
        }
    ).encode()
    layout.tag("v1", layout.put(manifest), manifest, mediatypes.OCI_MANIFEST)
    return layout


def isal_gzip(data: bytes) -> bytes:
    deflate = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    return deflate.compress(data) + deflate.flush()


def skopeo(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(["skopeo", *args], check=True, capture_output=True, env={**os.environ, "HOME": "/root"})
    return time.perf_counter() - start


def best(runs: int, measure: Callable[[int], float]) -> float:
    """Best of ``runs``; each starts after ``sync`` so earlier runs' writeback does not skew fsyncs."""
    times = []
    for i in range(runs):
        os.sync()
        times.append(measure(i))
    return min(times)


def best_skopeo(runs: int, measure: Callable[[int], float]) -> float | None:
    return best(runs, measure) if shutil.which("skopeo") else None


async def seed(host: str, layout: Layout, repo: str, creds: Credentials) -> None:
    """Upload an OCI layout's image to ``host/repo:v1`` with Berth's own client (no skopeo needed)."""
    index = json.loads((layout.directory / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = (layout.blobs / manifest_digest.split(":", 1)[1]).read_bytes()
    doc = json.loads(manifest)
    resolver = RegistryResolver(default_registry=host)
    async with RegistryClient(endpoint=resolver.endpoint(host), credentials=creds) as client:
        await client.ping()
        for desc in [doc["config"], *doc["layers"]]:
            data = (layout.blobs / desc["digest"].split(":", 1)[1]).read_bytes()
            await client.upload_blob(repo, data, digest=desc["digest"])
        await client.put_manifest(repo, "v1", manifest, doc["mediaType"])


def bench_registry(
    registry: Registry, work: Path, args: argparse.Namespace
) -> list[tuple[str, float, float | None]]:
    creds = Credentials(username="bench", password=USERS["bench"]) if registry.users else Credentials()
    skopeo_creds = ("--dest-creds", "bench:benchpw") if registry.users else ()
    src_creds = ("--src-creds", "bench:benchpw") if registry.users else ()
    host = registry.host
    big = big_tar(args.size_mb)
    big_layout = layout_of(work / "big", [big], compress=True)
    many_layout = layout_of(work / "many", [small_tar(i) for i in range(args.layers)], compress=True)
    asyncio.run(seed(host, big_layout, "bench/big", creds))
    asyncio.run(seed(host, many_layout, "bench/many", creds))
    resolver = RegistryResolver(default_registry=host)
    rows = []

    def pull(name: str) -> Callable[[int], float]:
        def run(i: int) -> float:
            store_root = work / f"store-{name}-{i}"
            images = ImageService(store_root, events=EventBus(), in_use=dict)
            service = PullService(images=images, resolver=resolver)
            start = time.perf_counter()
            asyncio.run(service.pull(reference.parse(f"{host}/bench/{name}:v1"), credentials=creds))
            elapsed = time.perf_counter() - start
            images.close()
            shutil.rmtree(store_root, ignore_errors=True)
            return elapsed

        return run

    def skopeo_pull(name: str) -> Callable[[int], float]:
        def run(i: int) -> float:
            out = work / f"skopeo-{name}-{i}"
            elapsed = skopeo(
                "copy",
                "--src-tls-verify=false",
                *src_creds,
                f"docker://{host}/bench/{name}:v1",
                f"oci:{out}:v1",
            )
            shutil.rmtree(out, ignore_errors=True)
            return elapsed

        return run

    # Every push run gets new random content, so neither tool can skip a blob it saw in an earlier run.
    push_images = ImageService(work / "push-store", events=EventBus(), in_use=dict)

    def push(i: int) -> float:
        target = f"{host}/bench/pushed{i}"
        push_images.import_image(io.BytesIO(big_tar(args.size_mb)), repo=target, tag="v1")
        service = PushService(images=push_images, resolver=resolver, cache_dir=work / f"push-cache-{i}")
        start = time.perf_counter()
        asyncio.run(service.push(reference.parse(f"{target}:v1"), credentials=creds))
        return time.perf_counter() - start

    def skopeo_push_run(i: int) -> float:
        plain = layout_of(work / f"plain{i}", [big_tar(args.size_mb)], compress=False)
        elapsed = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-compress",
            *skopeo_creds,
            f"oci:{plain.directory}:v1",
            f"docker://{host}/bench/skopeo{i}:v1",
        )
        shutil.rmtree(plain.directory, ignore_errors=True)
        return elapsed

    rows.append(
        (
            f"pull {args.size_mb} MB, 1 layer, until runnable",
            best(args.runs, pull("big")),
            best_skopeo(args.runs, skopeo_pull("big")),
        )
    )
    rows.append(
        (
            f"push {args.size_mb} MB layer (compress + upload)",
            best(args.runs, push),
            best_skopeo(args.runs, skopeo_push_run),
        )
    )
    rows.append(
        (
            f"pull {args.layers} small layers, until runnable",
            best(args.runs, pull("many")),
            best_skopeo(args.runs, skopeo_pull("many")),
        )
    )
    push_images.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--registry", choices=["docker", "berth", "both"], default="both")
    args = parser.parse_args()
    if shutil.which("skopeo") is None:
        print("skopeo not installed: its column stays empty (apt-get install -y skopeo)")
    kinds = ["docker", "berth"] if args.registry == "both" else [args.registry]
    if "docker" in kinds and not DOCKER_REGISTRY.exists():
        print("docker-registry not installed: skipping it (apt-get install -y docker-registry)")
        kinds.remove("docker")
    print(f"# bench/pull_push.py: best of {args.runs}; {os.cpu_count()} CPUs")
    print("| registry | benchmark | berth (s) | skopeo copy (s) | berth/skopeo | target (s) |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in kinds:
        work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
        registry = (
            start_docker_registry(work / "registry")
            if kind == "docker"
            else start_berth_registry(work / "registry", USERS, public=True)
        )
        try:
            rows = bench_registry(registry, work, args)
        finally:
            registry.stop()
            shutil.rmtree(work, ignore_errors=True)
        for (name, ours, theirs), target in zip(rows, TARGETS.values(), strict=True):
            other = f"{theirs:.2f}" if theirs else "-"
            ratio = f"{ours / theirs:.2f}" if theirs else "-"
            verdict = "ok" if ours <= target else "SLOW"
            print(f"| {registry.kind} | {name} | {ours:.2f} | {other} | {ratio} | ≤ {target} {verdict} |")


if __name__ == "__main__":
    main()
