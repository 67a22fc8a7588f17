"""What crash safety costs: ``python bench/crash_safety.py [runs]`` (root; needs Debian's eatmydata).

Two berthds side by side: one as shipped, one with every fsync and fdatasync made a no-op by
libeatmydata (``LD_PRELOAD``: the same code, with none of its durability). Each run times, with the
berth CLI as a user runs it, and alternating the daemons so that neither gets the quieter moments:

* ``pull`` of a one-layer image (20 MB of random bytes) from a berth-registry on loopback, then ``rmi``;
* ``build --no-cache`` of ``FROM busybox`` + ``RUN`` + ``COPY`` (two layers, a cache image per step);
* ``run --rm busybox true``.

The goal (issue 14): as shipped within 5% of fsync-off. Prints medians, and the ratio per row.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.testing.daemon import Daemon, cleanup_daemon, start_daemon  # noqa: E402
from berth.testing.registry import start_berth_registry  # noqa: E402

EATMYDATA = Path("/usr/lib/x86_64-linux-gnu/libeatmydata.so")
MODES = {"as shipped": {}, "fsync off": {"LD_PRELOAD": str(EATMYDATA)}}


def _timed(daemon: Daemon, *argv: str) -> float:
    begun = time.perf_counter()
    daemon.berth(*argv, check=True, timeout=300)
    return time.perf_counter() - begun


def _random_tar(directory: Path, size: int) -> Path:
    payload = directory / "payload"
    payload.mkdir()
    (payload / "blob.bin").write_bytes(os.urandom(size))
    tar = directory / "payload.tar"
    shutil.make_archive(str(tar.with_suffix("")), "tar", payload)
    return tar


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    if not EATMYDATA.exists():
        sys.exit("needs libeatmydata: apt-get install -y eatmydata")
    scratch = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    registry = start_berth_registry(scratch / "registry", users={"bench": "pw"})
    daemons: dict[str, Daemon] = {}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for mode, env in MODES.items():
            root = scratch / mode.replace(" ", "-")
            root.mkdir()
            daemon = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}", env=env)
            daemons[mode] = daemon
            daemon.berth("bootstrap", "busybox", check=True, timeout=300)
            daemon.berth("login", "-u", "bench", "--password-stdin", registry.host, input=b"pw\n", check=True)
        remote = f"{registry.host}/bench/big:1"
        first = daemons["as shipped"]
        first.berth("import", str(_random_tar(scratch, 20 << 20)), remote, check=True)
        first.berth("push", "-q", remote, check=True)
        first.berth("rmi", remote, check=True)
        context = scratch / "context"
        context.mkdir()
        (context / "file").write_bytes(os.urandom(1 << 20))
        (context / "Dockerfile").write_text("FROM busybox\nRUN echo step > /step\nCOPY file /file\n")
        for run in range(runs + 1):  # the first round warms both up and is not counted
            for mode in MODES if run % 2 else reversed(MODES):
                daemon = daemons[mode]
                rows = {
                    "pull (20 MB layer)": _timed(daemon, "pull", "-q", remote),
                    "build --no-cache (2 steps)": _timed(
                        daemon, "build", "-q", "--no-cache", "-t", "built:1", str(context)
                    ),
                    "run --rm busybox true": _timed(daemon, "run", "--rm", "busybox", "true"),
                }
                daemon.berth("rmi", remote, "built:1", check=True)
                daemon.berth("image", "prune", "-f", check=True)
                if run:
                    for row, seconds in rows.items():
                        times.setdefault((row, mode), []).append(seconds)
    finally:
        for daemon in daemons.values():
            cleanup_daemon(daemon)
        registry.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"crash safety: berthd as shipped against fsync off (libeatmydata), medians of {runs}")
    print(f"{'operation':<28} {'as shipped':>11} {'fsync off':>10}  ratio  goal")
    for row in dict.fromkeys(row for row, _ in times):
        shipped = statistics.median(times[(row, "as shipped")])
        off = statistics.median(times[(row, "fsync off")])
        print(f"{row:<28} {shipped * 1000:>9.0f}ms {off * 1000:>8.0f}ms  {shipped / off:.3f}  ≤ 1.05")


if __name__ == "__main__":
    main()
