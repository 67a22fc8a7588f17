"""Baseline engines for the benchmarks: a throwaway dockerd (Debian's docker.io), when installed.

Started as the house rules say — ``--iptables=false --ip6tables=false``, no bridge, its own data and
exec roots under a temporary directory, its cgroups under ``berth-bench-dockerd`` — and stopped by PID
when the benchmark ends, with whatever it mounted unmounted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from berth.testing.daemon import BERTH, DOCKER, unmount_under

_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def dockerd(root: Path) -> Iterator[dict[str, str] | None]:
    """The environment for the docker CLI to reach a fresh dockerd, or None when none is installed."""
    binary = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    if binary is None:
        yield None
        return
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    argv = [
        binary, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "-H", f"unix://{sock}", "--pidfile", str(root / "dockerd.pid"),
        "--iptables=false", "--ip6tables=false", "--bridge=none",
        "--cgroup-parent", "berth-bench-dockerd", "--log-level", "error",
    ]  # fmt: skip
    _become_subreaper()  # containerd's shims daemonize: reparented to us, not to an init that never reaps
    with open(root / "dockerd.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(root / "client")}
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start: {(root / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield env
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _reap_orphans()
        unmount_under(root)


def load_from_berth(image: str, berth_env: Mapping[str, str], docker_env: Mapping[str, str]) -> None:
    """Give dockerd one of berthd's images: ``berth save | docker load`` (Docker's archive format)."""
    saved = subprocess.run([BERTH, "save", image], env=berth_env, capture_output=True, check=True)
    subprocess.run([DOCKER, "load"], env=docker_env, input=saved.stdout, capture_output=True, check=True)


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans() -> None:
    """Collect the exited shims that were reparented to us (only zombies: live children are someone's)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, ChildProcessError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z" and fields[1] == me:
                os.waitpid(int(stat.parent.name), os.WNOHANG)
