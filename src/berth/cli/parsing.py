"""argparse, the way ``berth`` uses it: docker's usage/error wording and an Examples section.

Kept apart from ``command`` so that commands with a hand-written fast path (``ps``) never import
argparse (with ``re`` and ``enum`` it costs ~5 ms, a sixth of the start-up budget).
"""

from __future__ import annotations

import argparse

from berth.cli.command import PROG, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

# argparse's messages are English only here; skipping gettext avoids importing locale (~1 ms per run).
argparse._ = lambda message: message  # type: ignore[attr-defined]
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """docker's help layout: ``Usage:  berth …``, ``-e, --env list``, long-only flags indented."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=38, width=100)

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="Usage:  ")

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        shorts = [o for o in action.option_strings if not o.startswith("--")]
        longs = [o for o in action.option_strings if o.startswith("--")]
        text = ", ".join(shorts + longs) if shorts else "    " + ", ".join(longs)
        if action.nargs == 0:
            return text
        return f"{text} {self._format_args(action, self._get_default_metavar_for_optional(action))}"


class Parser(argparse.ArgumentParser):
    """argparse with docker's error wording and exit status (125)."""

    _argv: list[str] = []

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]  # one signature of the overloads
        self._argv = list(args or [])
        result: argparse.Namespace = super().parse_args(args, namespace)
        return result

    def error(self, message: str) -> NoReturn:
        if message.endswith(": expected one argument") and message.startswith("argument "):
            # pflag's wording, for the spelling the user typed: -s or --signal
            spellings = message.removeprefix("argument ").removesuffix(": expected one argument").split("/")
            typed = next((a for a in reversed(self._argv) if a in spellings), spellings[-1])
            message = (
                f"flag needs an argument: '{typed[1:]}' in {typed}"
                if not typed.startswith("--")
                else f"flag needs an argument: {typed}"
            )
        raise UsageError(message, self.prog, self.usage or "")

    def add_format(self, what: str = "") -> None:
        self.add_argument(
            "--format",
            metavar="string",
            help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template" + what,
        )


def new_parser(
    command: str,
    usage: str,
    summary: str,
    examples: list[str],
    *,
    aliases: list[str] | None = None,
    add_help: bool = True,
) -> Parser:
    """A parser for ``berth COMMAND``; ``examples`` are shell lines shown under ``Examples:``."""
    epilog_parts = []
    if aliases:
        epilog_parts.append("Aliases:\n  " + ", ".join(f"{PROG} {a}" for a in aliases))
    epilog_parts.append("Examples:\n" + "\n".join(f"  $ {e}" for e in examples))
    parser = Parser(
        prog=f"{PROG} {command}",
        usage=f"{PROG} {command} {usage}".rstrip(),
        description=summary,
        epilog="\n\n".join(epilog_parts),
        formatter_class=_Formatter,
        allow_abbrev=False,
        add_help=add_help,
    )
    parser._optionals.title = "Options"
    parser._positionals.title = "Arguments"
    return parser


def split_at_positional(
    parser: argparse.ArgumentParser, argv: list[str], count: int = 1
) -> tuple[list[str], list[str]]:
    """Split ``argv`` after its ``count``-th positional argument: docker stops parsing flags there, so
    ``run IMG ls -l`` passes ``-l`` to the container. Returns (to_parse, rest)."""
    takes_value: dict[str, bool] = {}
    for action in parser._actions:
        for opt in action.option_strings:
            takes_value[opt] = action.nargs != 0
    seen = 0
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return argv[:i] + argv[i + 1 : i + 1 + count - seen], argv[i + 1 + count - seen :]
        if arg.startswith("--") and len(arg) > 2:
            name = arg.split("=", 1)[0]
            if "=" not in arg and takes_value.get(name, False):
                i += 1
        elif arg.startswith("-") and len(arg) > 1:
            for j in range(1, len(arg)):
                if takes_value.get("-" + arg[j], False):
                    if j == len(arg) - 1:
                        i += 1
                    break
        else:
            seen += 1
            if seen == count:
                return argv[: i + 1], argv[i + 1 :]
        i += 1
    return argv, []
