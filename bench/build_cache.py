"""Cold and cached builds of a realistic multi-stage Dockerfile, and two independent stages:
``python bench/build_cache.py [runs]`` (root; needs the Debian mirror apt uses, for debootstrap and
``apt-get install gcc``).

A C program compiled with gcc in a Debian stage, then copied into busybox. Rows: the cold build
(no cache; the gcc install from the mirror is the bulk of it) and the fully cached one, with
``berth build`` and the docker CLI against berthd, and the docker CLI against dockerd 20.10's
classic builder when docker.io is installed (goals: cold ≤ dockerd's, cached ≤ 100 ms).
"""

from __future__ import annotations

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

DOCKERFILE = """\
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev
COPY hello.c /src/hello.c
RUN gcc -O2 -static -o /hello /src/hello.c
FROM busybox
COPY --from=build /hello /usr/local/bin/hello
CMD ["hello"]
"""
HELLO = '#include <stdio.h>\nint main(void) { puts("hello from gcc"); return 0; }\n'


def timed(argv: list[str], env: dict[str, str]) -> float:
    begun = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr[-500:]}")
    return time.perf_counter() - begun


def measure(cli: list[str], ctx: Path, env: dict[str, str], runs: int, *flags: str) -> tuple[float, float]:
    """(cold seconds, median cached seconds); printed at once, so that a later failure keeps them."""
    cold = timed([*cli, "build", *flags, "--no-cache", "-q", "-t", "hello", str(ctx)], env)
    cached = statistics.median(
        timed([*cli, "build", *flags, "-q", "-t", "hello", str(ctx)], env) for _ in range(runs)
    )
    print(f"{' '.join(cli[-1:])}: cold {cold:.1f}s, cached {cached * 1000:.0f}ms", flush=True)
    return cold, cached


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    rows: list[tuple[str, float, float]] = []
    try:
        ctx = root / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "hello.c").write_text(HELLO)
        (root / "berthd").mkdir()
        daemon = start_daemon(root / "berthd", f"berth-bench-{uuid.uuid4().hex[:8]}")
        try:
            daemon.berth("bootstrap", "busybox", check=True)
            daemon.berth(
                "bootstrap",
                "debian",
                "--suite",
                "bookworm",
                "-t",
                "debian:bookworm",
                check=True,
                timeout=1800,
            )
            rows.append(("berth build", *measure([BERTH], ctx, daemon.env, runs)))
            classic = {**daemon.env, "DOCKER_BUILDKIT": "0"}
            rows.append(("docker build (berthd)", *measure([DOCKER], ctx, classic, runs)))
            with dockerd(root / "dockerd") as docker_env:
                if docker_env is not None:
                    for image in ("busybox", "debian:bookworm"):
                        load_from_berth(image, daemon.env, docker_env)
                    # --network host: the baseline dockerd has no bridge, and the host's resolver is
                    # a private address only the host's own namespace reaches
                    env = {**docker_env, "DOCKER_BUILDKIT": "0"}
                    try:
                        timing = measure([DOCKER], ctx, env, runs, "--network", "host")
                        rows.append(("docker build (dockerd 20.10 classic)", *timing))
                    except RuntimeError as exc:
                        print(f"dockerd: the build failed: {str(exc)[-300:]}")
                else:
                    print("dockerd: not installed")
        finally:
            cleanup_daemon(daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"gcc in debian:bookworm, copied into busybox; cached: median of {runs}")
    print(f"{'builder':<38} {'cold':>8} {'cached':>9}")
    for name, cold, cached in rows:
        print(f"{name:<38} {cold:>7.1f}s {cached * 1000:>7.0f}ms")
    if len(rows) == 3:
        print(
            f"berth vs dockerd: cold {rows[0][1] / rows[2][1]:.2f}× (goal ≤ 1), cached {rows[0][2] * 1000:.0f} ms (goal ≤ 100 ms)"
        )


if __name__ == "__main__":
    main()
