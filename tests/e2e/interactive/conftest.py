"""Fixtures for interactive tests: a pty-driven CLI against the test's berthd."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import BERTH, DOCKER, Daemon
from tests.e2e.interactive.terminal import Terminal

CLIS = {"berth": BERTH, "docker": DOCKER}


@pytest.fixture(params=sorted(CLIS))
def cli(request: pytest.FixtureRequest) -> str:
    """Each test that takes ``cli`` runs once with ``berth`` and once with the real docker CLI."""
    return str(request.param)


@pytest.fixture
def terminal(berthd: Daemon, cli: str) -> Iterator[Callable[..., Terminal]]:
    """``terminal("run", "-it", …)`` runs the chosen CLI on its own pty; all are killed at the end."""
    opened: list[Terminal] = []

    def open_terminal(*args: str, rows: int = 24, cols: int = 80) -> Terminal:
        term = Terminal([CLIS[cli], *args], {**berthd.env, "TERM": "xterm"}, rows=rows, cols=cols)
        opened.append(term)
        return term

    try:
        yield open_terminal
    finally:
        for term in opened:
            term.close()


def run_cli(
    berthd: Daemon, cli: str, *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``berth ARGS`` or ``docker ARGS`` (by ``cli``) against the test's daemon."""
    return (
        berthd.docker(*args, input=input, timeout=timeout)
        if cli == "docker"
        else berthd.berth(*args, input=input, timeout=timeout)
    )
