"""Fixtures: a real ``berth-registry serve`` process on a temporary root and a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, start_registry


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(
        tmp_path / "root", users={"alice": "alicepw", "bob": "bobpw"}, admins={"root": "rootpw"}
    )
    try:
        yield reg
    finally:
        reg.stop()
