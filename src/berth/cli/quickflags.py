"""Hand parsing of a command's usual flags, for the commands whose start-up time matters (``ps``,
``exec``): argparse with ``re`` and ``enum`` costs ~5 ms of a ~25 ms budget (see ``parsing``).

The parse gives up (returns None) on anything unusual: ``--help``, an unknown flag, a missing or bad
value, ``--``. The caller then parses with argparse, which prints help or reports the error as docker
does, so the two parsers never need to agree on error wording.

    flags = Flags(bools={"-a": "all", "--all": "all"}, values={"-f": "filter"}, lists={"filter"})
    flags.parse(["-a", "-f", "status=exited"])     # ({"all": True, "filter": ["status=exited"]}, [])
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOLS.update(dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False))


class Options:
    """Parsed options as attributes, as argparse's Namespace gives them (so callers take either)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class Flags:
    """A command's flags: ``bools`` and ``values`` map each spelling (``-a``, ``--all``) to its
    destination; destinations in ``lists`` collect every value; ``convert`` checks or converts a
    destination's value (a ValueError gives up). Defaults: False, [] for lists, else None."""

    def __init__(
        self,
        *,
        bools: dict[str, str],
        values: dict[str, str],
        lists: frozenset[str] | set[str] = frozenset(),
        convert: dict[str, Callable[[str], Any]] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.bools = bools
        self.values = values
        self.lists = lists
        self.convert = convert or {}
        self.defaults = defaults or {}

    def _fresh(self) -> dict[str, Any]:
        opts: dict[str, Any] = dict.fromkeys(self.bools.values(), False)
        for dest in self.values.values():
            opts[dest] = [] if dest in self.lists else None
        opts.update(self.defaults)
        return opts

    def _put(self, opts: dict[str, Any], dest: str, value: str) -> bool:
        convert = self.convert.get(dest)
        if convert is not None:
            try:
                value = convert(value)
            except ValueError:
                return False
        if dest in self.lists:
            opts[dest].append(value)
        else:
            opts[dest] = value
        return True

    def parse(self, argv: list[str], *, positionals: bool = False) -> tuple[dict[str, Any], list[str]] | None:
        """(options, the rest from the first positional argument on) — with ``positionals`` false, a
        positional argument gives up instead. Flags after the first positional are the rest's, as in
        docker (``exec CTR ls -l``)."""
        opts = self._fresh()
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg.startswith("--"):
                name, eq, value = arg.partition("=")
                if name in self.bools:
                    if not eq:
                        opts[self.bools[name]] = True
                    elif value in _BOOLS:
                        opts[self.bools[name]] = _BOOLS[value]  # docker's --rm=false
                    else:
                        return None
                    continue
                if name not in self.values:
                    return None  # --help, --, an unknown flag
                if not eq:
                    if i >= len(argv):
                        return None
                    value, i = argv[i], i + 1
                if not self._put(opts, self.values[name], value):
                    return None
            elif arg.startswith("-") and len(arg) > 1:
                for j, letter in enumerate(arg[1:], start=1):
                    flag = "-" + letter
                    if flag in self.bools:
                        opts[self.bools[flag]] = True
                        continue
                    if flag not in self.values:
                        return None
                    value = arg[j + 1 :].removeprefix("=")
                    if not value:
                        if i >= len(argv):
                            return None
                        value, i = argv[i], i + 1
                    if not self._put(opts, self.values[flag], value):
                        return None
                    break
            elif positionals:
                return opts, argv[i - 1 :]
            else:
                return None
        return opts, []


__all__ = ["Flags", "Options"]
