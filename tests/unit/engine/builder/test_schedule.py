"""Stages at the same time: the output in build order whatever the timing, a slot given back while a
stage waits, the first failure cancelling the others after they clean up, work run to its end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from berth.engine.builder.schedule import OrderedOutput, Slot, run_all, to_the_end


class _Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, message: dict[str, Any], raw: bool) -> None:
        await asyncio.sleep(0)  # a send that yields: what is queued meanwhile must keep its place
        self.lines.append(("raw " if raw else "") + message["stream"])


def _m(text: str) -> dict[str, Any]:
    return {"stream": text}


async def test_a_later_stage_is_shown_whole_after_the_earlier_ones_in_build_order() -> None:
    sink = _Sink()
    out = OrderedOutput([0, 2, 5], sink)
    await out.send(-1, _m("global"))  # not a stage: at once
    await out.send(2, _m("b1"))
    await out.send(5, _m("c1"))
    await out.send(0, _m("a1"))
    await out.send(2, _m("b2"), raw=True)
    await out.finished(5)  # the last stage finishing first changes nothing yet
    assert sink.lines == ["global", "a1"]
    await out.finished(0)  # b's queue goes out; b is now live
    await out.send(2, _m("b3"))
    assert sink.lines == ["global", "a1", "b1", "raw b2", "b3"]
    await out.finished(2)  # c had finished: its queue goes out too
    assert sink.lines[-1:] == ["c1"]
    await out.send(5, _m("after"))  # the build's own lines after the last stage
    assert sink.lines[-1] == "after"


async def test_messages_sent_while_a_queue_drains_keep_their_order() -> None:
    sink = _Sink()
    out = OrderedOutput([0, 1], sink)
    for n in range(20):
        await out.send(1, _m(f"q{n}"))

    async def more() -> None:
        for n in range(20, 40):
            await out.send(1, _m(f"q{n}"))

    await asyncio.gather(out.finished(0), more())
    assert sink.lines == [f"q{n}" for n in range(40)]


async def test_a_failed_stage_shows_its_own_output_only() -> None:
    sink = _Sink()
    out = OrderedOutput([0, 1, 2], sink)
    await out.send(1, _m("cancelled one"))
    await out.send(2, _m("failing"))
    await out.failed(2)
    assert sink.lines == [" ---> Cancelled: another stage failed\n", "failing"]  # stage 0 was shown
    alone = _Sink()
    single = OrderedOutput([0], alone)
    await single.send(0, _m("only"))
    await single.failed(0)
    assert alone.lines == ["only"]  # a one-stage build fails as it always did


async def test_a_waiting_stage_gives_its_slot_back() -> None:
    slots = asyncio.Semaphore(1)
    first, second = Slot(slots), Slot(slots)
    result: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waiter() -> str:
        async with first.held():
            async with first.given_back():  # without this, producer could never run
                await result
            return result.result()

    async def producer() -> None:
        async with second.held():
            result.set_result("image")

    assert (await asyncio.wait_for(asyncio.gather(waiter(), producer()), 5))[0] == "image"
    assert not slots.locked()


async def test_a_slot_cancelled_while_waiting_releases_nothing_twice() -> None:
    slots = asyncio.Semaphore(1)
    holder, waiter = Slot(slots), Slot(slots)
    async with holder.held():
        task = asyncio.create_task(_hold(waiter))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with holder.held(), waiter.given_back():  # one slot: held once again, free after
        assert slots.locked()
    assert not slots.locked()


async def _hold(slot: Slot) -> None:
    async with slot.held():
        await asyncio.sleep(10)


async def test_the_first_failure_cancels_the_others_after_they_clean_up() -> None:
    cleaned: list[str] = []
    reported: list[int] = []

    async def slow(name: str) -> str:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0)  # cleanup that awaits still runs
            cleaned.append(name)
        return name

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("stage 1 failed")

    async def report(index: int) -> None:
        reported.append(index)

    with pytest.raises(ValueError, match="stage 1 failed"):
        await asyncio.wait_for(run_all({0: slow("a"), 1: failing(), 2: slow("c")}, report), 5)
    assert sorted(cleaned) == ["a", "c"] and reported == [1]


async def test_every_result_when_nothing_fails() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        return n * 10

    async def never(index: int) -> None:
        raise AssertionError(index)

    assert await run_all({n: value(n) for n in range(3)}, never) == {0: 0, 1: 10, 2: 20}
    assert await run_all({}, never) == {}


async def test_work_runs_to_its_end_before_the_cancellation_goes_on() -> None:
    finished: list[bool] = []

    async def work() -> None:
        await asyncio.sleep(0.05)
        finished.append(True)

    task = asyncio.create_task(to_the_end(work()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [True]


async def test_a_stage_cancelled_while_waiting_does_not_wait_for_a_slot_again() -> None:
    slots = asyncio.Semaphore(1)
    waiter, other = Slot(slots), Slot(slots)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait() -> None:
        async with waiter.held(), waiter.given_back():
            await never

    task = asyncio.create_task(wait())
    await asyncio.sleep(0)
    async with other.held():  # the slot is someone else's while the waiter is cancelled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    assert not slots.locked()


async def test_interleaved_output_puts_each_stage_line_behind_its_name() -> None:
    from berth.engine.builder.schedule import InterleavedOutput

    sent: list[str] = []

    async def out(message: dict[str, object], raw: bool) -> None:
        sent.append(str(message.get("stream", message)))

    output = InterleavedOutput({0: "a", 1: "stage-1"}, out)
    await output.send(0, {"stream": "Step 1/4 : FROM busybox\n"})
    await output.send(1, {"stream": "par"})
    await output.send(0, {"stream": "one\ntwo"})
    await output.send(1, {"stream": "tial\nnext\n"})
    await output.send(-1, {"stream": "global\n"})
    await output.send(0, {"aux": {"ID": "x"}})
    assert (
        "".join(sent[:5])
        == "[a] Step 1/4 : FROM busybox\n[stage-1] par[a] one\n[a] twotial\n[stage-1] next\nglobal\n"
    )
    assert sent[5] == "{'aux': {'ID': 'x'}}"
