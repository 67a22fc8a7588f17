"""The command tables: every entry resolves, and start-up stays lean."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from berth.cli.main import COMMANDS, GROUPS
from tests.unit.cli.conftest import SRC


def test_every_table_entry_resolves() -> None:
    targets = set(COMMANDS.values()) | {t for subs in GROUPS.values() for t in subs.values()}
    for target in sorted(targets):
        module_name, _, func = target.partition(":")
        module = importlib.import_module(f"berth.cli.{module_name}")
        assert callable(getattr(module, func)), target


def test_ps_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from berth.cli import main\n"
        "main.run(['-H', 'unix:///nonexistent/berth.sock', 'ps', '-q'])\n"
        "heavy = {'http.client', 'requests', 'aiohttp', 'click', 'rich', 'ssl', 'dataclasses', 'typing',\n"
        "         'socket'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": SRC}, timeout=30
    )
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["ps", "-aq"],
        ["exec", "-e", "A=1", "web", "true"],  # fails to connect: what matters is what it imported
        ["run", "--rm", "-e", "A=1", "--name", "x", "busybox", "true"],
        ["images", "-a"],
    ],
)
def test_latency_critical_commands_import_neither_re_nor_json(argv: list[str]) -> None:
    """ps, exec, run and images start without argparse (quickflags), re, json (wirejson) or enum."""
    code = (
        "import sys\n"
        "from berth.cli import main\n"
        f"main.run(['-H', 'unix:///nonexistent/berth.sock', *{argv!r}])\n"
        "print(sorted({'re', 'json', 'argparse', 'enum'} & set(sys.modules)))\n"
    )
    env = {"PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr


def test_ps_fast_args() -> None:
    from berth.cli.ps import fast_args

    assert fast_args(["-aq", "--no-trunc", "-f", "status=exited", "--filter=label=a", "-n2"]) == {
        "all": True,
        "quiet": True,
        "size": False,
        "latest": False,
        "no_trunc": True,
        "filter": ["status=exited", "label=a"],
        "format": None,
        "last": 2,
    }
    assert fast_args(["--format", "{{.ID}}"])["format"] == "{{.ID}}"  # type: ignore[index]
    for unusual in (["--help"], ["-x"], ["extra"], ["-n", "two"], ["--filter"]):
        assert fast_args(unusual) is None, unusual
