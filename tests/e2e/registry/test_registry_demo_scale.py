"""``make demo-scale`` from end to end: Ceph, PostgreSQL, two replicas and haproxy come up, an image
goes through them and back from each replica, and everything it started is gone afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _leftovers() -> set[str]:
    return {p.name for p in Path("/tmp").glob("berth-demo-scale-*")} | {
        p.name for p in Path("/tmp").glob("berth-pg-*")
    }


@pytest.mark.root
@pytest.mark.slow
def test_demo_scale_pushes_and_pulls_through_every_part_and_tears_down() -> None:
    before = _leftovers()
    result = subprocess.run(
        [sys.executable, "-m", "berth.testing.scale"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "S3 at http://127.0.0.1:" in out and "PostgreSQL on 127.0.0.1:" in out and "haproxy at" in out
    assert out.count("skopeo pull from the replica at") == 2
    assert "the same on every replica" in out and out.rstrip().endswith("directories removed")
    assert _leftovers() <= before
