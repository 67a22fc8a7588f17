"""``-e`` and ``--env-file`` as docker reads them (shared by ``run``/``create`` and ``exec``; kept out
of ``runopts`` so that ``exec`` does not import argparse)."""

from __future__ import annotations

import os

from berth.cli.command import CLIError


def _resolved(entry: str, key: str, has_value: bool) -> list[str]:
    """``KEY=VALUE`` as given; a bare ``KEY`` takes its value from our environment (none if unset)."""
    if has_value:
        return [entry]
    return [f"{key}={os.environ[key]}"] if key in os.environ else []


def parse_env_file(path: str) -> list[str]:
    """docker's ``--env-file``: ``KEY=VALUE`` lines, ``#`` comments, bare ``KEY`` taken from our env."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise CLIError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", prefix="") from exc
    env: list[str] = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        if not key.strip() or " " in key.strip():
            raise CLIError(f"invalid environment variable: {line}")
        env += _resolved(line, key, bool(sep))
    return env


def env_list(items: list[str]) -> list[str]:
    """``-e KEY=VALUE`` as given; a bare ``-e KEY`` takes KEY from our environment, and is sent bare
    when unset (docker's ``ValidateEnv``: the daemon then leaves it out)."""
    env: list[str] = []
    for item in items:
        key, sep, _ = item.partition("=")
        if not key:
            raise CLIError(f"invalid environment variable: {item}")
        env += _resolved(item, key, bool(sep)) or [item]
    return env
