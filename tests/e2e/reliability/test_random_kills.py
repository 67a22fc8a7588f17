"""berthd SIGKILLed at random moments while a client makes and removes images (import, load, commit,
build, pull; push), containers (create, start, rm), volumes (create, first use with a copy of image
content) and networks (seeded: ``BERTH_KILL_SEED``; a few kills in CI, hundreds in ``make soak``).
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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from berth.testing.registry import start_berth_registry
from tests.e2e.conftest import Daemon, start_daemon

pytestmark = pytest.mark.root

SEED = int(os.environ.get("BERTH_KILL_SEED", "1"))


@dataclass
class Acknowledged:
    """What the daemon said it did: objects that must be there, and those that must not."""

    present: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    removed: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    uncertain: set[str] = field(default_factory=set)  # requests not answered with success: maybe done
    verbs: set[str] = field(default_factory=set)  # the requests answered with success, by verb


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


@dataclass(frozen=True)
class World:
    """What the workload reaches beyond the daemon: a registry (pull, push) and a saved archive (load)."""

    tmp: Path
    registry: str  # host:port of a berth-registry alice is logged in to
    saved: Path  # ``docker save`` of the image LOADED


LOADED = "loaded"  # the one name ``load`` makes (again and again): the archive holds that tag
PULLED = "pulled"  # and ``pull``: the registry holds REGISTRY/alice/pulled:1


def _image_maker(rng: random.Random, world: World, ack: Acknowledged, name: str) -> tuple[str, list[str]]:
    """One way to make an image: (its name, the request). Some ways need an image or a container."""
    way = rng.choice(("import", "import", "build", "commit", "load", "pull"))
    if way == "build":
        context = world.tmp / name
        context.mkdir(exist_ok=True)
        (context / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name} > /made\n")
        return name, ["build", "-q", "-t", f"{name}:1", str(context)]
    if way == "commit" and ack.present["container"]:
        return name, ["commit", rng.choice(sorted(ack.present["container"])), f"{name}:1"]
    if way == "load":
        return LOADED, ["load", "-q", "-i", str(world.saved)]
    if way == "pull":
        return f"{world.registry}/alice/{PULLED}", ["pull", "-q", f"{world.registry}/alice/{PULLED}:1"]
    return name, ["import", str(_rootfs(world.tmp / f"{name}.tar", name)), f"{name}:1"]


def _maker(rng: random.Random, world: World, ack: Acknowledged, kind: str) -> tuple[str, list[str]]:
    name = f"{kind[0]}{rng.getrandbits(32):08x}"
    if kind == "image":
        return _image_maker(rng, world, ack, name)
    if kind == "container":
        return name, ["create", "--name", name, "busybox", "true"]
    if kind == "volume" and rng.random() < 0.5:  # made by its first use: busybox's /etc copied in
        return name, ["run", "--rm", "-v", f"{name}:/etc", "busybox", "test", "-s", "/etc/passwd"]
    if kind == "volume":
        return name, ["volume", "create", name]
    return name, ["network", "create", name]


def _side_request(rng: random.Random, world: World, ack: Acknowledged, daemon: Daemon) -> None:
    """Requests that make nothing to keep, killed in the middle all the same: start and push."""
    if rng.random() < 0.5 and ack.present["container"]:
        if daemon.berth("start", "-a", rng.choice(sorted(ack.present["container"]))).returncode == 0:
            ack.verbs.add("start")
    elif images := sorted(ack.present["image"] - {LOADED, f"{world.registry}/alice/{PULLED}"}):
        name = rng.choice(images)
        remote = f"{world.registry}/alice/{name}:1"
        if daemon.berth("tag", f"{name}:1", remote).returncode == 0:
            if daemon.berth("push", "-q", remote).returncode == 0:
                ack.verbs.add("push")
            daemon.berth("rmi", remote)


def _workload(
    daemon: Daemon, rng: random.Random, world: World, ack: Acknowledged, stop: threading.Event
) -> None:
    """Requests one after another until the daemon dies; each success goes into ``ack``."""
    while not stop.is_set():
        kind = rng.choice(KINDS)
        present = sorted(ack.present[kind])
        if rng.random() < 0.1:
            _side_request(rng, world, ack, daemon)
        elif present and rng.random() < 0.3:
            name = rng.choice(present)
            argv = {"image": ["rmi", f"{name}:1"], "container": ["rm", name], "volume": ["volume", "rm", name],
                    "network": ["network", "rm", name]}[kind]  # fmt: skip
            ack.uncertain.add(name)  # until answered: the kill may cut it short
            if daemon.berth(*argv).returncode == 0:
                ack.present[kind].discard(name)
                ack.removed[kind].add(name)
                ack.uncertain.discard(name)
                ack.verbs.add(argv[0])
        else:
            name, argv = _maker(rng, world, ack, kind)
            ack.uncertain.add(name)
            if daemon.berth(*argv).returncode == 0:
                ack.present[kind].add(name)
                ack.removed[kind].discard(name)  # load and pull make the same name again
                ack.uncertain.discard(name)
                ack.verbs.add(argv[0])


def _listed(daemon: Daemon, kind: str) -> set[str]:
    result = daemon.berth(*_LISTS[kind])
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def _kill_loop(berthd: Daemon, world: World, kills: int) -> None:
    rng = random.Random(SEED)
    ack = Acknowledged()
    for round_ in range(kills):
        stop = threading.Event()
        worker = threading.Thread(target=_workload, args=(berthd, rng, world, ack, stop))
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
        if ack.present["image"]:  # whole: every one inspects
            inspected = berthd.berth(
                "image", "inspect", *(f"{name}:1" for name in sorted(ack.present["image"]))
            )
            assert inspected.returncode == 0, f"{where}: {inspected.stderr}"
        ack.uncertain = set()


@pytest.fixture
def world(berthd: Daemon, busybox_image: str, tmp_path: Path) -> Iterator[World]:
    registry = start_berth_registry(tmp_path / "registry", users={"alice": "pw"})
    try:
        berthd.berth("login", "-u", "alice", "--password-stdin", registry.host, input=b"pw\n", check=True)
        saved, remote = tmp_path / "saved.tar", f"{registry.host}/alice/{PULLED}:1"
        berthd.berth("import", str(_rootfs(tmp_path / "l.tar", LOADED)), f"{LOADED}:1", check=True)
        berthd.berth("save", "-o", str(saved), f"{LOADED}:1", check=True)
        berthd.berth("import", str(_rootfs(tmp_path / "p.tar", PULLED)), remote, check=True)
        berthd.berth("push", "-q", remote, check=True)
        berthd.berth("rmi", f"{LOADED}:1", remote, check=True)
        yield World(tmp_path, registry.host, saved)
    finally:
        registry.stop()


def test_random_kills_lose_nothing_acknowledged(berthd: Daemon, world: World) -> None:
    _kill_loop(berthd, world, kills=int(os.environ.get("BERTH_KILLS", "6")))


@pytest.mark.soak
def test_random_kills_soak(berthd: Daemon, world: World) -> None:
    _kill_loop(berthd, world, kills=int(os.environ.get("BERTH_KILLS", "200")))


EVERY_VERB = {"import", "build", "commit", "load", "pull", "push", "rmi", "create", "start", "rm", "run",
              "volume", "network"}  # fmt: skip


def test_the_workload_reaches_the_daemon(berthd: Daemon, world: World) -> None:
    """The loop above is only as good as its requests: each kind succeeds against a live daemon."""
    ack, stop = Acknowledged(), threading.Event()
    rng = random.Random(SEED)

    def until_every_verb(deadline: float = time.monotonic() + 60) -> None:
        while time.monotonic() < deadline and not ack.verbs >= EVERY_VERB:
            threading.Event().wait(0.5)
        stop.set()

    seer = threading.Thread(target=until_every_verb)
    seer.start()
    try:
        _workload(berthd, rng, world, ack, stop)
    finally:
        seer.join()
    assert ack.verbs >= EVERY_VERB, EVERY_VERB - ack.verbs
    assert not ack.uncertain, ack.uncertain  # a live daemon answered every request with success
