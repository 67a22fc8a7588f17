"""The hand parser of latency-critical commands agrees with their argparse definitions, and gives up
on whatever it does not know (argparse then answers as docker would)."""

from __future__ import annotations

import pytest

from berth.cli.command import Context
from berth.cli.interact import _EXEC_FLAGS, _exec_args


def _argparse_only(argv: list[str]) -> tuple[dict[str, object], str, list[str]]:
    """_exec_args with the quick path disabled: what argparse makes of ``argv``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_EXEC_FLAGS, "parse", lambda *args, **kwargs: None)
        return _exec_args(Context(), argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["web", "true"],
        ["-it", "web", "sh"],
        ["-d", "-e", "A=1", "--env=B=2", "-eC=3", "-w", "/tmp", "-u", "nobody", "web", "env"],
        ["--env-file", "f1", "--env-file=f2", "--privileged", "--detach-keys", "ctrl-x", "web", "ls"],
        ["-uroot", "web", "ls", "-l", "--color", "-e"],  # flags after the container are the command's
    ],
)
def test_exec_quick_path_matches_argparse(argv: list[str]) -> None:
    quick = _EXEC_FLAGS.parse(argv, positionals=True)
    assert quick is not None
    assert _exec_args(Context(), argv) == _argparse_only(argv)


@pytest.mark.parametrize("argv", [["--help", "web"], ["-x", "web"], ["--", "web"], ["-e"], ["-h"]])
def test_exec_quick_path_gives_up_on_the_unusual(argv: list[str]) -> None:
    assert _EXEC_FLAGS.parse(argv, positionals=True) is None
