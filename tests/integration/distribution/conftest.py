"""Fixtures: real registries (berth-registry, Debian's docker-registry) on loopback, temp image stores."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dist_helpers import (
    DOCKER_REGISTRY,
    USERS,
    Registry,
    Store,
    start_berth_registry,
    start_docker_registry,
)

TEST_TMP_MARK = "berth-test-"


@pytest.fixture
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def berth_registry(workdir: Path) -> Iterator[Registry]:
    registry = start_berth_registry(workdir / "berth-registry", USERS)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def docker_registry(workdir: Path) -> Iterator[Registry]:
    if not DOCKER_REGISTRY.exists():
        pytest.skip("needs Debian's docker-registry (apt install docker-registry)")
    registry = start_docker_registry(workdir / "docker-registry")
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(params=["berth-registry", "docker-registry"])
def any_registry(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Registry]:
    if request.param == "docker-registry":
        if not DOCKER_REGISTRY.exists():
            pytest.skip("needs Debian's docker-registry (apt install docker-registry)")
        registry = start_docker_registry(workdir / "docker-registry")
    else:
        registry = start_berth_registry(workdir / "berth-registry", USERS)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def make_store(workdir: Path) -> Iterator[Callable[..., Store]]:
    stores: list[Store] = []

    def make(default_registry: str, name: str = "store", **resolver: list[str]) -> Store:
        store = Store(workdir / name, default_registry, **resolver)
        stores.append(store)
        return store

    try:
        yield make
    finally:
        for store in stores:
            store.close()
