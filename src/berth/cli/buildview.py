"""``berth build --progress=tty``: a live view of the build's steps, as ``docker buildx build`` draws
one — a header with the time and the steps done, one line per step (running ones with a spinner and
their time, ``CACHED`` or ``DONE``), and the last lines of output of the steps running now; stages
that run at the same time each keep their running step on screen. Made from the classic stream
berthd sends (``Step 2/5 : RUN …``, `` ---> Using cache``, the output, `` ---> <id>``), so the same
daemon answer serves this view, ``--progress=plain`` and the docker CLI. When the build fails, the
failed step's whole output is printed below the view.
"""

from __future__ import annotations

import re
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TextIO

_STEP = re.compile(r"^(\[[^\]]+\] )?Step (\d+)/(\d+) : (.*)$")
_PREFIX = re.compile(r"^(\[[^\]]+\] )")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TAIL = 6  # output lines shown under a running step


class _Step:
    __slots__ = ("title", "begun", "ended", "cached", "output")

    def __init__(self, title: str) -> None:
        self.title = title
        self.begun = time.monotonic()
        self.ended = 0.0
        self.cached = False
        self.output: list[str] = []


class BuildView:
    """The state the view draws: steps in the order they started, the open one per stage."""

    def __init__(self) -> None:
        self.steps: list[_Step] = []
        self.open: dict[str, _Step] = {}  # stage prefix ("" for an unprefixed stream) → its step
        self.total = 0
        self.begun = time.monotonic()
        self.messages: list[str] = []  # lines outside any step (warnings, "Successfully built")

    def feed(self, text: str) -> None:
        for line in text.splitlines():
            self._line(_ANSI.sub("", line))

    def _line(self, line: str) -> None:
        step = _STEP.match(line)
        if step:
            prefix = step.group(1) or ""
            self._close(prefix)
            self.total = max(self.total, int(step.group(3)))
            opened = _Step(f"{prefix}{step.group(2)}/{step.group(3)} {step.group(4)}".strip())
            self.steps.append(opened)
            self.open[prefix] = opened
            return
        prefix_match = _PREFIX.match(line)
        prefix = prefix_match.group(1) if prefix_match else ""
        body = line[len(prefix) :]
        current = self.open.get(prefix) or (self.open.get("") if not prefix else None)
        if current is None:
            if body.strip():
                self.messages.append(line)
            return
        stripped = body.strip()
        if stripped == "---> Using cache":
            current.cached = True
        elif stripped.startswith(("---> Running in", "---> Removed intermediate")):
            pass
        elif re.fullmatch(r"---> [0-9a-f]{12}", stripped):
            self._close(prefix)
        elif stripped:
            current.output.append(body)

    def _close(self, prefix: str) -> None:
        step = self.open.pop(prefix, None)
        if step is not None and not step.ended:
            step.ended = time.monotonic()

    def finish(self) -> None:
        for prefix in list(self.open):
            self._close(prefix)

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.ended)

    def render(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        header = Text(f"[+] Building {now - self.begun:.1f}s ({self.done}/{self.total or '?'})", style="bold")
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=2)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(justify="right", width=8)
        for step in self.steps:
            if step.ended:
                mark: Any = Text("=>", style="blue")
                status = "CACHED" if step.cached else f"{step.ended - step.begun:.1f}s"
                table.add_row(mark, Text(step.title, style="blue"), status)
                continue
            table.add_row(Spinner("dots"), Text(step.title), f"{now - step.begun:.1f}s")
            for line in step.output[-_TAIL:]:
                table.add_row("", Text(line, style="dim"), "")
        return Group(header, table)

    def failed_output(self) -> list[str]:
        """The output of the step that was running when the build failed (the last one open)."""
        running = [s for s in self.steps if not s.ended] or self.steps[-1:]
        return running[-1].output if running else []


def display(
    messages: Iterable[Any], out: TextIO, *, aux: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """Draw ``messages`` (the daemon's stream, errors raised by the caller's filter) live on ``out``."""
    from rich.console import Console
    from rich.live import Live

    view = BuildView()
    console = Console(file=out, force_terminal=True)
    failed = True
    try:
        with Live(view.render(), console=console, refresh_per_second=8, transient=False) as live:
            for message in messages:
                if isinstance(message, dict):
                    if "aux" in message and aux is not None:
                        aux(message["aux"])
                    if isinstance(message.get("stream"), str):
                        view.feed(message["stream"])
                live.update(view.render())
            view.finish()
            live.update(view.render())
        failed = False
    finally:
        if failed:
            for line in view.failed_output():
                console.print(line, markup=False, highlight=False)
    for line in view.messages:
        if line.startswith("Successfully") or "Warning" in line:
            console.print(line, markup=False, highlight=False)
