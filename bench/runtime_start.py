"""Container start latency and shim memory: ``python bench/runtime_start.py [runs]`` (root).

Prints create+start+wait for ``true`` in a busybox overlay rootfs (median of N runs), next to
``unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true`` measured in the same run,
and the shim's PSS (/proc/PID/smaps_rollup) while containers sleep, with the ratios.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "runtime"))

import contextlib

from runtime_helpers import make_busybox_rootfs, write_bundle  # noqa: E402

from berth.oci.mount import Mount  # noqa: E402
from berth.runtime import LinuxRuntime, cgroups  # noqa: E402
from berth.runtime.types import IOConfig  # noqa: E402


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.lower = make_busybox_rootfs(tmp / "lower")
        self.parent = f"berth-bench-{uuid.uuid4().hex[:6]}"
        self.rt = LinuxRuntime(tmp / "rt", cgroup_parent=self.parent)
        self.n = 0

    def create(self, args: list[str]) -> str:
        self.n += 1
        container_id = f"b{self.n}"
        base = self.tmp / container_id
        write_bundle(
            base / "bundle", args, container_id=container_id, cgroups_path=f"{self.parent}/{container_id}"
        )
        (base / "upper").mkdir()
        (base / "work").mkdir()
        opts = (f"lowerdir={self.lower}", f"upperdir={base / 'upper'}", f"workdir={base / 'work'}")
        self.rt.create(
            container_id,
            base / "bundle",
            rootfs=[Mount("overlay", "overlay", opts)],
            io=IOConfig(log_path=base / "log"),
        )
        return container_id

    async def run_true(self) -> float:
        t0 = time.perf_counter()
        container_id = self.create(["true"])
        self.rt.start(container_id)
        state = await self.rt.wait(container_id)
        elapsed = time.perf_counter() - t0
        if state.exit_code != 0:
            raise SystemExit(f"true exited {state.exit_code}: {state.error}")
        self.rt.delete(container_id)
        return elapsed

    def close(self) -> None:
        for container_id in self.rt.list():
            self.rt.delete(container_id, force=True)
        self.rt.close()
        with contextlib.suppress(OSError):
            cgroups.manager_for(self.parent).destroy()


async def main(runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    bench = Bench(tmp)
    try:
        for _ in range(3):
            await bench.run_true()  # warm up (starts the forkserver)
        ours = statistics.median([await bench.run_true() for _ in range(runs)])
        unshare = []
        cmd = [
            "unshare",
            "--fork",
            "--pid",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "chroot",
            str(bench.lower),
            "/bin/true",
        ]
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            unshare.append(time.perf_counter() - t0)
        base = statistics.median(unshare)
        sleepers = [bench.create(["sleep", "60"]) for _ in range(10)]
        for container_id in sleepers:
            bench.rt.start(container_id)
        time.sleep(0.5)
        shim_pids = []
        for container_id in sleepers:
            state = (bench.rt.root / container_id / "state.json").read_text()
            shim_pids.append(int(state.split('"shim_pid":')[1].split(",")[0]))
        pss_one = pss_kb(shim_pids[0])
        pss_avg = sum(pss_kb(p) for p in shim_pids) / len(shim_pids)
        forkserver = bench.rt._forkserver
        fs_pss = pss_kb(forkserver.pid) if forkserver else 0
        print(f"{'measure':<58} {'value':>10}")
        label = f"berth create+start+wait `true` (median of {runs})"
        print(f"{label:<58} {ours * 1000:>8.1f}ms")
        print(f"{'unshare --fork --pid --mount --uts --ipc --net chroot':<58} {base * 1000:>8.1f}ms")
        print(f"{'ratio berth / unshare':<58} {ours / base:>9.2f}x")
        print(f"{'shim PSS, first of 10 sleeping containers':<58} {pss_one / 1024:>8.2f}MB")
        print(f"{'shim PSS, mean of 10 sleeping containers':<58} {pss_avg / 1024:>8.2f}MB")
        print(f"{'forkserver PSS (shared by all shims)':<58} {fs_pss / 1024:>8.2f}MB")
        print(f"{'ratio shim PSS / 1 MB goal':<58} {pss_avg / 1024:>9.2f}x")
    finally:
        bench.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
