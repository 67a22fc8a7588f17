"""Suite-wide rules: ``root`` tests run only as uid 0; a session finalizer fails the run on leaks;
each test's report is kept on its item (``item.failed``) so fixtures can add evidence on failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.testing.ceph import CephCluster, start_ceph
from berth.testing.postgres import PostgresServer, postgres_server

TEST_TMP_MARK = "berth-test-"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (real namespaces, cgroups, overlayfs)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report


def _leaked_mounts() -> list[str]:
    leaked = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if TEST_TMP_MARK in mount_point:
            leaked.append(mount_point)
    return leaked


@pytest.fixture(scope="session", autouse=True)
def no_leaked_mounts() -> object:
    before = set(_leaked_mounts())
    yield
    leaked = sorted(set(_leaked_mounts()) - before)
    if leaked:
        pytest.fail(f"tests leaked mounts: {leaked}")


@pytest.fixture(scope="session")
def ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """One real Ceph (mon, memstore osd, radosgw) for the whole run: started on first use (~12 s)."""
    cluster = start_ceph(tmp_path_factory.mktemp("ceph"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def s3_bucket(ceph: CephCluster) -> str:
    """A new, empty bucket on the session's radosgw."""
    name = f"berth-{uuid.uuid4().hex[:20]}"
    ceph.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (Debian's; started as its ``postgres`` user)."""
    if os.geteuid() != 0:
        pytest.skip("PostgreSQL is started as its system user: needs root")
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new, empty schema of the session's server for this test (cheaper than a database)."""
    return postgres.create_schema(f"t{uuid.uuid4().hex[:16]}")
