"""resources.py and update.py without a kernel: dockerd's checks against a given SysInfo (a cgroup v2
host, a v1 host without the optional knobs), the OCI objects made, the update's merge rules."""

from __future__ import annotations

import os
from typing import Any

import pytest

from berth.engine.containers import resources, update
from berth.errors import Conflict, InvalidArgument
from berth.runtime.cgroups.sysinfo import SysInfo, parse_list

V1 = SysInfo(version=1, cpus="0-1", mems="0")
V2 = SysInfo(
    version=2, oom_kill_disable=False, memory_swappiness=False, kernel_memory_tcp=False, cpu_realtime=False,
    cpus="0-3", mems="0",
)  # fmt: skip
BARE = SysInfo(
    memory_limit=False, swap_limit=False, memory_reservation=False, cpu_shares=False, cpu_cfs=False,
    cpuset=False, blkio_weight=False, blkio_weight_device=False, blkio_read_bps=False, blkio_write_bps=False,
    blkio_read_iops=False, blkio_write_iops=False, pids_limit=False,
)  # fmt: skip


def test_v2_host_discards_the_v1_only_knobs_with_dockers_warnings() -> None:
    host: dict[str, Any] = {
        "Memory": 64 << 20, "MemorySwappiness": 10, "OomKillDisable": True, "KernelMemoryTCP": 1 << 20,
    }  # fmt: skip
    warnings = resources.verify(host, info=V2)
    assert warnings == [
        "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
        "Memory swappiness discarded.",
        "Your kernel does not support kernel memory TCP limit capabilities or the cgroup is not mounted. "
        "Limitation discarded.",
        "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
    ]
    assert (host["MemorySwappiness"], host["KernelMemoryTCP"], host["OomKillDisable"]) == (None, 0, False)
    with pytest.raises(InvalidArgument, match="^Your kernel does not support CPU real-time scheduler$"):
        resources.verify({"CpuRealtimeRuntime": 1000}, info=V2)


def test_host_without_controllers_discards_every_limit() -> None:
    host: dict[str, Any] = {
        "Memory": 64 << 20, "MemoryReservation": 32 << 20, "CpuShares": 100, "CpuQuota": 5000,
        "CpusetCpus": "0", "BlkioWeight": 100, "BlkioDeviceReadBps": [{"Path": "/dev/x", "Rate": 1}],
        "BlkioDeviceWriteIOps": [{"Path": "/dev/x", "Rate": 1}], "PidsLimit": 5,
    }  # fmt: skip
    warnings = resources.verify(host, info=BARE)
    assert [w.split(" or the cgroup")[0].split(". ")[0] for w in warnings] == [
        "Your kernel does not support memory limit capabilities",
        "Your kernel does not support memory soft limit capabilities",
        "Your kernel does not support PIDs limit capabilities",
        "Your kernel does not support CPU shares",
        "Your kernel does not support CPU CFS scheduler",
        "Your kernel does not support cpuset",
        "Your kernel does not support Block I/O weight",
        "Your kernel does not support BPS Block I/O read limit",
        "Your kernel does not support IOPS Block write limit",
    ]
    assert resources.resources(host) == {}


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"Memory": 1 << 20}, "Minimum memory limit allowed is 6MB"),
        (
            {"Memory": 64 << 20, "MemorySwap": 32 << 20},
            "Minimum memoryswap limit should be larger than memory",
        ),
        ({"MemorySwappiness": -2}, "Invalid value: -2, valid memory swappiness range is 0-100"),
        (
            {"NanoCpus": 10**9, "CpuQuota": 5000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        ({"NanoCpus": 10**12}, "range of CPUs is from 0.01 to"),
        ({"CpuShares": -1}, "shares: invalid argument"),
        ({"CpusetCpus": "0-7"}, "Requested CPUs are not available - requested 0-7, available: 0-1"),
        ({"CpusetCpus": "1-0"}, "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"IOMaximumIOps": 5}, "Invalid QoS settings: linux does not support configuration of maximum IOPs"),
        (
            {"Memory": "lots"},
            "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64",
        ),
        ({"Memory": 1.5}, "cannot unmarshal number 1.5 into Go struct field HostConfig.Memory"),
        ({"OomKillDisable": "yes"}, "cannot unmarshal string into Go struct field HostConfig.OomKillDisable"),
        ({"BlkioWeight": -1}, "of type uint16"),
        ({"BlkioDeviceReadBps": {"Path": "/dev/x"}}, "cannot unmarshal object"),
        (
            {"BlkioWeightDevice": [{"Path": 1, "Weight": 10}]},
            "HostConfig.BlkioWeightDevice.Path of type string",
        ),
    ],
)
def test_dockerd_errors(host: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resources.verify(host, info=V1)
    assert message in str(caught.value)


def test_adapt_fills_createss_defaults() -> None:
    host: dict[str, Any] = {"Memory": 64 << 20, "PidsLimit": -1}
    resources.adapt(host)
    assert host == {"Memory": 64 << 20, "MemorySwap": 128 << 20, "PidsLimit": None, "OomKillDisable": False}


def test_oci_resources_cover_every_linux_limit() -> None:
    device = os.stat("/dev/null").st_rdev  # a character device: its numbers are all that is needed here
    major, minor = os.major(device), os.minor(device)
    host: dict[str, Any] = {
        "Memory": 64 << 20, "MemorySwap": -1, "MemoryReservation": 32 << 20, "MemorySwappiness": 0,
        "OomKillDisable": True, "KernelMemoryTCP": 1 << 20, "CpuShares": 512, "CpuPeriod": 50000,
        "CpuQuota": 20000, "CpuRealtimePeriod": 100000, "CpuRealtimeRuntime": 1000, "CpusetCpus": "1",
        "CpusetMems": "0", "PidsLimit": 9, "BlkioWeight": 300,
        "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}],
        "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1024}],
        "BlkioDeviceWriteIOps": [{"Path": "/dev/null", "Rate": 7}],
    }  # fmt: skip
    assert resources.resources(host) == {
        "memory": {
            "limit": 64 << 20, "swap": -1, "reservation": 32 << 20, "swappiness": 0, "disableOOMKiller": True,
            "kernelTCP": 1 << 20,
        },
        "cpu": {
            "period": 50000, "quota": 20000, "shares": 512, "realtimePeriod": 100000, "realtimeRuntime": 1000,
            "cpus": "1", "mems": "0",
        },
        "pids": {"limit": 9},
        "blockIO": {
            "weight": 300,
            "weightDevice": [{"major": major, "minor": minor, "weight": 200}],
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1024}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 7}],
        },
    }  # fmt: skip
    with pytest.raises(InvalidArgument, match="^stat /dev/berth-none: no such file or directory$"):
        resources.resources({"BlkioDeviceReadBps": [{"Path": "/dev/berth-none", "Rate": 1}]})


