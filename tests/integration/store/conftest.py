"""Fixtures for store integration tests: per-test roots watched for leaked mounts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_TMP_MARK = "berth-test-"  # tests/conftest.py fails the session on mounts left under such dirs


@pytest.fixture
def store_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
