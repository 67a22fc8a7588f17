"""The store with many objects: ``python bench/store_check.py [containers] [images]`` (root).

Makes N containers (created, never started; default 1,000) and M images (imported one-file tars;
default 200) in a fresh berthd, then times what must stay quick with them (medians of 5): the quick
``system check`` berthd runs at start (goal ≤ 1 s), ``ps -a`` through the API (goal ≤ 100 ms), and a
daemon restart until ``ps`` answers (goal ≤ 3 s), and the start of a container among them against
the start of one in the empty daemon (goal ≤ 1.5×). The baseline row is the same ``ps`` with no
containers: the cost the store adds.
"""

from __future__ import annotations

import io
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.client.api import APIClient  # noqa: E402
from berth.testing.daemon import cleanup_daemon, start_daemon, stop_daemon  # noqa: E402


def _tar(text: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("file.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


def median_s(action: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        begun = time.perf_counter()
        action()
        times.append(time.perf_counter() - begun)
    return statistics.median(times)


def start_s(client: APIClient, prefix: str, runs: int = 5) -> float:
    """Median time of ``POST /containers/ID/start`` of a new container (each removed after)."""
    times = []
    for index in range(runs):
        made = client.post_json(
            "/containers/create", {"name": f"{prefix}{index}"}, {"Image": "busybox", "Cmd": ["sleep", "60"]}
        )
        begun = time.perf_counter()
        client.request("POST", f"/containers/{made['Id']}/start").read()
        times.append(time.perf_counter() - begun)
        client.request("DELETE", f"/containers/{made['Id']}", {"force": "1"}).read()
    return statistics.median(times)


def main() -> None:
    containers = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    images = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    cgroup = f"berth-bench-{uuid.uuid4().hex[:8]}"
    daemon = start_daemon(root, cgroup)
    rows: list[tuple[str, float, str]] = []
    try:
        daemon.berth("bootstrap", "busybox", check=True)
        client = APIClient(daemon.host)
        empty_ps = median_s(lambda: client.get_json("/containers/json", {"all": "1"}))
        start_s(client, "warm")  # the first start of all pays for imports and caches
        first_start = start_s(client, "first")
        begun = time.perf_counter()
        for index in range(images):
            params = {"fromSrc": "-", "repo": f"img{index}", "tag": "1"}
            client.request("POST", "/images/create", params, body=_tar(f"image {index}\n")).read()
        for index in range(containers):
            client.post_json(
                "/containers/create", {"name": f"c{index}"}, {"Image": "busybox", "Cmd": ["true"]}
            )
        made = time.perf_counter() - begun
        rows.append(("quick system check", median_s(lambda: client.post_json("/system/check")), "≤ 1 s"))
        rows.append(
            ("ps -a (API)", median_s(lambda: client.get_json("/containers/json", {"all": "1"})), "≤ 100 ms")
        )
        later_start = start_s(client, "later")
        client.close()

        def restart() -> None:
            stop_daemon(daemon)
            daemon.process = start_daemon(root, cgroup).process
            with APIClient(daemon.host) as fresh:
                fresh.get_json("/containers/json", {"all": "1"})

        rows.append(("restart until ps answers", median_s(restart, runs=3), "≤ 3 s"))
    finally:
        cleanup_daemon(daemon)
    print(f"{containers} containers, {images} images (made in {made:.1f} s); medians")
    print(f"{'measurement':<28} {'time':>9}  goal")
    print(f"{'ps -a, no containers (base)':<28} {empty_ps * 1000:>7.1f}ms")
    for name, seconds, goal in rows:
        print(f"{name:<28} {seconds * 1000:>7.1f}ms  {goal}  ({seconds / empty_ps:.0f}× the base)")
    print(f"{'start, no other containers':<28} {first_start * 1000:>7.1f}ms")
    print(f"{f'start, {containers} others there':<28} {later_start * 1000:>7.1f}ms  ≤ 1.5×  "
          f"({later_start / first_start:.2f}× the first's)")  # fmt: skip


if __name__ == "__main__":
    main()