def test_nano_cpus_become_a_cfs_quota() -> None:
    assert resources.resources({"NanoCpus": 1_500_000_000})["cpu"] == {"quota": 150000, "period": 100000}


def test_parse_list() -> None:
    assert parse_list("0-2,5") == {0, 1, 2, 5}
    assert parse_list("") == set()
    assert parse_list("a") is None and parse_list("3-1") is None and parse_list("1,") is None


# -- update ---------------------------------------------------------------------------------------------

CID = "c" * 64


def _merge(host: dict[str, Any], body: dict[str, Any], auto_remove: bool = False) -> dict[str, Any]:
    return update.merged(CID, host, update.parse(body), auto_remove=auto_remove)


def test_update_replaces_only_what_it_sets() -> None:
    host = {"Memory": 64 << 20, "MemorySwap": 128 << 20, "CpuShares": 100, "PidsLimit": 5}
    merged = _merge(host, {"Memory": 96 << 20, "CpuShares": 0, "PidsLimit": -1})
    assert merged == {"Memory": 96 << 20, "MemorySwap": 128 << 20, "CpuShares": 100, "PidsLimit": 0}
    assert host["Memory"] == 64 << 20  # the stored record is not touched


@pytest.mark.parametrize(
    ("host", "body", "message"),
    [
        (
            {"Memory": 32 << 20, "MemorySwap": 64 << 20},
            {"Memory": 128 << 20},
            "Memory limit should be smaller",
        ),
        ({}, {"Memory": 128 << 20}, "Memory limit should be smaller than already set memoryswap limit"),
        (
            {"NanoCpus": 10**9},
            {"CpuQuota": 5000},
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs",
        ),
        (
            {"CpuPeriod": 5000},
            {"NanoCpus": 10**9},
            "Conflicting options: CPU Period cannot be updated as NanoCPUs",
        ),
    ],
)
def test_update_conflicts(host: dict[str, Any], body: dict[str, Any], message: str) -> None:
    with pytest.raises(Conflict, match=f"^Cannot update container {CID}: {message}"):
        _merge(host, body)


def test_update_restart_policy() -> None:
    merged = _merge({}, {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    assert merged["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert "RestartPolicy" not in _merge({}, {"RestartPolicy": {"Name": ""}})
    with pytest.raises(Conflict, match="Restart policy cannot be updated because AutoRemove is enabled"):
        _merge({}, {"RestartPolicy": {"Name": "always"}}, auto_remove=True)
    assert _merge({}, {"RestartPolicy": {"Name": "no"}}, auto_remove=True)["RestartPolicy"]["Name"] == "no"
    with pytest.raises(InvalidArgument, match="maximum retry count can only be used with 'on-failure'"):
        update.parse({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 1}})
    with pytest.raises(InvalidArgument, match="maximum retry count cannot be negative"):
        update.parse({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}})


def test_update_refuses_what_it_cannot_change() -> None:
    with pytest.raises(InvalidArgument, match="^Ulimits cannot be changed by an update"):
        update.parse({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]})
    with pytest.raises(
        InvalidArgument, match="Invalid QoS settings: linux does not support Maximum IO Bandwidth"
    ):
        update.parse({"IOMaximumBandwidth": 5})
    # What the docker CLI sends for the fields it leaves alone passes.
    assert update.parse({"Ulimits": None, "MemorySwappiness": None, "CpuCount": 0, "CgroupParent": ""})


def test_update_live_resources_are_the_requests_own() -> None:
    change = update.parse({"Memory": 96 << 20, "PidsLimit": 0, "CpuShares": 300})
    assert update.live_resources(change) == {
        "memory": {"limit": 96 << 20},
        "cpu": {"shares": 300},
        "pids": {"limit": -1},
    }
