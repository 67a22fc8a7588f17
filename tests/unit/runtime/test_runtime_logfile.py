"""json-file log writer and readers (pure file I/O in a temp dir)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import logread
from berth.runtime.logfile import LogWriter, rfc3339nano
from berth.runtime.logread import _norm, follow, read_entries
from berth.runtime.shim.protocol import frame


def test_format_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path)
    writer.write("stdout", b"hel")
    writer.write("stdout", b"lo\nwor")
    writer.write("stderr", b"err\n")
    writer.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["stream"], r["log"]) for r in records] == [
        ("stdout", "hello\n"),
        ("stderr", "err\n"),
        ("stdout", "wor"),
    ]
    assert all(len(r["time"]) == 30 and r["time"].endswith("Z") for r in records)


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=1000, max_files=3)
    for i in range(200):
        writer.write("stdout", f"line {i}\n".encode())
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.log", "c.log.1", "c.log.2"]
    data = [int(e.data.split()[1]) for e in read_entries(path)]
    assert data == list(range(data[0], 200))
    assert [e.data for e in read_entries(path, tail=3)] == [b"line 197\n", b"line 198\n", b"line 199\n"]


def test_a_full_disk_drops_whole_records_reports_once_and_writing_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the disk refuses half-way is cut back (no torn record), the output is dropped, one notice
    says so however often it repeats, and once writes succeed again for a minute a second one says so."""
    path = tmp_path / "c.log"
    notices: list[str] = []
    writer = LogWriter(path, on_notice=notices.append)
    writer.write("stdout", b"kept\n")
    real_write, clock = os.write, [1000.0]
    full = [True]

    def write(fd: int, data: bytes | memoryview) -> int:
        if full[0]:
            real_write(fd, bytes(data[:10]))  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr("berth.runtime.logfile.time.monotonic", lambda: clock[0])
    for _ in range(3):
        writer.write("stdout", b"lost\n")
    full[0] = False
    writer.write("stdout", b"back\n")
    assert [e.data for e in read_entries(path)] == [b"kept\n", b"back\n"]  # nothing torn in between
    assert notices == [
        f"cannot write log {path}: no space left on device; output is dropped until it can be written"
    ]
    clock[0] += 61
    writer.write("stdout", b"more\n")
    writer.close()
    assert notices[1:] == [f"log {path} written again (3 log records dropped)"]


