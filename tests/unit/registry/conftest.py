"""Fixtures: an in-process registry (InMemoryDriver, SQLite under tmp_path) behind aiohttp's test client."""

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


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(RegistryConfig(root=tmp_path / "root", bcrypt_rounds=4), driver=InMemoryDriver())
    reg.accounts.add_user("alice", "alicepw")
    reg.accounts.add_user("bob", "bobpw")
    reg.accounts.add_user("root", "rootpw", admin=True)
    yield reg
    reg.close()


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(registry))) as c:
        yield c
