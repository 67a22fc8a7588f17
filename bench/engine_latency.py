"""Container start latency, CLI latency and per-container memory, against the floors we can measure here.

Rows: `berth run --rm busybox true` and `docker run --rm busybox true` against berthd, on the default
bridge network and with `--network none`; `berth ps -q` and `docker ps -q` (wall time, and CPU time,
which the shared machine's load disturbs less) with their ratio; `berth exec` and `docker exec` into
an idle container; the cost of Docker's default seccomp profile on run and exec (against
`seccomp=unconfined`, alternated; goal ≤ 1.05×, issue 11) and of `--userns-remap` (a second daemon,
alternated; goal ≤ 1.10×); the monitor's PSS per idle container. Floors measured in the same run: `unshare … chroot
ROOTFS /bin/true` (the kernel's cost), and dockerd/podman when installed (started with
--iptables=false / --network none, stopped by PID). Goals (issue 2): run ≤ 100 ms and ≤ 20× unshare;
ps -q ≤ 30 ms; ≤ 1 MB PSS per idle container.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from berth.testing.baselines import dockerd, load_from_berth  # noqa: E402
from berth.testing.daemon import BERTH, DOCKER, cleanup_daemon, shim_pids, start_daemon  # noqa: E402

RUNS = 20
ALTERNATIONS = 60  # for the small ratios (seccomp, userns): 20 runs left them to the noise


def median_ms(argv: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        begun = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True)
        samples.append((time.perf_counter() - begun) * 1000)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode().strip()}")
    return statistics.median(samples)


def median_ms_and_cpu(argv: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    """(median wall ms, median CPU ms of the child: user + system) over ``runs`` runs."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        begun = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True)
        walls.append((time.perf_counter() - begun) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode().strip()}")
    return statistics.median(walls), statistics.median(cpus)


def python_floor() -> float:
    """CPU ms of ``python -S -c pass``: the interpreter with no site-packages, the floor of any Python CLI."""
    return median_ms_and_cpu([sys.executable, "-S", "-c", "pass"], {}, runs=20)[1]


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def seccomp_cost(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """Docker's default seccomp profile against none, on run and on exec (goal: ≤ 5%), measured
    alternately so that the machine's drift falls on both sides alike."""
    base = [BERTH, "run", "--rm", "--network", "none"]
    samples: dict[str, list[float]] = {"default": [], "unconfined": []}
    for _ in range(ALTERNATIONS):
        samples["default"].append(median_ms([*base, "busybox", "true"], env, runs=1))
        samples["unconfined"].append(
            median_ms([*base, "--security-opt", "seccomp=unconfined", "busybox", "true"], env, runs=1)
        )
    run_on, run_off = (statistics.median(samples[k]) for k in ("default", "unconfined"))
    subprocess.run([BERTH, "run", "-d", "--name", "sc-on", "busybox", "sleep", "600"], env=env, check=True)
    subprocess.run(
        [
            BERTH,
            "run",
            "-d",
            "--name",
            "sc-off",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sleep",
            "600",
        ],
        env=env,
        check=True,
    )
    on, off = [], []
    for _ in range(ALTERNATIONS):
        on.append(median_ms([BERTH, "exec", "sc-on", "true"], env, runs=1))
        off.append(median_ms([BERTH, "exec", "sc-off", "true"], env, runs=1))
    exec_on, exec_off = statistics.median(on), statistics.median(off)
    return [
        (
            "berth run --rm --network none (seccomp default)",
            f"{run_on:.1f} ms",
            f"{run_on / run_off:.2f}× unconfined (goal ≤1.05×)",
        ),
        ("berth run --rm --network none (seccomp=unconfined)", f"{run_off:.1f} ms", "1.00×"),
        (
            "berth exec true (seccomp default)",
            f"{exec_on:.1f} ms",
            f"{exec_on / exec_off:.2f}× unconfined (goal ≤1.05×)",
        ),
        ("berth exec true (seccomp=unconfined)", f"{exec_off:.1f} ms", "1.00×"),
    ]


def userns_cost(root: Path, plain_env: dict[str, str]) -> list[tuple[str, str, str]]:
    """`run --rm --network none` on a daemon with --userns-remap default (idmapped layers) against the
    plain one, alternated (goal: within 10%, issue 11)."""
    root.mkdir()
    remapped = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}", extra=["--userns-remap", "default"])
    try:
        remapped.berth("bootstrap", "busybox", check=True)
        argv = [BERTH, "run", "--rm", "--network", "none", "busybox", "true"]
        on, off = [], []
        for _ in range(ALTERNATIONS):
            on.append(median_ms(argv, remapped.env, runs=1))
            off.append(median_ms(argv, plain_env, runs=1))
        remap_ms, plain_ms = statistics.median(on), statistics.median(off)
    finally:
        cleanup_daemon(remapped)
    return [
        (
            "berth run --rm --network none (--userns-remap default)",
            f"{remap_ms:.1f} ms",
            f"{remap_ms / plain_ms:.2f}× without (goal ≤1.10×)",
        ),
    ]


