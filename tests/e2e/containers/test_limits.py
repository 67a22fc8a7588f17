"""Resource limits through cgroups: memory (OOM → 137 and OOMKilled), CPU quota and shares, pids."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


def test_memory_limit_oom_kill_is_exit_137_and_recorded(berthd: Daemon, busybox_image: str) -> None:
    result = berthd.berth(
        "run", "--name", "hog", "-m", "16m", "--memory-swap", "16m", busybox_image,
        "sh", "-c", "x=a; while true; do x=$x$x; done",
    )  # fmt: skip
    assert result.returncode == 137
    inspected = json.loads(berthd.berth("inspect", "hog").stdout)[0]
    assert inspected["State"]["OOMKilled"] is True
    assert inspected["State"]["ExitCode"] == 137
    assert berthd.berth("inspect", "-f", "{{.State.OOMKilled}}", "hog").stdout.strip() == "true"


def test_pids_limit_stops_fork_bombs(berthd: Daemon, busybox_image: str) -> None:
    result = berthd.berth(
        "run", "--rm", "--pids-limit", "8", busybox_image, "sh", "-c",
        "cat /sys/fs/cgroup/pids/pids.max; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; echo unreachable",
    )  # fmt: skip
    assert result.stdout.splitlines()[0] == "8"
    assert "unreachable" not in result.stdout
    assert "can't fork" in result.stderr or "Resource temporarily unavailable" in result.stderr


def _cgroup_file(berthd: Daemon, container: str, v1_path: str) -> str:
    result = berthd.berth("exec", container, "cat", v1_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_cpu_quota_and_shares_reach_the_cgroup(berthd: Daemon, busybox_image: str) -> None:
    started = berthd.berth(
        "run", "-d", "--name", "cpu", "--cpus", "0.5", "--cpu-shares", "512", busybox_image, "sleep", "30"
    )
    assert started.returncode == 0, started.stderr
    assert _cgroup_file(berthd, "cpu", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us") == "50000"
    assert _cgroup_file(berthd, "cpu", "/sys/fs/cgroup/cpu/cpu.shares") == "512"


def test_stats_reads_the_cgroup(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "st", "-m", "64m", busybox_image, "sleep", "30", check=True)
    result = berthd.berth("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "st")
    assert result.returncode == 0, result.stderr
    name, usage = result.stdout.split(" ", 1)
    assert name == "st"
    assert "64MiB" in usage
