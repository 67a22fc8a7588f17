"""The C monitor (runtime/monitor) that a shim becomes once the container is built: it serves idle
containers, writes the json-file log exactly as the Python writer does, its exit status is never lost
to a reader racing its exit, and the Python shim serves when the monitor is off (BERTH_MONITOR=python)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from runtime_helpers import Maker
from test_runtime_lifecycle import run

from berth.runtime import monitor
from berth.runtime.logread import read_entries
from berth.runtime.types import IOConfig, Status

pytestmark = pytest.mark.root


@pytest.fixture
def with_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTH_MONITOR", raising=False)  # the default


def _shim_exe(maker: Maker, container_id: str) -> str:
    state = json.loads((maker.rt.root / container_id / "state.json").read_text())
    return os.readlink(f"/proc/{state['shim_pid']}/exe")


async def test_a_running_container_is_served_by_the_c_monitor(maker: Maker, with_monitor: None) -> None:
    assert monitor.ensure_built() is not None, "cc is installed on these machines"
    container_id = maker.create(["sleep", "30"])
    maker.rt.start(container_id)
    try:
        assert os.path.basename(_shim_exe(maker, container_id)).startswith("berth-monitor-")
    finally:
        maker.rt.kill(container_id, 9)
        async with asyncio.timeout(30):
            state = await maker.rt.wait(container_id)
    assert state.exit_code == 137


def test_a_reader_polling_through_the_exit_never_loses_the_status(maker: Maker, with_monitor: None) -> None:
    # The monitor writes exit.json and exits microseconds after its child: a state() that saw the
    # shim alive, then init and shim gone, must still find the file (lost in ~1 of 8 exits before).
    for _ in range(40):
        container_id = maker.create(["true"])
        maker.rt.start(container_id)
        while (state := maker.rt.state(container_id)).status != Status.STOPPED:
            pass
        assert (state.exit_code, state.error) == (0, "")
        maker.rt.delete(container_id)


async def test_the_log_is_what_the_python_writer_would_write(maker: Maker, with_monitor: None) -> None:
    script = (
        r"printf 'a\001\377\303\251\n'; echo err >&2; "  # a control char, invalid UTF-8, é
        r"head -c 40000 /dev/zero | tr '\0' x; echo; "  # split into 16 KB partial messages
        r"printf '%s' \"q\\\"uote\"; printf 'tail'"  # quotes and backslashes; no final newline
    )
    code, _, _ = await run(maker, ["sh", "-c", script])
    assert code == 0
    records = [json.loads(line) for line in maker.log("c1").read_text().splitlines()]
    assert all(len(r["time"]) == 30 and r["time"].endswith("Z") for r in records)
    assert list(records[0]) == ["log", "stream", "time"]  # Docker's key order
    entries = list(read_entries(maker.log("c1")))
    assert [e.data for e in entries if e.stream == "stderr"] == [b"err\n"]
    stdout = [e.data for e in entries if e.stream == "stdout"]  # in order (one pipe)
    assert stdout[0] == "a\x01\ufffdé\n".encode()
    assert [len(data) for data in stdout[1:4]] == [16384, 16384, 7233]
    assert stdout[4:] == [b'"q\\"uote"tail']


async def test_the_python_shim_serves_when_the_monitor_is_off(
    maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_MONITOR", "python")
    container_id = maker.create(["sh", "-c", "echo from python; sleep 30"])
    maker.rt.start(container_id)
    try:
        assert "python" in os.path.basename(_shim_exe(maker, container_id))
        async with asyncio.timeout(30):
            while not list(read_entries(maker.log(container_id))):
                await asyncio.sleep(0.02)  # the shell's echo, written by the Python shim
        maker.rt.exec_create(container_id, "e1", {"args": ["sh", "-c", "exit 7"], "cwd": "/"}, IOConfig())
        maker.rt.exec_start(container_id, "e1")
        assert await asyncio.wait_for(maker.rt.exec_wait(container_id, "e1"), 10) == 7  # exec, in-shim
    finally:
        maker.rt.kill(container_id, 9)
        async with asyncio.timeout(30):
            await maker.rt.wait(container_id)
    assert [e.data for e in read_entries(maker.log(container_id))] == [b"from python\n"]
    code, out, _ = await run(maker, ["echo", "attached"])
    assert (code, out) == (0, b"attached\n")  # attach and exit status through the Python shim too
