"""libnftables, through netfilter's own Python binding (Debian's python3-nftables).

Why this binding: it is the one the nftables project ships and keeps with the library, it speaks the
same language as ``nft`` (what a user reads in ``nft list table inet berth`` is what Berth wrote),
and a whole ruleset given in one call is one kernel transaction — the table is replaced atomically,
never half-made. pyroute2's nftables module only lists tables and chains; its rules are raw netlink
expressions, and it has no sets or maps with concatenated keys, which the port maps need.

Debian installs the binding for the system's Python only (``/usr/lib/python3/dist-packages``); it is
a single pure-Python file over ``libnftables.so.1``, so it is loaded from there by path rather than
putting all of dist-packages on Berth's ``sys.path``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any, Protocol, cast

DEBIAN_BINDING = Path("/usr/lib/python3/dist-packages/nftables/nftables.py")
INSTALL_HINT = "install Debian's nftables and python3-nftables packages"


class NftablesError(OSError):
    """libnftables refused a command (its own message, first line first)."""


class Unavailable(NftablesError):
    """No libnftables or binding on this host."""


class _Binding(Protocol):
    def set_json_output(self, val: bool) -> bool: ...

    def cmd(self, cmdline: str) -> tuple[int, str, str]: ...


def _load() -> _Binding:
    spec = importlib.util.spec_from_file_location("nftables", DEBIAN_BINDING)
    if spec is None or spec.loader is None or not DEBIAN_BINDING.exists():
        raise Unavailable(f"the nftables Python binding is missing: {INSTALL_HINT}")
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return cast(_Binding, module.Nftables())
    except OSError as exc:  # the binding is there, libnftables.so.1 is not
        raise Unavailable(f"libnftables cannot be loaded ({exc}): {INSTALL_HINT}") from None


class Nft:
    """One libnftables context; calls are serialised (a context is not thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ctx: _Binding | None = None

    def _context(self) -> _Binding:
        if self._ctx is None:
            self._ctx = _load()
            self._ctx.set_json_output(True)
        return self._ctx

    def run(self, commands: str) -> str:
        """Run ``commands`` (nft syntax, several lines) as one transaction; their JSON output."""
        with self._lock:
            rc, out, err = self._context().cmd(commands)
            if len(commands) > _BIG_COMMAND:
                trim()
        if rc != 0:
            raise NftablesError(_first_error(err) or f"nft failed ({rc})")
        return out

    def query(self, command: str) -> list[dict[str, Any]]:
        """A ``list …`` command's objects (the ``nftables`` array of libnftables' JSON, metainfo dropped)."""
        text = self.run(command)
        items = json.loads(text).get("nftables", []) if text.strip() else []
        return [item for item in items if "metainfo" not in item]

    def available(self) -> bool:
        try:
            self._context()
        except Unavailable:
            return False
        return True


_BIG_COMMAND = 64 * 1024  # e.g. a range of thousands of published ports


def trim() -> None:
    """Give back to the system what libnftables freed after parsing a large command: glibc keeps it
    (10,000 port elements leave ~16 MB in berthd's heap otherwise; after this, ~1 MB)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _first_error(err: str) -> str:
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors[0] if errors else lines[0] if lines else "").removeprefix("Error: ")
