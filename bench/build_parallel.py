"""Independent Dockerfile stages built at the same time: a Dockerfile of two independent 3-second
stages (``FROM busybox AS a`` + ``RUN sleep 3 && echo a > /a``, the same for b) and a final stage
copying from both, against each stage built alone and their sum (what a one-stage-at-a-time builder
takes). Goal: the two-stage build ≤ 1.3× one stage's time. Also dockerd's classic builder
(``DOCKER_BUILDKIT=0``, one stage after another) on the same Dockerfile when it is installed (started
with --iptables=false --bridge=none on its own roots, stopped by PID: ``berth.testing.baselines``).

Every build is ``--no-cache --network none`` (dockerd runs without a bridge), ``RUNS`` times; medians.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from berth.testing.baselines import dockerd, load_from_berth  # noqa: E402
from berth.testing.daemon import BERTH, DOCKER, cleanup_daemon, start_daemon  # noqa: E402

RUNS = 5
SECONDS = 3
STAGE = "FROM busybox AS {name}\nRUN sleep {seconds} && echo {name} > /{name}\n"
FINAL = "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"


def contexts(root: Path) -> dict[str, Path]:
    """The build contexts: each stage alone, and both with the final stage."""
    texts = {
        "a": STAGE.format(name="a", seconds=SECONDS),
        "b": STAGE.format(name="b", seconds=SECONDS),
        "both": STAGE.format(name="a", seconds=SECONDS) + STAGE.format(name="b", seconds=SECONDS) + FINAL,
    }
    made = {}
    for name, text in texts.items():
        ctx = root / f"ctx-{name}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(text)
        made[name] = ctx
    return made


def build_seconds(argv: list[str], ctx: Path, env: Mapping[str, str]) -> float:
    """Median wall seconds of a build of ``ctx`` without the cache."""
    samples = []
    for _ in range(RUNS):
        begun = time.perf_counter()
        result = subprocess.run(
            [*argv, "build", "--no-cache", "--network", "none", "-q", str(ctx)],
            env=env,
            capture_output=True,
            text=True,
        )
        samples.append(time.perf_counter() - begun)
        if result.returncode != 0:
            raise RuntimeError(f"build of {ctx.name} failed: {result.stderr.strip()}")
    return statistics.median(samples)


def rows_for(
    engine: str, argv: list[str], ctxs: dict[str, Path], env: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    a, b, both = (build_seconds(argv, ctxs[name], env) for name in ("a", "b", "both"))
    one = max(a, b)
    return [
        (f"{engine}: stage a alone", f"{a:.2f} s", "—"),
        (f"{engine}: stage b alone", f"{b:.2f} s", "—"),
        (
            f"{engine}: a + b (the sum: one stage at a time)",
            f"{a + b:.2f} s",
            f"{(a + b) / one:.2f}× one stage",
        ),
        (
            f"{engine}: a, b and a final stage copying from both",
            f"{both:.2f} s",
            f"{both / one:.2f}× one stage (goal ≤1.3×), {both / (a + b):.2f}× the sum",
        ),
    ]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    daemon = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}")
    rows: list[tuple[str, str, str]] = []
    try:
        daemon.berth("bootstrap", "busybox", check=True)
        ctxs = contexts(root)
        rows.extend(rows_for("berthd", [BERTH], ctxs, daemon.env))
        with dockerd(root / "dockerd") as docker_env:
            if docker_env is None:
                rows.append(("dockerd classic builder", "not installed", "—"))
            else:
                load_from_berth("busybox", daemon.env, docker_env)
                classic = {**docker_env, "DOCKER_BUILDKIT": "0"}
                rows.extend(rows_for("dockerd (docker.io, classic)", [DOCKER], ctxs, classic))
    finally:
        cleanup_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>13}  ratio / goal")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>13}  {ratio}")


if __name__ == "__main__":
    main()