def unshare_floor(rootfs: Path) -> float:
    argv = [
        "unshare",
        "--fork",
        "--pid",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "chroot",
        str(rootfs),
        "/bin/true",
    ]
    return median_ms(argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    daemon = start_daemon(root, f"berth-bench-{uuid.uuid4().hex[:8]}")
    rows: list[tuple[str, str, str]] = []
    berth_none = float("nan")
    try:
        daemon.berth("bootstrap", "busybox", check=True)
        rootfs = root / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy("/usr/bin/busybox", rootfs / "bin" / "busybox")
        (rootfs / "bin" / "true").symlink_to("busybox")
        floor = unshare_floor(rootfs)
        rows.append(("unshare … chroot ROOTFS /bin/true (floor)", f"{floor:.1f} ms", "1.0×"))
        # The default network is the bridge (a namespace, a veth pair, an address); --network none is
        # the floor's own setup (a new empty namespace) and what the dockerd/podman baselines use.
        for cli, argv in (("berth", [BERTH]), ("docker CLI", [DOCKER])):
            for network in ([], ["--network", "none"]):
                ms = median_ms([*argv, "run", "--rm", *network, "busybox", "true"], daemon.env)
                if cli == "berth" and network:
                    berth_none = ms
                rows.append(
                    (
                        f"{cli} run --rm {' '.join(network) + ' ' if network else ''}busybox true",
                        f"{ms:.1f} ms",
                        f"{ms / floor:.1f}× floor (goal ≤100 ms, ≤20×)",
                    )
                )
        rows.extend(seccomp_cost(daemon.env))
        rows.extend(userns_cost(root / "remapped", daemon.env))
        ps_ms: dict[str, tuple[float, float]] = {}
        for cli, argv in (("berth", [BERTH]), ("docker CLI", [DOCKER])):
            ps_ms[cli] = median_ms_and_cpu([*argv, "ps", "-q"], daemon.env, runs=40)
            wall, cpu = ps_ms[cli]
            rows.append((f"{cli} ps -q", f"{wall:.1f} ms", f"CPU {cpu:.1f} ms; goal ≤30 ms"))
        (b_wall, b_cpu), (d_wall, d_cpu) = ps_ms["berth"], ps_ms["docker CLI"]
        rows.append(
            (
                "berth ps -q / docker ps -q",
                f"{b_wall / d_wall:.2f}×",
                f"CPU {b_cpu / d_cpu:.2f}× (goal ≤1.0×; python -S start-up alone: {python_floor():.1f} ms CPU)",
            )
        )
        daemon.berth("run", "-d", "--name", "execbox", "busybox", "sleep", "600", check=True)
        for cli, argv in (("berth", [BERTH]), ("docker CLI", [DOCKER])):
            wall, cpu = median_ms_and_cpu([*argv, "exec", "execbox", "true"], daemon.env, runs=20)
            rows.append((f"{cli} exec execbox true", f"{wall:.1f} ms", f"CPU {cpu:.1f} ms"))
        for i in range(5):
            daemon.berth("run", "-d", "--name", f"idle{i}", "busybox", "sleep", "600", check=True)
        time.sleep(0.5)
        pss = [pss_kb(pid) for pid in shim_pids(daemon.exec_root)]
        if pss:
            rows.append(
                (
                    "monitor (shim) PSS per idle container",
                    f"{statistics.median(pss) / 1024:.2f} MB",
                    "goal ≤1 MB (containerd-shim ≈3 MB, conmon ≈0.4 MB)",
                )
            )
        with dockerd(root / "dockerd") as docker_env:
            if docker_env is None:
                rows.append(("dockerd run --rm --network none busybox true", "not installed", "—"))
            else:
                load_from_berth("busybox", daemon.env, docker_env)
                ms = median_ms([DOCKER, "run", "--rm", "--network", "none", "busybox", "true"], docker_env)
                rows.append(
                    (
                        "dockerd (docker.io) run --rm --network none busybox true",
                        f"{ms:.1f} ms",
                        f"{ms / floor:.1f}× floor; berth is {ms / berth_none:.1f}× faster",
                    )
                )
        if not shutil.which("podman"):
            rows.append(("podman run --rm busybox true", "not installed", "—"))
    finally:
        cleanup_daemon(daemon)
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median':>12}  ratio / goal")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>12}  {ratio}")


if __name__ == "__main__":
    main()
