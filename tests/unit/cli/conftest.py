"""Fixtures for CLI tests: the stub daemon (tests/unit/client/stubdaemon.py) and a ``berth`` runner."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.unit.client.stubdaemon import StubDaemon

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "src"))


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def stub() -> Iterator[StubDaemon]:
    with tempfile.TemporaryDirectory(prefix="berth-stub-") as tmp:
        daemon = StubDaemon(os.path.join(tmp, "d.sock"))
        try:
            yield daemon
        finally:
            daemon.close()


@pytest.fixture
def berth(stub: StubDaemon, tmp_path: object) -> Iterator[object]:
    """Run ``berth ARGS`` as a real subprocess against the stub; returns Result."""
    config = os.path.join(str(tmp_path), "config")

    def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Result:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env["BERTH_HOST"] = stub.host
        full_env["BERTH_CONFIG"] = config
        full_env.pop("BERTH_API_VERSION", None)
        full_env.pop("DOCKER_API_VERSION", None)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [sys.executable, "-m", "berth.cli.main", *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=full_env,
            timeout=30,
        )
        return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    yield run
