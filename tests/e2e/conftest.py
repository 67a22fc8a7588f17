"""End-to-end fixtures: a real berthd (``berth.testing.daemon``) on a temporary root per test.

``berthd`` yields a :class:`Daemon`; ``berthd.berth(…)``/``berthd.docker(…)`` run the real CLIs against it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.daemon import (
    BERTH,
    DOCKER,
    Daemon,
    cleanup_daemon,
    start_daemon,
    stop_daemon,
    unmount_under,
)
from tests.conftest import TEST_TMP_MARK

__all__ = ["BERTH", "DOCKER", "Daemon", "start_daemon", "stop_daemon"]


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    try:
        yield root
    finally:
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def berthd(tmp_root: Path, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_root, f"berth-test-{uuid.uuid4().hex[:8]}")
    try:
        yield daemon
    finally:
        if getattr(request.node, "failed", False):
            # pytest shows this under "Captured stdout teardown": CI keeps only what a run printed.
            print("berthd log (last 40 lines):\n" + "\n".join(daemon.log_text().splitlines()[-40:]))
        cleanup_daemon(daemon)


@pytest.fixture
def busybox_image(berthd: Daemon) -> str:
    result = berthd.berth("bootstrap", "busybox", timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"bootstrap busybox failed: {result.stderr}")
    return "busybox:latest"


@contextlib.contextmanager
def daemon_with(*flags: str) -> Iterator[Daemon]:
    """A berthd started with extra ``flags`` (``--userns-remap default``…) and busybox, cleaned up after."""
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    daemon = start_daemon(root, f"berth-test-{uuid.uuid4().hex[:8]}", extra=list(flags))
    try:
        daemon.berth("bootstrap", "busybox", timeout=120, check=True)
        yield daemon
    finally:
        cleanup_daemon(daemon)
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
