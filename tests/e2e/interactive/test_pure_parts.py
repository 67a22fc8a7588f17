"""The pure pieces behind the interactive e2e tests (no daemon, no root): the daemon's detach-key
watcher and the healthcheck config resolution."""

from __future__ import annotations

import pytest

from berth.daemon.server.streams import EscapeProxy, parse_detach_keys
from berth.engine.containers.health import Probe
from berth.errors import InvalidArgument


def test_detach_keys_parse_like_docker() -> None:
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-x,x") == b"\x18x"
    assert parse_detach_keys("ctrl-@,ctrl-[") == b"\x00\x1b"
    with pytest.raises(InvalidArgument, match=r"Invalid detach keys \(ctrl-xy\) provided"):
        parse_detach_keys("ctrl-xy")


def test_escape_proxy_holds_a_prefix_and_swallows_the_sequence() -> None:
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ls\r") == (b"ls\r", False)
    assert proxy.feed(b"a\x10") == (b"a", False)  # held: may start the sequence
    assert proxy.feed(b"b") == (b"\x10b", False)  # not the sequence after all: passed on in order
    assert proxy.feed(b"\x10\x10") == (b"\x10", False)  # a repeated first key keeps the last one held
    assert proxy.feed(b"\x11rest") == (b"", True)  # split across reads, still detected


def test_probe_from_config() -> None:
    assert Probe.from_config(None) is None
    assert Probe.from_config({"Test": ["NONE"]}) is None
    assert Probe.from_config({"Test": []}) is None
    shell = Probe.from_config({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 2_000_000_000})
    assert shell is not None
    assert shell.argv == ["/bin/sh", "-c", "curl -f localhost"]
    assert (shell.interval, shell.timeout, shell.start_period, shell.retries) == (2.0, 30.0, 0.0, 3)
    direct = Probe.from_config({"Test": ["CMD", "true"], "Retries": 1, "StartPeriod": 500_000_000})
    assert direct is not None and direct.argv == ["true"] and direct.retries == 1
    assert direct.start_period == 0.5 and direct.start_interval == 5.0
