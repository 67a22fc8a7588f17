"""Live streams against a real berthd: ``logs -f`` (also after a daemon restart), ``events`` with
--since/--until/--filter in Docker's event shape, and ``wait`` conditions through docker-py."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import docker
import pytest

from tests.e2e.conftest import BERTH, DOCKER, Daemon, start_daemon, stop_daemon
from tests.e2e.interactive.conftest import run_cli

Follow = Callable[..., "Follower"]

pytestmark = pytest.mark.root

TICKER = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"


class Follower:
    """A streaming CLI command whose stdout lines are read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""
        self.lines: list[str] = []

    def next_line(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line within {timeout}s; got {self.lines}"
            if self.sel.select(remaining):
                assert self.proc.stdout is not None
                chunk = self.proc.stdout.read() or b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"stream ended; got {self.lines}")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.lines.append(line.decode())
        return self.lines[-1]

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sel.close()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def follow(berthd: Daemon) -> Iterator[Follow]:
    started: list[Follower] = []

    def start(*argv: str) -> Follower:
        follower = Follower(list(argv), berthd.env)
        started.append(follower)
        return follower

    yield start
    for follower in started:
        follower.close()


def _ticks_arrive_live(stream: Follower) -> None:
    """Lines keep coming, spaced as the container prints them (not one burst at exit)."""
    first = stream.next_line()
    assert first.startswith("tick")
    seen = time.monotonic()
    for _ in range(3):
        assert stream.next_line().startswith("tick")
    assert time.monotonic() - seen >= 0.3  # three more ticks need ~0.6 s of container time


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_logs_follow_is_live_and_ends_with_the_container(
    berthd: Daemon,
    busybox_image: str,
    cli: str,
    follow: Follow,
) -> None:
    run_cli(berthd, cli, "run", "-d", "--name", "ticker", busybox_image, "sh", "-c", TICKER)
    stream = follow(BERTH if cli == "berth" else DOCKER, "logs", "-f", "--tail", "1", "ticker")
    _ticks_arrive_live(stream)
    assert run_cli(berthd, cli, "stop", "-t", "1", "ticker").returncode == 0
    assert stream.wait() == 0


def test_logs_follow_after_a_daemon_restart(berthd: Daemon, busybox_image: str, follow: Follow) -> None:
    berthd.berth("run", "-d", "--name", "ticker", busybox_image, "sh", "-c", TICKER, check=True)
    before = follow(BERTH, "logs", "-f", "ticker")
    before.next_line()
    stop_daemon(berthd)
    assert before.wait() in (0, 1)  # the old daemon's stream is gone with it
    fresh = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = fresh.process  # the fixture's teardown now stops the new daemon
    for argv0 in (BERTH, DOCKER):
        stream = follow(argv0, "logs", "-f", "--tail", "1", "ticker")
        _ticks_arrive_live(stream)
    last = follow(BERTH, "logs", "-f", "--tail", "0", "ticker")
    berthd.berth("kill", "ticker", check=True)
    assert last.wait() == 0


def _event_shape(event: dict[str, object], action: str, container_id: str) -> None:
    assert event["Type"] == "container" and event["Action"] == action and event["scope"] == "local"
    actor = event["Actor"]
    assert isinstance(actor, dict) and actor["ID"] == container_id
    assert actor["Attributes"]["name"] == "evented" and actor["Attributes"]["image"] == "busybox:latest"
    assert event["status"] == action and event["id"] == container_id and event["from"] == "busybox:latest"
    assert isinstance(event["time"], int) and isinstance(event["timeNano"], int)
    assert event["timeNano"] // 1_000_000_000 == event["time"]


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_events_stream_live_with_filters(
    berthd: Daemon, busybox_image: str, cli: str, follow: Follow
) -> None:
    argv0 = BERTH if cli == "berth" else DOCKER
    since = time.time()
    stream = follow(
        argv0,
        "events",
        "--filter",
        "container=evented",
        "--filter",
        "type=container",
        "--format",
        "{{json .}}",
    )
    time.sleep(0.3)  # the subscription is live once the response headers are in; give it a moment
    container_id = run_cli(
        berthd, cli, "run", "-d", "--name", "evented", busybox_image, "sh", "-c", "exit 2"
    ).stdout.strip()
    assert container_id
    create = json.loads(stream.next_line())
    _event_shape(create, "create", container_id)
    assert json.loads(stream.next_line())["Action"] == "start"
    die = json.loads(stream.next_line())
    _event_shape(die, "die", container_id)
    assert die["Actor"]["Attributes"]["exitCode"] == "2"
    run_cli(berthd, cli, "rm", "evented")
    assert json.loads(stream.next_line())["Action"] == "destroy"
    # the same history, replayed: --since/--until bound it, --filter event= picks actions
    until = time.time() + 0.5
    past = run_cli(berthd, cli, "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                   "--filter", "event=die", "--filter", "event=destroy", "--format", "{{.Action}} {{.Actor.Attributes.name}}")  # fmt: skip
    assert past.returncode == 0, past.stderr
    assert past.stdout.splitlines() == ["die evented", "destroy evented"]
    nothing = run_cli(berthd, cli, "events", "--since", f"{since - 60:.3f}", "--until", f"{since - 30:.3f}")
    assert (nothing.returncode, nothing.stdout) == (0, "")
    # --since without --until: the history first, then the stream stays open for new events
    replay = follow(
        argv0, "events", "--since", f"{since:.3f}", "--filter", "container=evented", "--format", "{{.Action}}"
    )
    assert [replay.next_line() for _ in range(4)] == ["create", "start", "die", "destroy"]
    time.sleep(0.3)
    assert replay.proc.poll() is None


def test_wait_conditions_through_docker_py(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host, version="auto", timeout=60)
    try:
        box = api.create_container(busybox_image, ["sh", "-c", "sleep 1; exit 3"], name="waiter")["Id"]
        api.start(box)
        assert api.wait(box, condition="not-running")["StatusCode"] == 3
        assert api.wait(box, condition="not-running")["StatusCode"] == 3  # already stopped: at once

        results: dict[str, object] = {}

        def wait_in_background(condition: str) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: results.__setitem__(condition, api.wait(box, condition=condition)), daemon=True
            )
            thread.start()
            return thread

        next_exit = wait_in_background("next-exit")
        removed = wait_in_background("removed")
        time.sleep(0.5)
        assert not results  # a stopped container's next exit has not happened yet
        api.start(box)
        next_exit.join(15)
        assert results["next-exit"] == {"StatusCode": 3, "Error": None}
        assert "removed" not in results
        api.remove_container(box)
        removed.join(15)
        assert "removed" in results
    finally:
        api.close()
