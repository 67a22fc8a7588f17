"""Load held: 50 clients at once — half the docker CLI, half docker-py — run, exec, follow logs, build,
list and remove for 2 minutes (10 in ``make soak``). No request Docker would have served fails;
berthd's RSS, open descriptors, threads and asyncio tasks (``NGoroutines`` in ``/info``), sampled
after warm-up, half-way and at the end, stay level; and nothing is left behind: no container, mount,
cgroup, veth or network namespace the workload made."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

from berth.testing.daemon import bridge_for, cgroup_roots
from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root

CLIENTS = 50
IMAGE = "busybox:latest"


@dataclass
class Tally:
    """What the clients did: steps done by kind, and each failure in one line."""

    steps: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, client: str, step: str, error: BaseException | None) -> None:
        with self.lock:
            self.steps[step] += 1
            if error is not None:
                self.failures.append(f"{client} {step}: {type(error).__name__}: {str(error)[:300]}")


class Refused(AssertionError):
    """A step whose answer was not what Docker gives."""


def _expect(got: object, wanted: object, what: str) -> None:
    if got != wanted:
        raise Refused(f"{what}: got {got!r}, wanted {wanted!r}")


class CliClient:
    """The docker CLI 28, as a user types it (the classic builder: BuildKit needs buildx)."""

    def __init__(self, daemon: Daemon, name: str) -> None:
        self.name = name
        self._daemon = daemon

    def clean_up(self, tag: str) -> None:
        self._daemon.docker("rm", "-f", tag, timeout=60)
        self._daemon.docker("rmi", "-f", tag, timeout=60)

    def _ok(self, *args: str, input: bytes | None = None) -> str:
        result = self._daemon.docker(*args, input=input, timeout=180)
        if result.returncode != 0:
            raise Refused(f"docker {' '.join(args[:3])}… exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def run_rm(self, tag: str) -> None:
        _expect(self._ok("run", "--rm", IMAGE, "echo", tag), tag + "\n", "run --rm output")

    def exec_and_follow(self, tag: str) -> None:
        self._ok("run", "-d", "--name", tag, IMAGE, "sh", "-c", "echo start; sleep 2; echo end")
        result = self._daemon.docker("exec", tag, "sh", "-c", "echo in-$HOSTNAME; exit 3", timeout=60)
        hostname = self._ok("inspect", "-f", "{{.Config.Hostname}}", tag).strip()
        _expect((result.returncode, result.stdout), (3, f"in-{hostname}\n"), "exec exit code, output")
        _expect(self._ok("logs", "-f", tag), "start\nend\n", "logs -f")
        self._ok("rm", "-f", tag)

    def build(self, tag: str) -> None:
        dockerfile = f'FROM {IMAGE}\nRUN echo {tag} > /stamp\nCMD ["cat", "/stamp"]\n'
        self._ok("build", "-q", "-t", tag, "-", input=dockerfile.encode())
        _expect(self._ok("run", "--rm", tag), tag + "\n", "the built image's CMD")
        self._ok("rmi", tag)

    def list_and_inspect(self, tag: str) -> None:
        self._ok("create", "--name", tag, IMAGE, "true")
        names = self._ok("ps", "-a", "--filter", f"name=^{self.name}-", "--format", "{{.Names}}").split()
        _expect(names, [tag], "ps --filter name=^…")
        _expect(self._ok("inspect", "-f", "{{.State.Status}}", tag).strip(), "created", "inspect")
        if IMAGE not in self._ok("images", "--format", "{{.Repository}}:{{.Tag}}").split():
            raise Refused(f"{IMAGE} missing from images")
        self._ok("rm", tag)


class PyClient:
    """docker-py, as a program drives the daemon."""

    def __init__(self, daemon: Daemon, name: str) -> None:
        self.name = name
        self._client = docker.DockerClient(base_url=daemon.host, timeout=180)

    def run_rm(self, tag: str) -> None:
        _expect(self._client.containers.run(IMAGE, ["echo", tag], remove=True), f"{tag}\n".encode(), "run")

    def exec_and_follow(self, tag: str) -> None:
        script = "echo start; sleep 2; echo end"
        container = self._client.containers.run(IMAGE, ["sh", "-c", script], detach=True, name=tag)
        code, output = container.exec_run(["sh", "-c", "echo in-$HOSTNAME; exit 3"])
        _expect((code, output), (3, f"in-{container.id[:12]}\n".encode()), "exec_run exit code, output")
        _expect(b"".join(container.logs(stream=True, follow=True)), b"start\nend\n", "logs(follow=True)")
        container.remove(force=True)

    def build(self, tag: str) -> None:
        dockerfile = f'FROM {IMAGE}\nRUN echo {tag} > /stamp\nCMD ["cat", "/stamp"]\n'
        self._client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        _expect(self._client.containers.run(tag, remove=True), f"{tag}\n".encode(), "the built image's CMD")
        self._client.images.remove(tag)

    def list_and_inspect(self, tag: str) -> None:
        created = self._client.containers.create(IMAGE, ["true"], name=tag)
        found = self._client.containers.list(all=True, filters={"name": f"^{self.name}-"})
        _expect([c.name for c in found], [tag], "containers.list(filters={'name': '^…'})")
        _expect(self._client.api.inspect_container(tag)["State"]["Status"], "created", "inspect_container")
        # api.images(), not images.list(): that inspects each image listed, and one that another
        # client removes meanwhile is a 404 from Docker too
        if not any(IMAGE in (image["RepoTags"] or ()) for image in self._client.api.images()):
            raise Refused(f"{IMAGE} missing from api.images()")
        created.remove()

    def clean_up(self, tag: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._client.api.remove_container(tag, force=True)
        with contextlib.suppress(docker.errors.NotFound):
            self._client.api.remove_image(tag, force=True)

    def close(self) -> None:
        self._client.close()


Client = CliClient | PyClient
STEPS: tuple[str, ...] = ("run_rm", "exec_and_follow", "build", "list_and_inspect")


def _work(client: Client, index: int, until: float, tally: Tally) -> None:
    """Steps in turn (each client starting at its own), each with a name of its own, until ``until``."""
    turn = index
    while time.monotonic() < until:
        step = STEPS[turn % len(STEPS)]
        tag = f"{client.name}-{turn}"
        turn += 1
        error: BaseException | None = None
        try:
            getattr(client, step)(tag)
        except Exception as exc:  # every failure is counted and shown, none stops the others
            error = exc
            client.clean_up(tag)  # so that one failure does not fail the next steps too
        tally.record(client.name, step, error)


@dataclass(frozen=True)
class Sample:
    rss_mb: float
    fds: int
    threads: int
    tasks: int


def _sample(daemon: Daemon, api: docker.APIClient) -> Sample:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{daemon.process.pid}/status").read_text().splitlines()
    )
    return Sample(
        rss_mb=int(status["VmRSS"].split()[0]) / 1024,
        fds=len(os.listdir(f"/proc/{daemon.process.pid}/fd")),
        threads=int(status["Threads"]),
        tasks=int(api.info()["NGoroutines"]),
    )


def _leftovers(daemon: Daemon) -> dict[str, set[str]]:
    """What containers leave on the host while they exist: mounts (rootfs, network namespaces),
    cgroups, veths on the daemon's bridge, and namespace files."""
    mounts = {
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(daemon.root))
    }
    cgroups = {str(p) for root in cgroup_roots(daemon.cgroup_parent) if root.is_dir() for p in root.iterdir()}
    cgroups = {c for c in cgroups if Path(c).is_dir()}
    bridge = bridge_for(daemon.cgroup_parent)[0]
    links = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    veths = {line.split(":")[1].strip() for line in links.stdout.splitlines()}
    netns = daemon.exec_root / "netns"
    return {
        "mounts": mounts,
        "cgroups": cgroups,
        "veths": veths,
        "netns": {p.name for p in netns.iterdir()} if netns.is_dir() else set(),
    }


