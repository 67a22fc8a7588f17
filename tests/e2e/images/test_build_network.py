"""A build whose RUN step installs a Debian package: the one test that leaves the host, and it reaches
only the Debian mirror the machine itself uses (through Berth's NAT on the default bridge, its name
through the resolver berthd serves on the bridge's gateway)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
CMD ["hello"]
"""


@pytest.mark.soak  # ~90 s of mirror downloads; bench/build_cache.py runs the same apt-get path
def test_run_apt_get_install_in_a_build(berthd: Daemon, tmp_path: Path) -> None:
    ok(berthd.berth("bootstrap", "debian", "--suite", "bookworm", "-t", "debian:bookworm", timeout=900))
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    ok(berthd.docker("build", "-t", "hello:apt", str(tmp_path), timeout=900))
    assert "Hello, world!" in ok(berthd.docker("run", "--rm", "hello:apt"))
