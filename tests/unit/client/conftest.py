"""Fixtures for client tests: a real stub daemon on a unix socket in a temp dir."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.unit.client.stubdaemon import StubDaemon


@pytest.fixture
def stub() -> Iterator[StubDaemon]:
    with tempfile.TemporaryDirectory(prefix="berth-stub-") as tmp:
        daemon = StubDaemon(os.path.join(tmp, "d.sock"))
        try:
            yield daemon
        finally:
            daemon.close()