def _wait_until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _soak(daemon: Daemon, seconds: float) -> None:
    api = docker.APIClient(base_url=daemon.host, timeout=60)
    daemon.env["DOCKER_BUILDKIT"] = "0"
    _expect(daemon.docker("run", "--rm", IMAGE, "true").returncode, 0, "a first container")
    before = _leftovers(daemon)
    samples: dict[str, Sample] = {"idle before": _sample(daemon, api)}
    clients: list[Client] = [
        (CliClient if i % 2 == 0 else PyClient)(daemon, f"load{i}") for i in range(CLIENTS)
    ]
    tally = Tally()
    start = time.monotonic()
    threads = [
        threading.Thread(target=_work, args=(c, i, start + seconds, tally), daemon=True)
        for i, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for label, at in (("after warm-up", max(10.0, seconds * 0.1)), ("half-way", seconds / 2)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        samples[label] = _sample(daemon, api)
    for thread in threads:
        thread.join(timeout=seconds + 300)
    for client in clients:
        if isinstance(client, PyClient):
            client.close()
    idle = samples["idle before"]
    # The kernel tears veths down after their netns; the last connections close a moment later.
    _wait_until(lambda: _leftovers(daemon) == before and _sample(daemon, api).fds <= idle.fds + 8, 15)
    samples["idle after"] = _sample(daemon, api)
    print(f"\n{sum(tally.steps.values())} steps in {seconds:.0f} s by {CLIENTS} clients: {dict(tally.steps)}")
    print(f"{'':13}{'RSS MB':>8}{'fds':>6}{'threads':>9}{'tasks':>7}")
    for label, s in samples.items():
        print(f"{label:13}{s.rss_mb:8.1f}{s.fds:6}{s.threads:9}{s.tasks:7}")
    assert not any(t.is_alive() for t in threads), "a client still waits for an answer"
    assert not tally.failures, f"{len(tally.failures)} failed steps:\n" + "\n".join(tally.failures[:15])
    assert all(tally.steps[step] >= CLIENTS // len(STEPS) for step in STEPS), tally.steps
    warm, half, end = samples["after warm-up"], samples["half-way"], samples["idle after"]
    assert end.rss_mb <= max(warm.rss_mb, half.rss_mb) * 1.15, samples  # level, not growing with work
    assert end.fds <= idle.fds + 8, samples  # every connection, log and pipe of the load closed
    assert end.threads <= max(idle.threads, warm.threads) + 2, samples  # the worker pool, no more
    assert end.tasks <= idle.tasks + 3, samples
    assert daemon.docker("ps", "-aq").stdout == ""
    assert _leftovers(daemon) == before


def test_fifty_clients_for_two_minutes(berthd: Daemon, busybox_image: str) -> None:
    _soak(berthd, float(os.environ.get("BERTH_LOAD_SECONDS", "120")))


@pytest.mark.soak
def test_fifty_clients_for_ten_minutes(berthd: Daemon, busybox_image: str) -> None:
    _soak(berthd, 600)
