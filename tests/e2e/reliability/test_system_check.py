"""``berth system check [--repair] [--verify]`` against a real berthd whose store was damaged by hand
the ways crashes, bad disks and bad requests damage it: every problem is one line, a poison record
breaks no listing, ``--repair`` fixes what it can without losing anything, and the store is clean
after."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.root

_GHOST = "sha256:" + "0" * 64


def _check(berthd: Daemon, *flags: str) -> tuple[int, list[str]]:
    result = berthd.berth("system", "check", *flags)
    assert not result.stderr, result.stderr
    return result.returncode, result.stdout.splitlines()


def _lines(berthd: Daemon, *args: str) -> list[str]:
    result = berthd.berth(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_clean_store_checks_clean(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "--name", "kept", "-v", "data:/data", busybox_image, "true", check=True)
    berthd.berth("network", "create", "mine", check=True)
    assert _check(berthd) == (0, ["no problems found"])
    assert _check(berthd, "--verify") == (0, ["no problems found"])
    report = json.loads(berthd.berth("system", "check", "--format", "json", check=True).stdout)
    assert report == {"Findings": [], "Repaired": 0, "Remaining": 0}


def test_poison_records_are_skipped_by_listings_and_moved_aside_by_repair(
    berthd: Daemon, busybox_image: str
) -> None:
    berthd.berth("create", "--name", "good", busybox_image, "true", check=True)
    berthd.berth("volume", "create", "goodvol", check=True)
    berthd.berth("network", "create", "goodnet", check=True)
    stop_daemon(berthd)
    data = berthd.data_root
    bad_container = data / "containers" / ("c" * 64)
    bad_container.mkdir()
    good_record = next(p for p in (data / "containers").glob("*/config.v2.json") if p.parent != bad_container)
    record = json.loads(good_record.read_text())
    record.update(ID="c" * 64, Name="/poison", Config=["not", "an", "object"])
    (bad_container / "config.v2.json").write_text(json.dumps(record))
    (data / "volumes" / "badvol").mkdir()
    (data / "volumes" / "badvol" / "_data").mkdir()
    (data / "volumes" / "badvol" / "volume.json").write_text('{"Name": 5}')
    (data / "networks" / ("d" * 64 + ".json")).write_text("{torn")
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process

    # listings show the good objects and skip the bad (no 500 for everyone)
    assert [line.split()[-1] for line in _lines(berthd, "ps", "-a")[1:]] == ["good"]
    assert "goodvol" in "\n".join(_lines(berthd, "volume", "ls"))
    assert "badvol" not in "\n".join(_lines(berthd, "volume", "ls"))
    assert "goodnet" in "\n".join(_lines(berthd, "network", "ls"))
    assert berthd.berth("images").returncode == 0
    assert berthd.docker("ps", "-a").returncode == 0

    code, lines = _check(berthd)
    assert code == 1
    assert f"containers: {'c' * 64}: unreadable record: field Config: expected dict, got list" in lines
    assert "volumes: badvol: unreadable record: field Name: expected str, got int" in lines
    assert any(line.startswith(f"networks: {'d' * 64}.json: unreadable record:") for line in lines)
    assert lines[-1] == "3 problems found; --repair fixes 3 of them"

    code, lines = _check(berthd, "--repair")
    assert code == 0, lines
    assert lines[-1] == "3 problems found, 3 repaired"
    assert f"(repaired: moved to lost+found/containers/{'c' * 64})" in lines[0]
    assert (data / "lost+found" / "containers" / ("c" * 64) / "config.v2.json").is_file()  # kept, not lost
    assert (data / "lost+found" / "volumes" / "badvol" / "volume.json").is_file()
    assert (data / "lost+found" / "networks" / ("d" * 64 + ".json")).is_file()
    assert _check(berthd) == (0, ["no problems found"])
    assert berthd.berth("start", "-a", "good").returncode == 0  # the good ones untouched


def test_corrupt_and_dangling_image_data_is_found_and_repaired(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "--name", "maker", busybox_image, "sh", "-c", "echo made > /made", check=True)
    extra = berthd.berth("commit", "maker", "extra:1", check=True).stdout.strip()
    berthd.berth("rm", "maker", check=True)
    manifest = _manifest_digest(berthd.data_root, extra)
    blob = berthd.data_root / "image" / "content" / "blobs" / "sha256" / manifest.removeprefix("sha256:")
    stop_daemon(berthd)
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes().replace(b"{", b"[", 1))  # a bit flip on disk
    with sqlite3.connect(berthd.data_root / "image" / "metadata.db") as db:
        db.execute("INSERT INTO refs VALUES ('docker.io/library/ghost:latest', ?, 'tag', 0)", (_GHOST,))
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process
    ingest = berthd.data_root / "image" / "content" / "ingest" / "interrupted-pull"
    ingest.write_bytes(b"half a layer")
    old = time.time() - 3600
    os.utime(ingest, (old, old))

    code, lines = _check(berthd)  # quick: no re-hashing, the flipped bit is not seen
    assert code == 1
    assert "images: docker.io/library/ghost:latest: names image " + _GHOST + ", which is not there" in lines
    assert "content: ingest/interrupted-pull: half-written blob left by an interrupted write" in lines
    assert not any("do not match" in line for line in lines)

    code, lines = _check(berthd, "--verify", "--repair")
    assert code == 0, lines
    assert (
        f"content: {manifest}: bytes do not match the digest (corrupt) (repaired: removed (pull the image again))"
        in lines
    )
    assert any(line.startswith(f"images: {extra}: its manifest is missing") for line in lines), lines
    assert not ingest.exists()
    assert _check(berthd, "--verify") == (0, ["no problems found"])
    assert "extra" not in berthd.berth("images", check=True).stdout  # a broken image is gone whole
    assert berthd.berth("run", "--rm", busybox_image, "true").returncode == 0  # busybox intact


def _manifest_digest(data_root: Path, image_id: str) -> str:
    with sqlite3.connect(data_root / "image" / "metadata.db") as db:
        row = db.execute("SELECT manifest_digest FROM images WHERE image_id = ?", (image_id,)).fetchone()
    assert row is not None, image_id
    return str(row[0])


def test_a_network_namespace_left_mounted_by_a_gone_container_is_unmounted(
    berthd: Daemon, busybox_image: str
) -> None:
    berthd.berth("run", "-d", "--name", "live", busybox_image, "sleep", "60", check=True)
    leftover = berthd.exec_root / "netns" / ("e" * 64)  # as a daemon killed mid-rm leaves it
    leftover.touch()
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", str(leftover)], check=True)
    try:
        code, lines = _check(berthd)
        assert (code, lines) == (1, [
            f"mounts: {leftover}: network namespace left mounted: its container is gone",
            "1 problem found; --repair fixes 1 of them",
        ])  # fmt: skip
        assert _check(berthd, "--repair")[0] == 0
        assert str(leftover) not in Path("/proc/self/mountinfo").read_text()
        assert not leftover.exists()
        assert _check(berthd) == (0, ["no problems found"])  # the live container's own one is not a leftover
        assert berthd.berth("exec", "live", "true").returncode == 0
    finally:
        subprocess.run(["umount", "-l", str(leftover)], capture_output=True)


def test_runtime_state_of_a_gone_container_is_killed_and_removed(berthd: Daemon, busybox_image: str) -> None:
    """A daemon killed between the runtime's state and the record (here: the record removed while no
    daemon ran) leaves a process nobody can reach; the check finds it once it is settled."""
    cid = berthd.berth("run", "-d", busybox_image, "sleep", "300", check=True).stdout.strip()
    state = berthd.exec_root / "runtime" / cid
    init = json.loads((state / "state.json").read_text())["init_pid"]
    stop_daemon(berthd)  # live restore: it keeps running
    shutil.rmtree(berthd.data_root / "containers" / cid)
    old = time.time() - 3600
    os.utime(state, (old, old))
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process
    code, lines = _check(berthd)
    assert code == 1
    assert f"runtime: {cid}: state of a container that is gone (its process {init} still runs)" in lines
    assert _check(berthd, "--repair")[0] == 0
    assert not state.exists() and not Path(f"/proc/{init}").exists()
    assert _check(berthd) == (0, ["no problems found"])


def test_a_container_whose_monitor_dies_is_ended_and_recorded(berthd: Daemon, busybox_image: str) -> None:
    """The monitor (shim) SIGKILLed under a running container: its init would run on with nothing to
    log it or report its exit, and ``rm`` could not end it. berthd ends it and records exit 255."""
    cid = berthd.berth("run", "-d", busybox_image, "sleep", "300", check=True).stdout.strip()
    state = json.loads((berthd.exec_root / "runtime" / cid / "state.json").read_text())
    os.kill(state["shim_pid"], 9)
    deadline = time.monotonic() + 15
    while berthd.berth("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running":
        assert time.monotonic() < deadline, "still recorded as running"
        time.sleep(0.1)
    shown = berthd.berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", cid)
    assert shown.stdout.strip() == (
        "exited 255 the container's shim exited without recording an exit status"
    ), shown.stdout
    status = Path(f"/proc/{state['init_pid']}/status")
    assert not status.exists() or "zombie" in status.read_text(), "its init still runs"
    assert _check(berthd) == (0, ["no problems found"])
    berthd.berth("rm", cid, check=True)
    assert cid not in Path("/proc/self/mountinfo").read_text()  # its network namespace went with it
