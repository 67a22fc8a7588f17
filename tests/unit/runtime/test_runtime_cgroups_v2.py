"""The values V2Manager writes for each OCI limit (this host's cgroup2 mount has no controllers to
write them to, so the files are a directory of plain files here and the writes are recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.runtime.cgroups import v2
from berth.runtime.cgroups.v2 import V2Manager, blkio_to_io_weight


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    recorded: list[tuple[str, str]] = []
    monkeypatch.setattr(v2, "write", lambda path, value: recorded.append((path.name, value)))
    return recorded


def test_memory_cpu_pids(tmp_path: Path, writes: list[tuple[str, str]]) -> None:
    (tmp_path / "memory.swap.max").touch()
    V2Manager(tmp_path, root=tmp_path.parent).apply(
        {
            "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": -1},
        }
    )
    assert writes == [
        ("memory.max", str(64 << 20)),
        ("memory.swap.max", str(32 << 20)),  # v2's swap.max is the swap alone, not memory+swap
        ("memory.low", str(32 << 20)),
        ("cpu.weight", "39"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("pids.max", "max"),
    ]


def test_a_quota_alone_keeps_the_period(tmp_path: Path, writes: list[tuple[str, str]]) -> None:
    V2Manager(tmp_path, root=tmp_path.parent).apply({"cpu": {"quota": 20000}})
    V2Manager(tmp_path, root=tmp_path.parent).apply({"cpu": {"quota": -1, "period": 50000}})
    assert writes == [("cpu.max", "20000"), ("cpu.max", "max 50000")]


def test_io_weight_and_io_max(tmp_path: Path, writes: list[tuple[str, str]]) -> None:
    block_io = {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}],
    }
    V2Manager(tmp_path, root=tmp_path.parent).apply({"blockIO": block_io})
    assert writes == [
        ("io.weight", f"default {blkio_to_io_weight(500)}"),
        ("io.weight", f"8:0 {blkio_to_io_weight(100)}"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:0 wbps=2097152"),
        ("io.max", "8:16 riops=100"),
        ("io.max", "8:16 wiops=200"),
    ]
    writes.clear()
    (tmp_path / "io.bfq.weight").touch()  # BFQ takes blkio's own scale
    V2Manager(tmp_path, root=tmp_path.parent).apply({"blockIO": {"weight": 500}})
    assert writes == [("io.bfq.weight", "500")]


def test_weight_conversions() -> None:
    assert (blkio_to_io_weight(10), blkio_to_io_weight(500), blkio_to_io_weight(1000)) == (1, 4950, 10000)
