"""Docker's JSON message streams (pull, push, load, import, build): display and error handling.

On a terminal each layer id keeps its own line, redrawn in place with a progress bar (docker's
``jsonmessage`` terminal mode); otherwise every message without a progress bar is printed once.
"""

from __future__ import annotations

import sys

from berth.cli.command import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO


def progress_bar(detail: dict[str, Any], width: int = 110) -> str:
    """``[=====>      ]  1.2MB/4.5MB`` for a progressDetail ``{current,total}``."""
    from berth.cli.format import human_size

    current = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    pct = min(1.0, current / total)
    filled = int(pct * 50)
    bar = "[" + "=" * filled + (">" if filled < 50 else "") + " " * max(0, 49 - filled) + "]"
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
    return f"{bar} {numbers}" if width >= 80 else numbers


def display(
    messages: Iterable[Any],
    out: TextIO | None = None,
    *,
    aux: Callable[[dict[str, Any]], None] | None = None,
    terminal: bool | None = None,
) -> None:
    """Show a message stream; an ``error`` message raises CLIError with its text (no prefix)."""
    stream = out if out is not None else sys.stdout
    is_tty = stream.isatty() if terminal is None else terminal
    lines: dict[str, int] = {}
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise CLIError(str(msg.get("error") or detail.get("message") or "unknown error"), prefix="")
        if "aux" in msg:
            if aux is not None:
                aux(msg["aux"])
            continue
        status = msg.get("status", "")
        ident = msg.get("id", "")
        bar = progress_bar(msg.get("progressDetail") or {}) if msg.get("progressDetail") else ""
        if not bar and msg.get("progress") and is_tty:
            bar = str(msg["progress"])
        if "stream" in msg:
            stream.write(str(msg["stream"]))
            stream.flush()
            continue
        text = (f"{ident}: " if ident else "") + status + (f" {bar}" if bar and is_tty else "")
        if not is_tty:
            if bar:
                continue
            stream.write(text + "\n")
            continue
        if ident:
            if ident not in lines:
                lines[ident] = len(lines)
                stream.write(text + "\n")
            else:
                up = len(lines) - lines[ident]
                stream.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        else:
            lines.clear()
            stream.write(text + "\n")
        stream.flush()
