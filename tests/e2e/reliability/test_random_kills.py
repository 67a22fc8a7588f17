"""berthd SIGKILLed at random moments while a client imports, creates and removes images, containers,
volumes and networks (seeded: ``BERTH_KILL_SEED``; a few kills in CI, hundreds in ``make soak``).
After each kill a new daemon starts, ``system check --repair`` leaves the store clean, every request
that was answered with success before the kill still holds, and the one cut short is either done or
not there at all."""

from __future__ import annotations

import io
import os
import random
import signal
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, start_daemon

pytestmark = pytest.mark.root

SEED = int(os.environ.get("BERTH_KILL_SEED", "1"))


@dataclass
class Acknowledged:
    """What the daemon said it did: objects that must be there, and those that must not."""

    present: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    removed: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    uncertain: set[str] = field(default_factory=set)  # requests not answered with success: maybe done


KINDS = ("image", "container", "volume", "network")
_LISTS = {
    "image": ["images", "--format", "{{.Repository}}"],
    "container": ["ps", "-a", "--format", "{{.Names}}"],
    "volume": ["volume", "ls", "--format", "{{.Name}}"],
    "network": ["network", "ls", "--format", "{{.Name}}"],
}


def _rootfs(path: Path, text: str) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("file.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    return path


def _workload(
    daemon: Daemon, rng: random.Random, tmp: Path, ack: Acknowledged, stop: threading.Event
) -> None:
    """Requests one after another until the daemon dies; each success goes into ``ack``."""
    serial = 0
    while not stop.is_set():
        serial += 1
        kind = rng.choice(KINDS)
        present = sorted(ack.present[kind])
        if present and rng.random() < 0.3:
            name = rng.choice(present)
            argv = {"image": ["rmi", f"{name}:1"], "container": ["rm", name], "volume": ["volume", "rm", name],
                    "network": ["network", "rm", name]}[kind]  # fmt: skip
            ack.uncertain.add(name)  # until answered: the kill may cut it short
            if daemon.berth(*argv).returncode == 0:
                ack.present[kind].discard(name)
                ack.removed[kind].add(name)
                ack.uncertain.discard(name)
        else:
            name = f"{kind[0]}{rng.getrandbits(32):08x}"
            argv = {
                "image": ["import", str(_rootfs(tmp / f"{name}.tar", name)), f"{name}:1"],
                "container": ["create", "--name", name, "busybox", "true"],
                "volume": ["volume", "create", name],
                "network": ["network", "create", name],
            }[kind]
            ack.uncertain.add(name)
            if daemon.berth(*argv).returncode == 0:
                ack.present[kind].add(name)
                ack.uncertain.discard(name)


def _listed(daemon: Daemon, kind: str) -> set[str]:
    result = daemon.berth(*_LISTS[kind])
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def _kill_loop(berthd: Daemon, tmp: Path, kills: int) -> None:
    rng = random.Random(SEED)
    ack = Acknowledged()
    for round_ in range(kills):
        stop = threading.Event()
        worker = threading.Thread(target=_workload, args=(berthd, rng, tmp, ack, stop))
        worker.start()
        threading.Event().wait(rng.uniform(0.2, 2.0))
        berthd.process.send_signal(signal.SIGKILL)
        berthd.process.wait()
        stop.set()
        worker.join(timeout=60)
        berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process
        where = f"seed {SEED}, kill {round_ + 1}"
        repaired = berthd.berth("system", "check", "--repair")
        assert repaired.returncode == 0, f"{where}: {repaired.stdout}{repaired.stderr}"
        clean = berthd.berth("system", "check")
        assert clean.stdout == "no problems found\n", f"{where}: {clean.stdout}"
        for kind in KINDS:
            listed = _listed(berthd, kind)
            lost = ack.present[kind] - listed - ack.uncertain
            back = (ack.removed[kind] & listed) - ack.uncertain
            assert not lost, f"{where}: acknowledged {kind}s lost: {lost}"
            assert not back, f"{where}: removed {kind}s came back: {back}"
            ack.present[kind] = (ack.present[kind] & listed) | (listed & ack.uncertain)
        for name in ack.present["container"]:  # whole: it runs
            started = berthd.berth("start", "-a", name)
            assert started.returncode == 0, f"{where}: container {name}: {started.stderr}"
        ack.uncertain = set()


def test_random_kills_lose_nothing_acknowledged(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    _kill_loop(berthd, tmp_path, kills=int(os.environ.get("BERTH_KILLS", "6")))


@pytest.mark.soak
def test_random_kills_soak(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    _kill_loop(berthd, tmp_path, kills=int(os.environ.get("BERTH_KILLS", "200")))


def test_the_workload_reaches_the_daemon(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    """The loop above is only as good as its requests: each kind succeeds against a live daemon."""
    ack, stop = Acknowledged(), threading.Event()
    rng = random.Random(SEED)
    timer = threading.Timer(8.0, stop.set)
    timer.start()
    try:
        _workload(berthd, rng, tmp_path, ack, stop)
    finally:
        timer.cancel()
    assert all(ack.present[kind] | ack.removed[kind] for kind in KINDS), ack
    assert not ack.uncertain, ack.uncertain  # a live daemon answered every request with success
