"""Create-time resource limits, checked in the container's own cgroup files (the cgroup namespace shows
each v1 hierarchy's container cgroup at /sys/fs/cgroup/<controller>), and dockerd's warnings and errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from berth.runtime.cgroups.base import self_cgroups
from berth.runtime.cgroups.sysinfo import probe
from tests.e2e.conftest import Daemon

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(probe().version != 1, reason="these read the cgroup v1 files (this host's layout)"),
]


def _api(berthd: Daemon) -> docker.APIClient:
    return docker.APIClient(base_url=berthd.host, timeout=60)


def _create(berthd: Daemon, image: str, host_config: dict[str, Any], cmd: list[str] | None = None) -> Any:
    """POST /containers/create with a raw HostConfig; the decoded answer (raises APIError on 4xx)."""
    api = _api(berthd)
    body = {"Image": image, "Cmd": cmd or ["sleep", "60"], "HostConfig": host_config}
    return api._result(api._post_json(api._url("/containers/create"), data=body), json=True)


def _refused(berthd: Daemon, image: str, host_config: dict[str, Any]) -> str:
    with pytest.raises(docker.errors.APIError) as caught:
        _create(berthd, image, host_config)
    assert caught.value.status_code == 400, caught.value
    return str(caught.value.explanation)


def _cat(berthd: Daemon, container: str, *paths: str) -> list[str]:
    result = berthd.docker("exec", container, "cat", *paths)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _run(berthd: Daemon, name: str, *flags: str, image: str) -> None:
    result = berthd.docker("run", "-d", "--name", name, *flags, image, "sleep", "60")
    assert result.returncode == 0, result.stderr


def test_memory_reservation_swappiness_oom_kill_disable_kernel_tcp(
    berthd: Daemon, busybox_image: str
) -> None:
    _run(
        berthd, "mem", "-m", "64m", "--memory-reservation", "32m", "--memory-swappiness", "7",
        "--oom-kill-disable", image=busybox_image,
    )  # fmt: skip
    reservation, swappiness = _cat(
        berthd,
        "mem",
        "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.swappiness",
    )
    assert (reservation, swappiness) == (str(32 << 20), "7")
    assert "oom_kill_disable 1" in _cat(berthd, "mem", "/sys/fs/cgroup/memory/memory.oom_control")
    # Docker's default swap (twice the memory) is in the cgroup and in the stored HostConfig.
    assert _cat(berthd, "mem", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") == [str(128 << 20)]
    host = json.loads(berthd.docker("inspect", "mem").stdout)[0]["HostConfig"]
    assert (host["MemoryReservation"], host["MemorySwappiness"], host["OomKillDisable"]) == (
        32 << 20,
        7,
        True,
    )
    assert host["MemorySwap"] == 128 << 20


def test_kernel_memory_tcp(berthd: Daemon, busybox_image: str) -> None:
    """The docker CLI has no flag for it: the API field. Written where cgroup v1 has the file."""
    created = _create(berthd, busybox_image, {"KernelMemoryTCP": 16 << 20})
    if not probe().kernel_memory_tcp:
        assert created["Warnings"] == [
            "Your kernel does not support kernel memory TCP limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        ]
        return
    assert created["Warnings"] == []
    _api(berthd).start(created["Id"])
    assert _cat(berthd, created["Id"], "/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes") == [
        str(16 << 20)
    ]
    assert _api(berthd).inspect_container(created["Id"])["HostConfig"]["KernelMemoryTCP"] == 16 << 20


def test_memory_errors_and_warnings(berthd: Daemon, busybox_image: str) -> None:
    message = _refused(berthd, busybox_image, {"Memory": 64 << 20, "MemorySwappiness": 101})
    assert message == "Invalid value: 101, valid memory swappiness range is 0-100"
    assert _refused(berthd, busybox_image, {"MemoryReservation": 1 << 20}) == (
        "Minimum memory reservation allowed is 6MB"
    )
    assert _refused(berthd, busybox_image, {"Memory": 16 << 20, "MemoryReservation": 32 << 20}) == (
        "Minimum memory limit can not be less than memory reservation limit, see usage"
    )
    assert _refused(berthd, busybox_image, {"MemorySwap": 64 << 20}) == (
        "You should always set the Memory limit when using Memoryswap limit, see usage"
    )
    created = _create(berthd, busybox_image, {"OomKillDisable": True})
    assert created["Warnings"] == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result in the "
        "system running out of resources."
    ]
    # The docker CLI prints the daemon's warnings.
    result = berthd.docker("create", "--oom-kill-disable", busybox_image, "true")
    assert result.returncode == 0
    assert "OOM killer is disabled for the container, but no memory limit is set" in result.stderr


def test_cpu_cfs_realtime_and_cpuset(berthd: Daemon, busybox_image: str) -> None:
    _run(
        berthd, "cpu", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpu-rt-period", "100000",
        "--cpu-rt-runtime", "10000", "--cpuset-cpus", "0", "--cpuset-mems", "0", image=busybox_image,
    )  # fmt: skip
    values = _cat(
        berthd, "cpu", "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "/sys/fs/cgroup/cpu/cpu.rt_period_us", "/sys/fs/cgroup/cpu/cpu.rt_runtime_us",
        "/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset/cpuset.mems",
    )  # fmt: skip
    assert values == ["50000", "25000", "100000", "10000", "0", "0"]
    assert berthd.docker("exec", "cpu", "grep", "Cpus_allowed_list", "/proc/self/status").stdout.split() == [
        "Cpus_allowed_list:",
        "0",
    ]
    _run(berthd, "nano", "--cpus", "1.5", "--cpu-shares", "256", image=busybox_image)
    assert _cat(
        berthd, "nano", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
        "/sys/fs/cgroup/cpu/cpu.shares",
    ) == ["150000", "100000", "256"]  # fmt: skip


def test_cpu_errors(berthd: Daemon, busybox_image: str) -> None:
    available = probe().cpus
    result = berthd.docker("run", "--rm", "--cpuset-cpus", "0-63", busybox_image, "true")
    assert result.returncode == 125
    assert f"Requested CPUs are not available - requested 0-63, available: {available}" in result.stderr
    assert _refused(berthd, busybox_image, {"CpusetMems": "5"}) == (
        f"Requested memory nodes are not available - requested 5, available: {probe().mems}"
    )
    assert _refused(berthd, busybox_image, {"CpusetCpus": "zero"}) == (
        "Invalid value zero for cpuset cpus: invalid format: zero"
    )
    assert _refused(berthd, busybox_image, {"CpuPeriod": 500}) == (
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
    )
    assert (
        _refused(berthd, busybox_image, {"CpuQuota": 500})
        == "CPU cfs quota can not be less than 1ms (i.e. 1000)"
    )
    assert _refused(berthd, busybox_image, {"NanoCpus": 10**9, "CpuPeriod": 100000}) == (
        "Conflicting options: Nano CPUs and CPU Period cannot both be set"
    )
    assert _refused(berthd, busybox_image, {"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 5000}) == (
        "cpu real-time runtime cannot be higher than cpu real-time period"
    )


def _disk() -> tuple[str, str]:
    """A block device of this host and its major:minor (the disk of /, else a loop device)."""
    device = os.stat("/").st_dev
    for entry in sorted(Path("/sys/dev/block").iterdir()):
        if entry.name == f"{os.major(device)}:{os.minor(device)}":
            name = (entry / "uevent").read_text().split("DEVNAME=")[1].split()[0]
            return f"/dev/{name}", entry.name
    pytest.skip("no block device under / to throttle")


def test_block_io_throttles_reach_the_cgroup(berthd: Daemon, busybox_image: str) -> None:
    path, numbers = _disk()
    _run(
        berthd, "io", "--device-read-bps", f"{path}:1mb", "--device-write-bps", f"{path}:2mb",
        "--device-read-iops", f"{path}:100", "--device-write-iops", f"{path}:200", image=busybox_image,
    )  # fmt: skip
    base = "/sys/fs/cgroup/blkio/blkio.throttle."
    assert _cat(
        berthd, "io", base + "read_bps_device", base + "write_bps_device", base + "read_iops_device",
        base + "write_iops_device",
    ) == [f"{numbers} {1 << 20}", f"{numbers} {2 << 20}", f"{numbers} 100", f"{numbers} 200"]  # fmt: skip
    host = json.loads(berthd.docker("inspect", "io").stdout)[0]["HostConfig"]
    assert host["BlkioDeviceReadBps"] == [{"Path": path, "Rate": 1 << 20}]
    # A path that is not there fails the start, with the stat error.
    result = berthd.docker("run", "--rm", "--device-read-bps", "/dev/berth-none:1mb", busybox_image, "true")
    assert result.returncode != 0
    assert "stat /dev/berth-none: no such file or directory" in result.stderr


def test_blkio_weight_without_a_weight_file_is_discarded_with_dockers_warning(
    berthd: Daemon, busybox_image: str
) -> None:
    if probe().blkio_weight:
        pytest.skip("this kernel has blkio.weight (CFQ/BFQ): the weight is applied")
    path, _ = _disk()
    created = _create(
        berthd, busybox_image, {"BlkioWeight": 300, "BlkioWeightDevice": [{"Path": path, "Weight": 200}]}
    )
    assert created["Warnings"] == [
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
        "Weight-device discarded.",
    ]
    host = _api(berthd).inspect_container(created["Id"])["HostConfig"]
    assert (host["BlkioWeight"], host["BlkioWeightDevice"]) == (0, [])


def test_blkio_weight_range_when_supported(berthd: Daemon, busybox_image: str) -> None:
    if not probe().blkio_weight:
        pytest.skip("no blkio.weight here: dockerd discards the weight before checking its range")
    assert _refused(berthd, busybox_image, {"BlkioWeight": 5}) == "Range of blkio weight is from 10 to 1000"


def test_windows_only_fields_as_dockerd_on_linux(berthd: Daemon, busybox_image: str) -> None:
    assert _refused(berthd, busybox_image, {"IOMaximumBandwidth": 1000}) == (
        "Invalid QoS settings: linux does not support configuration of maximum bandwidth"
    )
    assert _refused(berthd, busybox_image, {"IOMaximumIOps": 10}) == (
        "Invalid QoS settings: linux does not support configuration of maximum IOPs"
    )
    created = _create(berthd, busybox_image, {"CpuPercent": 50, "CpuCount": 2})
    assert created["Warnings"] == [
        "linux does not support CPU percent. Percent discarded.",
        "linux does not support CPU count. Count discarded.",
    ]
    host = _api(berthd).inspect_container(created["Id"])["HostConfig"]
    assert (host["CpuPercent"], host["CpuCount"]) == (0, 0)


def test_wrong_json_types_are_400s(berthd: Daemon, busybox_image: str) -> None:
    message = _refused(berthd, busybox_image, {"Memory": "lots"})
    assert "cannot unmarshal string into Go struct field" in message and "Memory" in message
    for bad in (
        {"CpusetCpus": 3},
        {"BlkioDeviceReadBps": [{"Path": "/dev/x", "Rate": "1mb"}]},
        {"PidsLimit": [1]},
    ):
        assert "cannot unmarshal" in _refused(berthd, busybox_image, bad)


def test_oom_kill_disable_keeps_a_process_over_its_limit_alive(berthd: Daemon, busybox_image: str) -> None:
    """With the OOM killer off the kernel pauses the allocating process instead of killing it."""
    script = "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo never"
    started = berthd.docker(
        "run", "-d", "--name", "nooom", "-m", "16m", "--memory-swap", "16m", "--oom-kill-disable",
        busybox_image, "sh", "-c", script,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    # Read from the host: a process exec'd into a cgroup that is out of memory would stall as well.
    container_id = berthd.docker("inspect", "-f", "{{.Id}}", "nooom").stdout.strip()
    own = self_cgroups()["memory"].strip("/")
    oom_control = Path("/sys/fs/cgroup/memory", own, berthd.cgroup_parent, container_id, "memory.oom_control")
    deadline = time.monotonic() + 20
    while "under_oom 1" not in oom_control.read_text():
        assert time.monotonic() < deadline, "the container never reached its limit"
        time.sleep(0.2)
    state = json.loads(berthd.docker("inspect", "nooom").stdout)[0]["State"]
    assert (state["Running"], state["OOMKilled"]) == (True, False)
    assert "oom_kill 0" in oom_control.read_text()
    assert berthd.docker("kill", "nooom").returncode == 0
