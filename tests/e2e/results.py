"""Assertions on the CLIs' results that e2e tests share: it worked (its stdout), or it failed saying so."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from berth.testing.daemon import Daemon


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} -> {result.returncode}: {result.stderr}"
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0, f"{result.args} succeeded: {result.stdout}"
    assert message in result.stderr, result.stderr


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    """``docker inspect REF``'s one object."""
    [body] = json.loads(ok(daemon.docker("inspect", ref)))
    return dict(body)
