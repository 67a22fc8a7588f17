"""What every command gets: the ``Context`` (global flags, a lazily built APIClient, config dir), the
CLI error types, and ``new_parser`` (argparse, imported lazily: see ``parsing``).

Commands are plain functions ``def cmd(ctx: Context, argv: list[str]) -> int`` that build their own
parser, so only the invoked command's parser and modules are ever imported.
"""

from __future__ import annotations

import os
import sys

from berth.errors import BerthError

TYPE_CHECKING = False  # typing is not imported at run time (start-up cost); mypy honours this name
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from berth.cli.parsing import Parser
    from berth.client.api import APIClient
    from berth.client.hosts import TLSConfig

PROG = "berth"
EXIT_FAILURE = 1
EXIT_DAEMON = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


class UsageError(BerthError):
    """The command line is wrong (unknown flag, missing argument). Exit 125 like docker's flag errors."""

    def __init__(self, message: str, command: str = "", usage: str = "") -> None:
        self.command = command
        self.usage = usage  # "berth create [OPTIONS] IMAGE …": printed after the message, as docker does
        super().__init__(message)


class CLIError(BerthError):
    """A client-side failure with its own exit code; printed as ``Error: …`` unless ``prefix`` says."""

    def __init__(self, message: str, code: int = EXIT_FAILURE, *, prefix: str = "Error: ") -> None:
        self.code = code
        self.prefix = prefix
        super().__init__(message)


class StatusExit(Exception):
    """Leave with ``code`` after the message (if any) was already printed."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(code)


class Context:
    """Global options and shared resources of one ``berth`` invocation."""

    def __init__(
        self,
        *,
        host: str | None = None,
        config_dir: str | None = None,
        tls: TLSConfig | None = None,
        debug: bool = False,
    ) -> None:
        self.host = host
        self.config_dir = config_dir or os.environ.get("BERTH_CONFIG") or os.path.expanduser("~/.berth")
        self.tls = tls
        self.debug = debug
        self.command = ""
        self._client: APIClient | None = None

    @property
    def client(self) -> APIClient:
        if self._client is None:
            from berth.client.api import APIClient

            self._client = APIClient(self.host, tls=self.tls)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def new_parser(
    command: str,
    usage: str,
    summary: str,
    examples: list[str],
    *,
    aliases: list[str] | None = None,
    add_help: bool = True,
) -> Parser:
    """A parser for ``berth COMMAND`` (argparse is imported only when a command builds one)."""
    from berth.cli import parsing

    return parsing.new_parser(command, usage, summary, examples, aliases=aliases, add_help=add_help)


def split_at_positional(
    parser: argparse.ArgumentParser, argv: list[str], count: int = 1
) -> tuple[list[str], list[str]]:
    """See ``parsing.split_at_positional``."""
    from berth.cli import parsing

    return parsing.split_at_positional(parser, argv, count)


def for_each(names: list[str], action: Callable[[str], str | None]) -> int:
    """Docker's multi-object verbs (``rm A B``, ``volume rm …``): run ``action`` on each name, print
    what it returns (None prints nothing), report each daemon error on its own line, go on, and
    exit 1 if any failed."""
    from berth.client.api import APIError  # already loaded by every command that talks to the daemon

    failed = False
    for name in names:
        try:
            shown = action(name)
        except APIError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
            continue
        if shown is not None:
            sys.stdout.write(shown + "\n")
    return 1 if failed else 0


def err(message: str) -> None:
    """Write one line to stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def out(text: str) -> None:
    sys.stdout.write(text)


def parse_bool_env(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")
