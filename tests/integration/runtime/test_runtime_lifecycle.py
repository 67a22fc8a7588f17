"""Lifecycle through the real kernel: exit codes, attach, log, kill, transitions, delete, live restore."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from runtime_helpers import Maker, demux

from berth.errors import Conflict, NotFound
from berth.runtime import LinuxRuntime
from berth.runtime.errors import ExecFailed, UserNotFound
from berth.runtime.logread import read_entries
from berth.runtime.types import IOConfig, Status

pytestmark = pytest.mark.root


async def run(maker: Maker, args: list[str], **kwargs: object) -> tuple[int, bytes, bytes]:
    """create, attach before start, start, wait; (exit code, stdout, stderr)."""
    container_id = maker.create(args, **kwargs)  # type: ignore[arg-type]
    attached = await maker.rt.attach(container_id, stdin=False, stdout=True, stderr=True)
    maker.rt.start(container_id)
    async with asyncio.timeout(30):
        data = await attached.reader.read()
        state = await maker.rt.wait(container_id)
    attached.writer.close()
    out, err = demux(data)
    assert state.exit_code is not None
    return state.exit_code, out, err


async def test_exit_codes(maker: Maker) -> None:
    assert (await run(maker, ["true"]))[0] == 0
    assert (await run(maker, ["sh", "-c", "exit 3"]))[0] == 3


async def test_output_reaches_attach_and_log(maker: Maker) -> None:
    code, out, err = await run(maker, ["sh", "-c", "echo hello; echo oops >&2; printf tail"])
    assert (code, out, err) == (0, b"hello\ntail", b"oops\n")
    entries = read_entries(maker.log("c1"))
    assert [(e.stream, e.data) for e in entries] == [
        ("stdout", b"hello\n"),
        ("stderr", b"oops\n"),
        ("stdout", b"tail"),
    ]
    record = json.loads(maker.log("c1").read_text().splitlines()[0])
    assert set(record) == {"log", "stream", "time"} and record["time"].endswith("Z")


async def test_state_transitions(maker: Maker) -> None:
    rt = maker.rt
    container_id = maker.create(["sleep", "100"])
    assert rt.state(container_id).status == Status.CREATED
    with pytest.raises(Conflict, match="created"):
        rt.pause(container_id)
    rt.start(container_id)
    assert rt.state(container_id).status == Status.RUNNING
    with pytest.raises(Conflict, match="cannot start .* running"):
        rt.start(container_id)
    with pytest.raises(Conflict, match="running"):
        rt.delete(container_id)
    assert container_id in rt.list()
    rt.kill(container_id, signal.SIGKILL)
    state = await asyncio.wait_for(rt.wait(container_id), 10)
    assert (state.status, state.exit_code) == (Status.STOPPED, 137)
    assert state.started_at and state.finished_at
    with pytest.raises(Conflict):
        rt.kill(container_id, signal.SIGKILL)
    with pytest.raises(NotFound):
        rt.state("nope")
    rt.delete(container_id)
    rt.delete(container_id)  # idempotent
    assert container_id not in rt.list()


async def test_kill_created_container(maker: Maker) -> None:
    container_id = maker.create(["true"])
    maker.rt.kill(container_id, signal.SIGKILL)
    state = await asyncio.wait_for(maker.rt.wait(container_id), 10)
    assert state.exit_code == 137


async def test_unknown_command_is_exec_failed(maker: Maker) -> None:
    container_id = maker.create(["nope"])
    with pytest.raises(ExecFailed) as info:
        maker.rt.start(container_id)
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == 'exec: "nope": executable file not found in $PATH'
    state = maker.rt.state(container_id)
    assert (state.status, state.exit_code) == (Status.STOPPED, 127)


async def test_user_resolution(maker: Maker) -> None:
    code, out, _ = await run(maker, ["sh", "-c", "id -u; id -g; id -G"], user="app")
    uid, gid, groups = out.decode().split("\n")[:3]
    assert (code, uid, gid, set(groups.split())) == (0, "1000", "1000", {"1000", "10", "29"})
    code, out, _ = await run(maker, ["sh", "-c", "id -u; id -g; id -G"], user="nobody:wheel")
    uid, gid, groups = out.decode().split("\n")[:3]
    assert (uid, gid, groups) == ("65534", "10", "10")
    code, out, _ = await run(maker, ["sh", "-c", "id -u; echo $HOME"], user="4242")
    assert out == b"4242\n/\n"
    with pytest.raises(UserNotFound, match="unable to find user ghost: no matching entries in passwd file"):
        maker.create(["true"], user="ghost")


async def test_workdir_created(maker: Maker) -> None:
    code, out, _ = await run(maker, ["pwd"], cwd="/srv/app/data")
    assert (code, out) == (0, b"/srv/app/data\n")


async def test_stdin_once(maker: Maker) -> None:
    io = IOConfig(open_stdin=True, stdin_once=True, log_path=None)
    container_id = maker.create(["sh", "-c", "cat; echo done"], io=io)
    attached = await maker.rt.attach(container_id, stdin=True, stdout=True, stderr=True)
    maker.rt.start(container_id)
    attached.writer.write(b"ping\n")
    await attached.writer.drain()
    attached.writer.write_eof()
    async with asyncio.timeout(10):
        data = await attached.reader.read()
        state = await maker.rt.wait(container_id)
    attached.writer.close()
    assert demux(data) == (b"ping\ndone\n", b"")
    assert state.exit_code == 0


async def test_tty_and_resize(maker: Maker) -> None:
    io = IOConfig(tty=True, open_stdin=True, console_height=30, console_width=100)
    container_id = maker.create(["sh", "-c", "stty size; tty; read x; stty size"], terminal=True, io=io)
    attached = await maker.rt.attach(container_id, stdin=True, stdout=True, stderr=True)
    maker.rt.start(container_id)
    async with asyncio.timeout(10):
        first = await attached.reader.readuntil(b"/dev/pts/0\r\n")  # the container's own devpts, as runc
        maker.rt.resize(container_id, height=40, width=132)
        attached.writer.write(b"go\r")
        rest = await attached.reader.read()
        state = await maker.rt.wait(container_id)
    attached.writer.close()
    assert first.startswith(b"30 100\r\n")
    assert b"40 132" in rest
    assert state.exit_code == 0


async def test_log_rotation(maker: Maker) -> None:
    io_args = {"log_max_size": 4096, "log_max_files": 3}
    log = maker.tmp / "rot.log"
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"
    container_id = maker.create(["sh", "-c", script], io=IOConfig(log_path=log, **io_args))  # type: ignore[arg-type]
    maker.rt.start(container_id)
    await asyncio.wait_for(maker.rt.wait(container_id), 20)
    files = sorted(p.name for p in log.parent.glob("rot.log*"))
    assert files == ["rot.log", "rot.log.1", "rot.log.2"]
    assert all(p.stat().st_size <= 4096 for p in log.parent.glob("rot.log*"))
    entries = read_entries(log)
    numbers = [int(e.data.decode().strip().split("-")[1]) for e in entries]
    assert numbers == list(range(numbers[0], 400))  # oldest dropped, rest in order
    assert [e.data for e in read_entries(log, tail=2)] == [b"line-398\n", b"line-399\n"]


async def test_live_restore_in_new_process(maker: Maker) -> None:
    container_id = maker.create(["sleep", "100"])
    maker.rt.start(container_id)
    maker.rt.close()  # the first "daemon" goes away; the shim must survive
    script = textwrap.dedent(
        f"""
        import asyncio, signal
        from pathlib import Path
        from berth.runtime import LinuxRuntime
        async def main():
            rt = LinuxRuntime(Path({str(maker.rt.root)!r}))
            print(rt.list(), rt.state({container_id!r}).status.value)
            rt.kill({container_id!r}, signal.SIGKILL)
            state = await asyncio.wait_for(rt.wait({container_id!r}), 10)
            print(state.status.value, state.exit_code)
            rt.close()
        asyncio.run(main())
        """
    )
    src = str(Path(__file__).resolve().parents[3] / "src")
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"['{container_id}'] running", "stopped 137"]


async def test_delete_removes_cgroup(maker: Maker) -> None:
    container_id = maker.create(["sleep", "100"])
    maker.rt.start(container_id)
    state_json = json.loads((maker.rt.root / container_id / "state.json").read_text())
    dirs = state_json["cgroup"].get("dirs") or {"unified": state_json["cgroup"]["dir"]}
    assert all(Path(d).is_dir() for d in dirs.values())
    maker.rt.delete(container_id, force=True)
    assert not any(Path(d).exists() for d in dirs.values())
    assert not (maker.rt.root / container_id).exists()


async def test_new_runtime_instance_sees_stopped(maker: Maker, runtime: LinuxRuntime) -> None:
    code, _, _ = await run(maker, ["sh", "-c", "exit 7"])
    other = LinuxRuntime(runtime.root)
    state = await other.wait("c1")
    assert (state.status, state.exit_code) == (Status.STOPPED, 7)
    other.close()


async def test_exec_errors(maker: Maker) -> None:
    rt = maker.rt
    container_id = maker.create(["sleep", "100"])
    with pytest.raises(Conflict, match="created"):
        rt.exec_create(container_id, "e1", {"args": ["true"]}, IOConfig())
    rt.start(container_id)
    rt.exec_create(container_id, "e1", {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"}, IOConfig())
    with pytest.raises(Conflict, match="already exists"):
        rt.exec_create(container_id, "e1", {"args": ["true"]}, IOConfig())
    rt.exec_start(container_id, "e1")
    with pytest.raises(Conflict, match="already started"):
        rt.exec_start(container_id, "e1")
    assert await asyncio.wait_for(rt.exec_wait(container_id, "e1"), 10) == 0
    with pytest.raises(NotFound, match="no such exec instance: e9"):
        await rt.exec_attach(container_id, "e9", stdin=False)
    rt.kill(container_id, signal.SIGKILL)
    await asyncio.wait_for(rt.wait(container_id), 10)
    with pytest.raises(Conflict, match="stopped"):
        await rt.attach(container_id, stdin=False, stdout=True, stderr=True)


async def test_stdin_backpressure_does_not_stall_output(maker: Maker) -> None:
    """A process that reads stdin slowly while writing lots of output: the shim must keep draining."""
    io = IOConfig(open_stdin=True, stdin_once=True, log_path=None)
    script = "i=0; while [ $i -lt 3000 ]; do echo out-$i; i=$((i+1)); done; wc -c"
    container_id = maker.create(["sh", "-c", script], io=io)
    attached = await maker.rt.attach(container_id, stdin=True, stdout=True, stderr=False)
    maker.rt.start(container_id)
    payload = b"x" * (1 << 20)  # far more than a pipe holds

    async def feed() -> None:
        attached.writer.write(payload)
        await attached.writer.drain()
        attached.writer.write_eof()

    async with asyncio.timeout(30), asyncio.TaskGroup() as group:
        group.create_task(feed())
        data = await attached.reader.read()
    attached.writer.close()
    out, _ = demux(data)
    assert out.endswith(f"{len(payload)}\n".encode())
    assert out.count(b"out-") == 3000


async def test_not_executable_is_permission_denied(maker: Maker) -> None:
    container_id = maker.create(["/etc/passwd"])
    with pytest.raises(ExecFailed) as info:
        maker.rt.start(container_id)
    assert (info.value.errno, info.value.exit_code) == (errno.EACCES, 126)
    assert str(info.value) == 'exec: "/etc/passwd": permission denied'
    assert maker.rt.state(container_id).exit_code == 126
