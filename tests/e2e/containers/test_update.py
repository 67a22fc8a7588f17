"""``docker update`` (POST /containers/{id}/update): limits written to a live container's cgroup, stored
in its HostConfig (kept across a restart of the container and of the daemon), and dockerd's errors."""

from __future__ import annotations

import json
import time
from typing import Any

import docker
import pytest

from berth.runtime.cgroups.sysinfo import probe
from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(probe().version != 1, reason="these read the cgroup v1 files (this host's layout)"),
]

MEM = "/sys/fs/cgroup/memory/"
CPU = "/sys/fs/cgroup/cpu/"


def _cat(berthd: Daemon, container: str, *paths: str) -> list[str]:
    result = berthd.docker("exec", container, "cat", *paths)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _host_config(berthd: Daemon, container: str) -> dict[str, Any]:
    result = berthd.docker("inspect", container)
    assert result.returncode == 0, result.stderr
    host: dict[str, Any] = json.loads(result.stdout)[0]["HostConfig"]
    return host


def _post_update(berthd: Daemon, container: str, body: dict[str, Any]) -> Any:
    api = docker.APIClient(base_url=berthd.host, timeout=60)
    return api._result(api._post_json(api._url("/containers/{0}/update", container), data=body), json=True)


def test_update_a_running_container_live_and_stored(berthd: Daemon, busybox_image: str) -> None:
    started = berthd.docker("run", "-d", "--name", "upd", "-m", "64m", busybox_image, "sleep", "300")
    assert started.returncode == 0, started.stderr
    result = berthd.docker(
        "update", "-m", "96m", "--memory-swap", "192m", "--memory-reservation", "48m", "--cpus", "0.5",
        "--cpu-shares", "512", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "33",
        "--restart", "on-failure:3", "upd",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upd"
    assert _cat(
        berthd, "upd", MEM + "memory.limit_in_bytes", MEM + "memory.memsw.limit_in_bytes",
        MEM + "memory.soft_limit_in_bytes", CPU + "cpu.cfs_quota_us", CPU + "cpu.cfs_period_us", CPU + "cpu.shares",
        "/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset/cpuset.mems", "/sys/fs/cgroup/pids/pids.max",
    ) == [str(96 << 20), str(192 << 20), str(48 << 20), "50000", "100000", "512", "0", "0", "33"]  # fmt: skip
    host = _host_config(berthd, "upd")
    assert (host["Memory"], host["MemorySwap"], host["MemoryReservation"]) == (96 << 20, 192 << 20, 48 << 20)
    assert (host["NanoCpus"], host["CpuShares"], host["CpusetCpus"], host["PidsLimit"]) == (
        5 * 10**8,
        512,
        "0",
        33,
    )
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    # The stored values make the next start's cgroup.
    assert berthd.docker("restart", "-t", "0", "upd").returncode == 0
    assert _cat(berthd, "upd", MEM + "memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max") == [
        str(96 << 20),
        "33",
    ]
    # …and a new daemon reads them from the record.
    stop_daemon(berthd)
    again = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = again.process
    host = _host_config(berthd, "upd")
    assert (host["Memory"], host["PidsLimit"], host["RestartPolicy"]["Name"]) == (96 << 20, 33, "on-failure")
    assert _cat(berthd, "upd", CPU + "cpu.shares") == ["512"]
    # The new daemon updates the container it picked up (live restore) as well.
    assert berthd.docker("update", "--cpu-shares", "700", "upd").returncode == 0
    assert _cat(berthd, "upd", CPU + "cpu.shares") == ["700"]


def test_update_cpu_quota_period_and_blkio_weight_answer(berthd: Daemon, busybox_image: str) -> None:
    assert berthd.docker("run", "-d", "--name", "quota", busybox_image, "sleep", "300").returncode == 0
    answer = _post_update(berthd, "quota", {"CpuQuota": 30000, "CpuPeriod": 60000})
    assert answer == {"Warnings": []}
    assert _cat(berthd, "quota", CPU + "cpu.cfs_quota_us", CPU + "cpu.cfs_period_us") == ["30000", "60000"]
    if not probe().blkio_weight:
        answer = _post_update(berthd, "quota", {"BlkioWeight": 300})
        assert answer == {
            "Warnings": [
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
            ]
        }
        assert _host_config(berthd, "quota")["BlkioWeight"] == 0


def test_lowering_the_memory_limit_gets_a_growing_process_oom_killed(
    berthd: Daemon, busybox_image: str
) -> None:
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; x=$(head -c 60000000 /dev/zero | tr '\\0' a); sleep 300"
    )
    started = berthd.docker("run", "-d", "--name", "hog", "-m", "256m", busybox_image, "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    result = berthd.docker("update", "-m", "20m", "--memory-swap", "20m", "hog")
    assert result.returncode == 0, result.stderr
    assert _cat(berthd, "hog", MEM + "memory.limit_in_bytes") == [str(20 << 20)]
    assert berthd.docker("exec", "hog", "touch", "/tmp/go").returncode == 0
    waited = berthd.docker("wait", "hog", timeout=60)
    assert waited.stdout.strip() == "137"
    assert berthd.docker("inspect", "-f", "{{.State.OOMKilled}}", "hog").stdout.strip() == "true"


def test_update_a_stopped_container_applies_at_its_next_start(berthd: Daemon, busybox_image: str) -> None:
    assert berthd.docker("create", "--name", "stopped", busybox_image, "sleep", "300").returncode == 0
    result = berthd.docker("update", "--cpu-shares", "300", "--pids-limit", "12", "stopped")
    assert result.returncode == 0, result.stderr
    assert (_host_config(berthd, "stopped")["CpuShares"], _host_config(berthd, "stopped")["PidsLimit"]) == (
        300,
        12,
    )
    assert berthd.docker("start", "stopped").returncode == 0
    assert _cat(berthd, "stopped", CPU + "cpu.shares", "/sys/fs/cgroup/pids/pids.max") == ["300", "12"]


def test_update_errors(berthd: Daemon, busybox_image: str) -> None:
    assert (
        berthd.docker("run", "-d", "--name", "errs", "-m", "32m", busybox_image, "sleep", "300").returncode
        == 0
    )
    container_id = berthd.docker("inspect", "-f", "{{.Id}}", "errs").stdout.strip()
    result = berthd.docker("update", "-m", "128m", "errs")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error response from daemon: Cannot update container {container_id}: Memory limit should be smaller "
        "than already set memoryswap limit, update the memoryswap at the same time"
    )
    assert _host_config(berthd, "errs")["Memory"] == 32 << 20  # nothing changed
    assert berthd.docker("run", "-d", "--rm", "--name", "rm", busybox_image, "sleep", "300").returncode == 0
    rm_id = berthd.docker("inspect", "-f", "{{.Id}}", "rm").stdout.strip()
    result = berthd.docker("update", "--restart", "always", "rm")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error response from daemon: Cannot update container {rm_id}: Restart policy cannot be updated "
        "because AutoRemove is enabled for the container"
    )
    result = berthd.docker("update", "--cpu-shares", "100", "nosuch")
    assert result.returncode == 1
    assert "No such container: nosuch" in result.stderr
    with pytest.raises(docker.errors.APIError) as caught:
        _post_update(berthd, "errs", {"RestartPolicy": {"Name": "sometimes"}})
    assert caught.value.status_code == 400
    assert "invalid restart policy: unknown policy 'sometimes'" in str(caught.value.explanation)
    with pytest.raises(docker.errors.APIError) as caught:
        _post_update(berthd, "errs", {"Memory": "lots"})
    assert caught.value.status_code == 400
    with pytest.raises(docker.errors.NotFound):
        _post_update(berthd, "nosuch", {"CpuShares": 100})


def test_docker_py_container_update(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=60)
    container = client.containers.run(busybox_image, ["sleep", "300"], detach=True, mem_limit="64m")
    answer = container.update(mem_limit="80m", memswap_limit="160m", cpu_quota=40000, cpu_period=100000)
    assert answer == {"Warnings": []}
    assert _cat(berthd, container.id, MEM + "memory.limit_in_bytes", CPU + "cpu.cfs_quota_us") == [
        str(80 << 20),
        "40000",
    ]
    container.reload()
    assert (container.attrs["HostConfig"]["Memory"], container.attrs["HostConfig"]["CpuQuota"]) == (
        80 << 20,
        40000,
    )
    events = client.events(
        since=int(time.time()) - 60, until=int(time.time()) + 1, decode=True, filters={"event": "update"}
    )
    assert any(e.get("Actor", {}).get("ID") == container.id for e in events)
