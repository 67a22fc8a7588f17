"""Live restore: containers outlive berthd (stopped, restarted or SIGKILLed) and the next one finds them."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.root


def _restart(berthd: Daemon, *, kill: bool) -> Daemon:
    if kill:
        berthd.process.send_signal(signal.SIGKILL)
        berthd.process.wait()
    else:
        stop_daemon(berthd)
    fresh = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = fresh.process  # the fixture's teardown now stops the new daemon
    return berthd


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_running_containers_survive_the_daemon(berthd: Daemon, busybox_image: str, kill: bool) -> None:
    berthd.berth(
        "run", "-d", "--name", "survivor", busybox_image, "sh", "-c", "echo before; sleep 60", check=True
    )
    pid = berthd.berth("inspect", "-f", "{{.State.Pid}}", "survivor").stdout.strip()
    _restart(berthd, kill=kill)
    assert berthd.berth("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor").stdout.split() == [
        "running",
        pid,
    ]
    assert "survivor" in berthd.berth("ps").stdout
    assert berthd.berth("logs", "survivor").stdout == "before\n"
    assert berthd.berth("exec", "survivor", "echo", "still here").stdout == "still here\n"
    berthd.berth("stop", "-t", "1", "survivor", check=True)
    assert berthd.berth("wait", "survivor").stdout.strip() == "137"


def test_exit_while_the_daemon_was_down_is_recorded(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "brief", busybox_image, "sh", "-c", "sleep 1; exit 5", check=True)
    stop_daemon(berthd)
    time.sleep(1.5)
    fresh = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = fresh.process
    assert berthd.berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "brief").stdout.split() == [
        "exited",
        "5",
    ]


def test_restart_always_comes_back_with_the_daemon(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run", "-d", "--name", "always", "--restart", "always", busybox_image, "sleep", "60", check=True
    )
    berthd.berth("kill", "always", check=True)
    # RestartCount grows when the restart is decided; the container is "restarting" until it runs.
    deadline = time.monotonic() + 10
    state = ""
    while time.monotonic() < deadline:
        state = berthd.berth("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "always").stdout.strip()
        if state.split()[0] != "0" and state.endswith("running"):
            break
        time.sleep(0.1)
    assert state.split()[0] != "0" and state.endswith(" running"), state
