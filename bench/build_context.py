"""Sending a build context: ``python bench/build_context.py [runs]`` (root).

A context of 20,000 files, 200 MB in all, and a Dockerfile that uses none of it (``FROM busybox`` +
``LABEL``): the build's time is the context's way to the daemon (the client's tar, the upload, the
daemon's unpack). Rows: ``berth build`` and ``docker build`` (DOCKER_BUILDKIT=0) against berthd, the
docker CLI against dockerd's classic builder when docker.io is installed, and the floor, ``tar c |
cat > /dev/null`` of the same tree (goal ≤ 1.5×; moby#26816, moby#23470: slow context upload).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.testing.baselines import dockerd, load_from_berth  # noqa: E402
from berth.testing.daemon import BERTH, DOCKER, cleanup_daemon, start_daemon  # noqa: E402

FILES, SIZE = 20_000, 200 << 20


def make_context(root: Path) -> Path:
    ctx = root / "ctx"
    block = os.urandom(SIZE // FILES)
    for index in range(FILES):
        directory = ctx / f"d{index // 500:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{index:05d}").write_bytes(block)
    (ctx / "Dockerfile").write_text("FROM busybox\nLABEL bench=context\n")
    return ctx


def median_s(argv: list[str], env: dict[str, str] | None, runs: int, shell: bool = False) -> float:
    times = []
    for _ in range(runs):
        begun = time.perf_counter()
        subprocess.run(argv if not shell else argv[0], env=env, shell=shell, check=True, capture_output=True)
        times.append(time.perf_counter() - begun)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    rows: list[tuple[str, float]] = []
    try:
        ctx = make_context(root)
        os.sync()  # the new tree written back first: its writeback would slow whichever row runs then
        tar = [f"tar c -C {ctx} . | cat > /dev/null"]
        (root / "berthd").mkdir()
        daemon = start_daemon(root / "berthd", f"berth-bench-{uuid.uuid4().hex[:8]}")
        try:
            daemon.berth("bootstrap", "busybox", check=True)
            median_s([BERTH, "build", "-q", str(ctx)], daemon.env, 1)  # warm-up: page cache, daemon
            floors, berths = [], []
            for _ in range(runs):  # alternated: the floor and berth see the same moments of a noisy VM
                floors.append(median_s(tar, None, 1, shell=True))
                berths.append(median_s([BERTH, "build", "-q", str(ctx)], daemon.env, 1))
            floor = statistics.median(floors)
            rows.append(("berth build -q CTX", statistics.median(berths)))
            classic = {**daemon.env, "DOCKER_BUILDKIT": "0"}
            rows.append(
                ("docker build -q CTX (berthd)", median_s([DOCKER, "build", "-q", str(ctx)], classic, runs))
            )
            with dockerd(root / "dockerd") as docker_env:
                if docker_env is not None:
                    load_from_berth("busybox", daemon.env, docker_env)
                    env = {**docker_env, "DOCKER_BUILDKIT": "0"}
                    rows.append(
                        (
                            "docker build -q CTX (dockerd 20.10 classic)",
                            median_s([DOCKER, "build", "-q", str(ctx)], env, runs),
                        )
                    )
                else:
                    print("dockerd: not installed")
        finally:
            cleanup_daemon(daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"context: {FILES} files, {SIZE >> 20} MB; median of {runs}")
    print(f"{'measurement':<46} {'median':>8}  ratio to floor (goal ≤ 1.5×)")
    print(f"{'tar c | cat > /dev/null (floor)':<46} {floor:>7.2f}s  1.00×")
    for name, seconds in rows:
        print(f"{name:<46} {seconds:>7.2f}s  {seconds / floor:.2f}×")


if __name__ == "__main__":
    main()
