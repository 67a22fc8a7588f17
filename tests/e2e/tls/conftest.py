"""Fixtures for remote access: certificates made by ``berth certs`` and a berthd serving mutual TLS on a
loopback tcp port next to its unix socket."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.testing.daemon import BERTH, Daemon, cleanup_daemon, start_daemon
from berth.testing.registry import free_port


def make_certs(directory: Path, *extra: str) -> Path:
    subprocess.run([BERTH, "certs", "--dir", str(directory), *extra], check=True, capture_output=True)
    return directory


@dataclass
class TLSDaemon:
    daemon: Daemon
    url: str  # tcp://127.0.0.1:PORT
    certs: Path  # ca.pem, server-*.pem, cert.pem, key.pem
    port: int

    def berth(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``berth -H tcp://… ARGS`` (pass the TLS flags in ``args``)."""
        return self.daemon.berth("-H", self.url, *args, timeout=timeout)


@pytest.fixture
def certs(tmp_root: Path) -> Path:
    return make_certs(tmp_root / "certs")


@pytest.fixture
def other_certs(tmp_root: Path) -> Path:
    """A second, unrelated CA and its client certificate."""
    return make_certs(tmp_root / "other")


@pytest.fixture
def tls_daemon(tmp_root: Path, certs: Path) -> Iterator[TLSDaemon]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    daemon = start_daemon(
        tmp_root,
        f"berth-test-{uuid.uuid4().hex[:8]}",
        extra=[
            "-H",
            url,
            "--tlsverify",
            "--tlscacert",
            str(certs / "ca.pem"),
            "--tlscert",
            str(certs / "server-cert.pem"),
            "--tlskey",
            str(certs / "server-key.pem"),
        ],
    )
    try:
        yield TLSDaemon(daemon, url, certs, port)
    finally:
        cleanup_daemon(daemon)
