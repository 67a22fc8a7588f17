"""Running a build's stages at the same time (BuildKit's step graph) behind the classic builder's
one stream of text.

``Slot``: a stage's claim on one of the daemon's build slots (``os.cpu_count()`` of them), held while it
runs steps and given back while it waits for another stage, so that a waiting stage never keeps the
stage it waits for from running. ``OrderedOutput``: the stream as a build of one stage after another
prints it — the earliest unfinished stage's messages go out as they come, a later stage's wait in
its own queue until every stage before it has finished, so that ``docker build`` shows each stage
whole and in order. ``run_all``: every stage as a task; the first failure cancels the others, waits
for them to clean up, and is raised. ``to_the_end``: work that must not be cut short by such a
cancellation (a thread holding a container's root mounted).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Out = Callable[[dict[str, Any], bool], Awaitable[None]]  # (message, raw: past the quiet mode's hold)
_CANCELLED = " ---> Cancelled: another stage failed\n"


class Slot:
    """One stage's share of the build's concurrency bound."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = False

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    @contextlib.asynccontextmanager
    async def given_back(self) -> AsyncIterator[None]:
        """Waiting for another stage: that stage (or one it waits for) may need this slot."""
        was_held = self._held
        self._release()
        yield  # an error or a cancellation ends the stage: no slot to wait for then
        if was_held:
            await self._acquire()

    async def _acquire(self) -> None:
        await self._slots.acquire()
        self._held = True  # not reached when cancelled while waiting: nothing to give back then

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


class OrderedOutput:
    """The messages of the stages ``order`` names (build order), shown stage after stage; any other
    index (the global ARGs, the build's own lines) is shown at once."""

    def __init__(self, order: Sequence[int], out: Out) -> None:
        self._order = list(order)
        self._out = out
        self._queued: dict[int, list[tuple[dict[str, Any], bool]]] = {index: [] for index in order}
        self._live: set[int] = set(self._order[:1])  # the first stage's output is never held
        self._done: set[int] = set()
        self._lead = 0  # position in ``order`` of the stage whose output is going out
        self._advancing = asyncio.Lock()

    async def send(self, index: int, message: dict[str, Any], *, raw: bool = False) -> None:
        if index in self._queued and index not in self._live:
            self._queued[index].append((message, raw))
        else:
            await self._out(message, raw)

    async def finished(self, index: int) -> None:
        """Stage ``index`` is done: the next stages' queued output goes out, up to one still running."""
        self._done.add(index)
        async with self._advancing:  # two stages finishing at once must not flush the same queue
            while self._lead < len(self._order) and self._order[self._lead] in self._done:
                self._lead += 1
                if self._lead < len(self._order):
                    await self._drain(self._order[self._lead])
                    self._live.add(self._order[self._lead])

    async def failed(self, index: int) -> None:
        """What the failed stage printed goes out before its error (the other stages' is dropped);
        the stage that was being shown, cut short, says so first."""
        shown = self._order[self._lead] if self._lead < len(self._order) else index
        if shown != index:
            await self._out({"stream": _CANCELLED}, False)
        await self._drain(index)

    async def _drain(self, index: int) -> None:
        queue = self._queued[index]
        while queue:  # messages the stage sends meanwhile join the queue: none overtakes another
            message, raw = queue.pop(0)
            await self._out(message, raw)


class InterleavedOutput:
    """Every stage's messages at once, each line of a stage's output behind ``[name] `` (its alias,
    or ``stage-N``): for a client that draws running stages side by side (``berth build
    --progress=tty``); the others get ``OrderedOutput``, one stage after another."""

    def __init__(self, names: dict[int, str], out: Out) -> None:
        self._names = names
        self._out = out
        self._mid_line: set[int] = set()  # stages whose last text did not end a line

    async def send(self, index: int, message: dict[str, Any], *, raw: bool = False) -> None:
        text = message.get("stream")
        if index not in self._names or not isinstance(text, str) or not text:
            await self._out(message, raw)
            return
        prefix = f"[{self._names[index]}] "
        lines = text.split("\n")
        head = "" if index in self._mid_line else prefix
        body = head + ("\n" + prefix).join(lines[:-1]) + ("\n" if len(lines) > 1 else "")
        if lines[-1]:
            body += (prefix if len(lines) > 1 else "") + lines[-1]
            self._mid_line.add(index)
        else:
            self._mid_line.discard(index)
        await self._out({**message, "stream": body}, raw)

    async def finished(self, index: int) -> None:
        return None

    async def failed(self, index: int) -> None:
        return None


async def run_all(
    jobs: Mapping[int, Coroutine[Any, Any, T]], on_failure: Callable[[int], Awaitable[None]]
) -> dict[int, T]:
    """Run every job at once and return their results; or, when one fails, cancel the others, wait
    until they have unwound (their containers removed), call ``on_failure`` with the index of the
    first to fail and raise its error."""
    failures: list[tuple[int, Exception]] = []

    async def job(index: int, work: Coroutine[Any, Any, T]) -> T:
        try:
            return await work
        except Exception as exc:
            failures.append((index, exc))  # in the order they happen: the first is the one to report
            raise

    tasks = {index: asyncio.create_task(job(index, work)) for index, work in jobs.items()}
    if not tasks:
        return {}
    try:
        await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
    finally:  # a failure, or the build itself cancelled (the client went away)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    if failures:
        index, error = failures[0]
        await on_failure(index)
        raise error
    return {index: task.result() for index, task in tasks.items()}


async def to_the_end(work: Awaitable[T]) -> T:
    """``work``'s result; if the caller is cancelled meanwhile, ``work`` still runs to its end (its
    thread lets go of what it holds) before the cancellation goes on."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: its outcome no longer matters
        raise
