"""Smaller CLI pieces: stats columns, port lines, event lines, timestamps, argv splitting."""

from __future__ import annotations

import time

from berth.cli.command import new_parser, split_at_positional
from berth.cli.containerio import _port_lines
from berth.cli.interact import parse_timestamp
from berth.cli.stats import stats_row
from berth.cli.system import format_event


def test_stats_row() -> None:
    sample = {
        "id": "f" * 64,
        "name": "/web",
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {
            "usage": 3 * 1024 * 1024,
            "limit": 100 * 1024 * 1024,
            "stats": {"total_inactive_file": 1024 * 1024},
        },
        "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2500}},
        "blkio_stats": {
            "io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]
        },
        "pids_stats": {"current": 3},
    }
    row = stats_row("web", sample)
    assert row == {
        "Container": "web",
        "ID": "f" * 12,
        "Name": "web",
        "CPUPerc": "40.00%",
        "MemUsage": "2MiB / 100MiB",
        "MemPerc": "2.00%",
        "NetIO": "1kB / 2.5kB",
        "BlockIO": "4.1kB / 0B",
        "PIDs": "3",
    }


def test_port_lines() -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "53/udp": None,
    }
    assert _port_lines(ports) == ["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
    assert _port_lines({"80/tcp": ports["80/tcp"]}, "80/tcp") == ["0.0.0.0:8080", "[::]:8080"]


def test_event_line() -> None:
    actor = {"ID": "abc", "Attributes": {"name": "x", "image": "bb"}}
    event = {"Type": "container", "Action": "start", "Actor": actor, "time": 1, "timeNano": 1_000_000_005}
    line = format_event(event)
    assert line.endswith(" container start abc (image=bb, name=x)")
    assert ".000000005" in line.split()[0]


def test_parse_timestamp() -> None:
    assert parse_timestamp("1700000000") == "1700000000"
    assert parse_timestamp("10m", now=1000.0) == "400.000000000"
    assert parse_timestamp("1970-01-01T00:00:10Z") == "10.000000000"
    assert abs(float(parse_timestamp("1s")) - (time.time() - 1)) < 5


def test_split_at_positional() -> None:
    p = new_parser("exec", "", "", [])
    p.add_argument("-e", action="append")
    p.add_argument("-i", action="store_true")
    p.add_argument("container")
    assert split_at_positional(p, ["-i", "-e", "A=1", "web", "ls", "-l"]) == (
        ["-i", "-e", "A=1", "web"],
        ["ls", "-l"],
    )
    assert split_at_positional(p, ["-ie", "A", "web", "x"]) == (["-ie", "A", "web"], ["x"])
    assert split_at_positional(p, ["--", "web", "-x"]) == (["web"], ["-x"])


def test_detach_keys() -> None:
    import pytest

    from berth.cli.streams import parse_detach_keys

    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(ValueError):
        parse_detach_keys("ctrl-1")
    with pytest.raises(ValueError):
        parse_detach_keys("alt-x")
