"""``exec`` latency and ``logs`` throughput (issue 3 goals), against the floors measurable here.

Rows: `berth exec CTR true` and `docker exec CTR true` against berthd (goal ≤ 30 ms; dockerd ≈ 80–110 ms,
podman ≈ 220 ms measured on these machines), next to `nsenter` into the same container (the kernel's
floor). `logs` of a ~100 MB json-file log through the API, next to reading the raw log and to parsing it
with Python's json line by line (the "API parser" floor); `logs -f` following a container that writes the same
amount while it runs.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from berth.testing.baselines import dockerd, load_from_berth  # noqa: E402
from berth.testing.daemon import BERTH, DOCKER, cleanup_daemon, start_daemon  # noqa: E402

RUNS = 20
LOG_MB = 100


def median_ms(argv: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        begun = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append((time.perf_counter() - begun) * 1000)
    return statistics.median(samples)


def timed_output(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds until ``argv`` exits, and the MB it wrote to stdout."""
    begun = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
    proc.wait()
    return time.perf_counter() - begun, size / 1e6


def read_seconds(files: list[Path]) -> float:
    begun = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    return time.perf_counter() - begun


def parse_seconds(files: list[Path]) -> float:
    begun = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            for line in f:
                json.loads(line)
    return time.perf_counter() - begun


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    daemon = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}")
    rows: list[tuple[str, str, str]] = []
    env = daemon.env
    try:
        daemon.berth("bootstrap", "busybox", check=True)
        daemon.berth("run", "-d", "--name", "target", "busybox", "sleep", "3600", check=True)
        pid = daemon.berth("inspect", "-f", "{{.State.Pid}}", "target", check=True).stdout.strip()
        floor = median_ms(["nsenter", "-t", pid, "-a", "true"], env)
        rows.append(("nsenter -t PID -a true (floor)", f"{floor:.1f} ms", "1.0×"))
        for cli, binary in (("berth", BERTH), ("docker CLI", DOCKER)):
            ms = median_ms([binary, "exec", "target", "true"], env)
            rows.append((f"{cli} exec CTR true", f"{ms:.1f} ms", f"{ms / floor:.1f}× floor (goal ≤30 ms)"))
        with dockerd(root / "dockerd") as docker_env:
            if docker_env is None:
                rows.append(("dockerd exec CTR true", "not installed", "—"))
            else:
                load_from_berth("busybox", env, docker_env)
                subprocess.run([DOCKER, "run", "-d", "--network", "none", "--name", "target", "busybox",
                                "sleep", "3600"], env=docker_env, capture_output=True, check=True)  # fmt: skip
                try:
                    ms = median_ms([DOCKER, "exec", "target", "true"], docker_env)
                    rows.append(
                        ("dockerd (docker.io) exec CTR true", f"{ms:.1f} ms", f"{ms / floor:.1f}× floor")
                    )
                finally:
                    subprocess.run([DOCKER, "rm", "-f", "target"], env=docker_env, capture_output=True)

        # 20 MB × 5 files is the default rotation: the log keeps the last ~100 MB of json.
        script = f"yes 'a log line of some sixty bytes, as programs print them......' | head -c {LOG_MB * 1024 * 1024}"
        daemon.berth("run", "-d", "--name", "chatty", "busybox", "sh", "-c", script, check=True)
        daemon.berth("wait", "chatty", check=True, timeout=600)
        log = Path(daemon.berth("inspect", "-f", "{{.LogPath}}", "chatty", check=True).stdout.strip())
        files = sorted(log.parent.glob(log.name + "*"))
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        read = read_seconds(files)
        parse = parse_seconds(files)
        rows.append((f"reading the raw json log ({size_mb:.0f} MB on disk, cached)", f"{read:.2f} s", "—"))
        rows.append(("Python json parse of the log (API parser floor)", f"{parse:.2f} s", "1.0×"))
        for cli, binary in (("berth", BERTH), ("docker CLI", DOCKER)):
            took, out_mb = timed_output([binary, "logs", "chatty"], env)
            rows.append((f"{cli} logs CTR ({out_mb:.0f} MB of output)", f"{took:.2f} s",
                         f"{parse / took:.2f}× the parse floor's speed, "
                         f"{read / took:.2f}× reading the file"))  # fmt: skip
        begun = time.perf_counter()
        daemon.berth("run", "-d", "--name", "follow", "busybox", "sh", "-c", script, check=True)
        follower = subprocess.Popen([BERTH, "logs", "-f", "follow"], env=env, stdout=subprocess.DEVNULL)
        follower.wait(timeout=600)
        took = time.perf_counter() - begun
        # The floor for following: parsing the json the container's 100 MB become (at the rate above).
        follow_floor = parse * (LOG_MB * 1.048576 / out_mb)
        rows.append((f"berth logs -f while the container writes {LOG_MB} MB", f"{took:.2f} s",
                     f"{LOG_MB / took:.0f} MB/s of output, "
                     f"{follow_floor / took:.2f}× the parse floor's speed"))  # fmt: skip
    finally:
        cleanup_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>10}  ratio / goal")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>10}  {ratio}")


if __name__ == "__main__":
    main()
