"""The escape probe (escape_probe.c), built static once per module and bound into containers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = "/probe"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the escape probe (apt install gcc libc6-dev)")
    out = tmp_path_factory.mktemp("probe") / "escape_probe"
    source = Path(__file__).with_name("escape_probe.c")
    subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(source)], check=True, capture_output=True)
    return out