def test_since_until(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    lines = [
        {"log": "a\n", "stream": "stdout", "time": "2024-01-01T00:00:01.5Z"},  # Docker trims zeros
        {"log": "b\n", "stream": "stdout", "time": "2024-01-01T00:00:02.000000001Z"},
        {"log": "c\n", "stream": "stderr", "time": "2024-01-01T00:00:03Z"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    base = 1704067200.0
    assert [e.data for e in read_entries(path, since=base + 2)] == [b"b\n", b"c\n"]
    assert [e.data for e in read_entries(path, until=base + 2)] == [b"a\n"]
    assert [e.data for e in read_entries(path, since=base + 2, tail=1)] == [b"c\n"]
    assert _norm("2024-01-01T00:00:01.5Z") == "2024-01-01T00:00:01.500000000Z"


def test_rfc3339nano() -> None:
    assert rfc3339nano(1_704_067_200_000_000_007) == "2024-01-01T00:00:00.000000007Z"


def test_stdcopy_frame() -> None:
    assert frame(2, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"


async def test_follow_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=300, max_files=2)
    writer.write("stdout", b"first\n")
    stop = asyncio.Event()
    seen: list[bytes] = []

    async def reader() -> None:
        async for entry in follow(path, stop=stop, poll=0.01):
            seen.append(entry.data)

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        group.create_task(reader())
        await asyncio.sleep(0.05)
        for i in range(10):
            writer.write("stdout", f"n{i}\n".encode())
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        stop.set()
    writer.close()
    assert seen == [b"first\n"] + [f"n{i}\n".encode() for i in range(10)]


async def test_a_record_written_while_the_follower_starts_is_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container that writes right after ``logs -f`` began (docker-py's ``run`` follows its
    logs from start): the record lands between reading the empty log and following it."""
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=1 << 20, max_files=1)
    writer.write("stdout", b"old\n")
    real_entries, real_runs = logread.read_entries, logread._existing_runs

    def entries_then_write(*args: Any, **kwargs: Any) -> Any:
        writer.write("stdout", b"meanwhile\n")
        return real_entries(*args, **kwargs)

    def runs_then_write(*args: Any) -> Any:
        writer.write("stdout", b"meanwhile\n")
        return real_runs(*args)

    monkeypatch.setattr(logread, "read_entries", entries_then_write)
    monkeypatch.setattr(logread, "_existing_runs", runs_then_write)
    stop = asyncio.Event()
    stop.set()  # the container has exited: what is there, then the end
    async with asyncio.timeout(10):
        tailed = [e.data async for e in follow(path, tail=0, stop=stop, poll=0.01)]
        whole = [r async for batch in logread.follow_runs(path, stop=stop, poll=0.01) for r in batch]
    writer.close()
    assert tailed == [b"meanwhile\n"]  # --tail 0: not the old record, but the one written since
    assert [record for _, records in whole for record in records] == [
        b"old\n",
        b"meanwhile\n",
        b"meanwhile\n",
    ]


def test_reading_a_100mb_log_whole_and_its_tail(tmp_path: Path) -> None:
    """Reading a 100 MB log whole and its tail (speed is measured in bench/exec_logs.py)."""
    path = tmp_path / "big.log"
    line = json.dumps({"log": "x" * 100 + "\n", "stream": "stdout", "time": rfc3339nano()}) + "\n"
    count = 100 * 1024 * 1024 // len(line)
    path.write_text(line * count)
    entries = list(read_entries(path))
    tail = list(read_entries(path, tail=100))
    assert len(entries) == count and len(tail) == 100
    assert entries[-100:] == tail
    merged = list(read_entries(path, merge=True))
    assert b"".join(e.data for e in merged) == b"".join(e.data for e in entries)
    assert {e.stream for e in merged} == {"stdout"} and len(merged) < 200  # a block per entry


def test_compressed_rotation_and_attrs(tmp_path: Path) -> None:
    """compress: path.1.gz … (gzip'd in the background, awaited by close); every record carries
    ``attrs``; the reader takes the .gz files and the attrs back."""
    import gzip

    log = tmp_path / "c-json.log"
    writer = LogWriter(log, max_size=2000, max_files=3, compress=True, attrs='{"app":"web"}')
    for i in range(200):
        writer.write("stdout", f"line {i:03d} with some padding\n".encode())
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    with gzip.open(tmp_path / "c-json.log.2.gz") as f:
        first = json.loads(f.readline())
    assert list(first) == ["log", "stream", "attrs", "time"]  # Docker's key order
    entries = list(read_entries(log))
    numbers = [int(e.data.split()[1]) for e in entries]
    assert numbers == list(range(numbers[0], 200)) and numbers[0] > 0
    assert all(e.attrs == {"app": "web"} for e in entries)
    assert [e.data for e in read_entries(log, tail=2)] == [
        b"line 198 with some padding\n",
        b"line 199 with some padding\n",
    ]
    times = [e.time for e in entries]
    assert times == sorted(set(times))  # every record has its own, increasing time


async def test_follow_keeps_up_with_fast_compressed_rotation(tmp_path: Path) -> None:
    """Several rotations (and gzips) between two polls: nothing lost, nothing read twice."""
    log = tmp_path / "f-json.log"
    writer = LogWriter(log, max_size=4000, max_files=100, compress=True)
    stop = asyncio.Event()

    async def write() -> None:
        await asyncio.sleep(0.2)
        for i in range(2000):
            writer.write("stdout", f"line-{i}-padding-padding-padding\n".encode())
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await asyncio.to_thread(writer.close)
        await asyncio.sleep(0.3)
        stop.set()

    async def read() -> list[int]:
        return [int(e.data.split(b"-")[1]) async for e in follow(log, stop=stop, poll=0.05)]

    _, got = await asyncio.gather(write(), read())
    assert got == list(range(2000))
    assert len(list(tmp_path.glob("f-json.log.*.gz"))) > 10


def _record(n: int) -> bytes:
    return (
        json.dumps(
            {"log": f"line-{n}\n", "stream": "stdout", "time": rfc3339nano(1_700_000_000_000_000_000 + n)},
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def test_a_rotated_file_seen_under_two_names_is_read_once(tmp_path: Path) -> None:
    """A rotation while the follower reads the rotated files can show it one file twice (as
    ``.1`` just before the rotation and as ``.2.gz`` just after): its lines must come once."""
    import gzip

    from berth.runtime.logread import _Cursor, _read_rotated

    log = tmp_path / "c-json.log"
    older = b"".join(_record(n) for n in range(10))
    moved = b"".join(_record(n) for n in range(10, 20))
    (tmp_path / "c-json.log.3.gz").write_bytes(gzip.compress(older))
    (tmp_path / "c-json.log.2.gz").write_bytes(gzip.compress(moved))
    (tmp_path / "c-json.log.1").write_bytes(moved)
    log.write_bytes(b"".join(_record(n) for n in range(20, 25)))
    cursor = _Cursor()
    cursor.newer(list(read_entries(tmp_path / "c-json.log.3.gz"))[:5])  # the follower read 0..4
    files = [(p, p.stat().st_ino) for p in sorted(tmp_path.iterdir(), reverse=True) if p != log]
    got, done = _read_rotated(log, [*files, (log, log.stat().st_ino)], cursor, log.stat().st_ino)
    assert _numbers(got) == list(range(5, 20))
    assert done


def _numbers(lines: bytes) -> list[int]:
    return [int(line.split(b"line-")[1].split(b"\\")[0]) for line in lines.splitlines()]


def test_a_rotation_while_the_rotated_files_are_read_skips_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer rotates just as the follower opens the newest rotated file: every name now holds
    the next newer file, so the read sees ``.1`` and ``.2`` but never the file (now ``.3``) with the
    follower's place. That read is not taken: the files are read again, and the lines come once."""
    from berth.runtime.logread import _Cursor, _rotated_since

    log = tmp_path / "c-json.log"
    (tmp_path / "c-json.log.2").write_bytes(b"".join(_record(n) for n in range(10)))
    (tmp_path / "c-json.log.1").write_bytes(b"".join(_record(n) for n in range(10, 20)))
    log.write_bytes(b"".join(_record(n) for n in range(20, 25)))
    following = log.stat().st_ino  # the follower reads 20.. from this file next
    cursor = _Cursor()
    cursor.newer(list(read_entries(tmp_path / "c-json.log.2"))[:5])  # it has yielded 0..4
    real_open, rotated = logread._open, []

    def open_and_rotate(path: Path) -> Any:
        if not rotated:
            rotated.append(path)
            for n in (2, 1):
                os.rename(tmp_path / f"c-json.log.{n}", tmp_path / f"c-json.log.{n + 1}")
            os.rename(log, tmp_path / "c-json.log.1")
            log.write_bytes(b"".join(_record(n) for n in range(25, 30)))
        return real_open(path)

    monkeypatch.setattr(logread, "_open", open_and_rotate)
    assert _numbers(_rotated_since(log, cursor, following)) == list(range(5, 20))
    assert rotated
