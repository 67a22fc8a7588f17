"""Fixtures: an in-process registry (InMemoryDriver; SQLite under tmp_path, then PostgreSQL) behind
aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from registry_helpers import Client

from berth.registry.app import build_app
from berth.registry.config import RegistryConfig
from berth.registry.service import Registry
from berth.registry.storage.inmemory import InMemoryDriver


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """Every registry unit test runs on both metadata back ends (their conformance, by behaviour)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    config = RegistryConfig(
        root=tmp_path / "root", bcrypt_rounds=4, metadata_driver=request.param, metadata_url=url
    )
    reg = Registry(config, driver=InMemoryDriver())
    reg.accounts.add_user("alice", "alicepw")
    reg.accounts.add_user("bob", "bobpw")
    reg.accounts.add_user("root", "rootpw", admin=True)
    yield reg
    reg.close()


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(registry))) as c:
        yield c
