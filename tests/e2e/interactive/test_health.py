"""Healthchecks against a real berthd, shown by berth and by the docker CLI: ``ps`` status, inspect
``State.Health`` (Status, FailingStreak, Log of the last 5 probes), ``health_status`` events, start
period, timeout, an image's HEALTHCHECK and ``--no-healthcheck``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon
from tests.e2e.interactive.conftest import run_cli

pytestmark = pytest.mark.root

FAST = ("--health-interval", "200ms", "--health-retries", "2")


def _until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def _health(berthd: Daemon, cli: str, name: str) -> dict[str, object]:
    out = run_cli(berthd, cli, "inspect", "-f", "{{json .State.Health}}", name).stdout
    value = json.loads(out)
    assert isinstance(value, dict)
    return value


def _status(berthd: Daemon, cli: str, name: str) -> str:
    return str(run_cli(berthd, cli, "inspect", "-f", "{{.State.Health.Status}}", name).stdout).strip()


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_health_cmd_starting_unhealthy_healthy(berthd: Daemon, busybox_image: str, cli: str) -> None:
    since = time.time()
    started = run_cli(berthd, cli, "run", "-d", "--name", "probed", "--health-cmd", "cat /tmp/ok",
                      *FAST, busybox_image, "sleep", "300")  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert _status(berthd, cli, "probed") == "starting"
    assert (
        "(starting)" in run_cli(berthd, cli, "ps").stdout
        or "(health: starting)" in run_cli(berthd, cli, "ps").stdout
    )
    _until(lambda: _status(berthd, cli, "probed") == "unhealthy")
    health = _health(berthd, cli, "probed")
    assert isinstance(health["FailingStreak"], int) and health["FailingStreak"] >= 2
    log = health["Log"]
    assert isinstance(log, list) and 2 <= len(log) <= 5
    assert {"Start", "End", "ExitCode", "Output"} == set(log[-1])
    assert log[-1]["ExitCode"] == 1 and "No such file" in log[-1]["Output"]
    assert "(unhealthy)" in run_cli(berthd, cli, "ps").stdout

    run_cli(berthd, cli, "exec", "probed", "sh", "-c", "echo fine > /tmp/ok")
    _until(lambda: _status(berthd, cli, "probed") == "healthy")
    health = _health(berthd, cli, "probed")
    assert health["FailingStreak"] == 0
    last = health["Log"][-1]  # type: ignore[index]
    assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
    time.sleep(1.2)  # more probes: the log keeps only the last five
    assert len(_health(berthd, cli, "probed")["Log"]) == 5  # type: ignore[arg-type]
    assert "(healthy)" in run_cli(berthd, cli, "ps", "--format", "{{.Status}}").stdout
    assert run_cli(berthd, cli, "ps", "--format", "{{.Status}}").stdout.startswith("Up ")

    events = run_cli(berthd, cli, "events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.2:.3f}",
                     "--filter", "container=probed", "--format", "{{.Action}}")  # fmt: skip
    actions = [a for a in events.stdout.splitlines() if a.startswith("health_status")]
    assert actions[:2] == ["health_status: unhealthy", "health_status: healthy"]


def test_events_filter_health_status_by_prefix(berthd: Daemon, busybox_image: str) -> None:
    since = time.time()
    berthd.berth(
        "run",
        "-d",
        "--name",
        "probed",
        "--health-cmd",
        "true",
        *FAST,
        busybox_image,
        "sleep",
        "300",
        check=True,
    )
    _until(lambda: _status(berthd, "berth", "probed") == "healthy")
    events = berthd.docker("events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.2:.3f}",
                           "--filter", "event=health_status", "--format", "{{.Action}}")  # fmt: skip
    assert events.stdout.splitlines() == ["health_status: healthy"]


def test_ps_shows_health_starting_as_docker_does(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "early", "--health-cmd", "true", "--health-interval", "60s",
                 busybox_image, "sleep", "300", check=True)  # fmt: skip
    assert "(health: starting)" in berthd.docker("ps", "--format", "{{.Status}}").stdout


def test_start_period_does_not_count_failures(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "slow", "--health-cmd", "false", "--health-start-period", "3s", "--health-start-interval", "200ms",
                 *FAST, busybox_image, "sleep", "300", check=True)  # fmt: skip
    time.sleep(1.5)
    health = _health(berthd, "berth", "slow")
    assert health["Status"] == "starting" and health["FailingStreak"] == 0
    assert len(health["Log"]) >= 2  # type: ignore[arg-type]  # probes ran, failures were not counted
    _until(lambda: _status(berthd, "berth", "slow") == "unhealthy")


def test_probe_timeout(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "stuck", "--health-cmd", "sleep 10", "--health-timeout", "300ms",
                 "--health-interval", "200ms", "--health-retries", "1", busybox_image, "sleep", "300", check=True)  # fmt: skip
    _until(lambda: _status(berthd, "berth", "stuck") == "unhealthy")
    last = _health(berthd, "berth", "stuck")["Log"][-1]  # type: ignore[index]
    assert last["ExitCode"] == -1 and last["Output"] == "Health check exceeded timeout (300ms)"
    time.sleep(1.0)  # several probes have timed out by now
    top = berthd.berth("top", "stuck").stdout
    assert top.count("sleep 10") <= 1  # timed-out probes were killed (at most the current one runs)


def test_image_healthcheck_inherited_and_disabled(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "create", "--name", "base", "--health-cmd", "true", *FAST, busybox_image, "sleep", "300", check=True
    )
    berthd.berth("commit", "base", "withcheck:1", check=True)
    image_check = json.loads(
        berthd.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", "withcheck:1").stdout
    )
    assert image_check["Test"] == ["CMD-SHELL", "true"]
    berthd.berth("run", "-d", "--name", "inherits", "withcheck:1", check=True)
    _until(lambda: _status(berthd, "docker", "inherits") == "healthy")
    berthd.docker("run", "-d", "--name", "disabled", "--no-healthcheck", "withcheck:1", check=True)
    time.sleep(0.6)
    state = json.loads(berthd.docker("inspect", "-f", "{{json .State}}", "disabled").stdout)
    assert "Health" not in state
    assert "(" not in berthd.docker("ps", "--filter", "name=disabled", "--format", "{{.Status}}").stdout


def test_health_stops_with_the_container_and_restarts_with_it(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run",
        "-d",
        "--name",
        "cycle",
        "--health-cmd",
        "true",
        *FAST,
        busybox_image,
        "sleep",
        "300",
        check=True,
    )
    _until(lambda: _status(berthd, "berth", "cycle") == "healthy")
    berthd.berth("stop", "-t", "0", "cycle", check=True)
    count = len(_health(berthd, "berth", "cycle")["Log"])  # type: ignore[arg-type]
    time.sleep(0.6)
    assert len(_health(berthd, "berth", "cycle")["Log"]) == count  # type: ignore[arg-type]  # no probes
    berthd.berth("start", "cycle", check=True)
    assert _status(berthd, "berth", "cycle") == "starting"
    _until(lambda: _status(berthd, "berth", "cycle") == "healthy")


def test_docker_py_cmd_form_and_none(berthd: Daemon, busybox_image: str) -> None:
    import docker

    client = docker.DockerClient(base_url=berthd.host, version="auto", timeout=60)
    try:
        check = {"test": ["CMD", "sh", "-c", "echo probe-$((40+2))"], "interval": 200_000_000, "retries": 1}
        box = client.containers.run(
            busybox_image, ["sleep", "300"], detach=True, name="pyhealth", healthcheck=check
        )
        _until(lambda: (box.reload() or box.attrs["State"].get("Health", {}).get("Status")) == "healthy")
        assert box.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "sh", "-c", "echo probe-$((40+2))"]
        assert box.attrs["State"]["Health"]["Log"][-1]["Output"] == "probe-42\n"
        assert box.health == "healthy"
        off = client.containers.run(
            busybox_image, ["sleep", "300"], detach=True, name="pynone", healthcheck={"test": ["NONE"]}
        )
        time.sleep(0.5)
        off.reload()
        assert "Health" not in off.attrs["State"] and off.health == "unknown"
    finally:
        client.close()


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_ps_filter_by_health(berthd: Daemon, busybox_image: str, cli: str) -> None:
    run_cli(
        berthd,
        cli,
        "run",
        "-d",
        "--name",
        "good",
        "--health-cmd",
        "true",
        *FAST,
        busybox_image,
        "sleep",
        "300",
    )
    run_cli(
        berthd,
        cli,
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "false",
        *FAST,
        busybox_image,
        "sleep",
        "300",
    )
    run_cli(berthd, cli, "run", "-d", "--name", "plain", busybox_image, "sleep", "300")
    _until(lambda: _status(berthd, cli, "good") == "healthy" and _status(berthd, cli, "bad") == "unhealthy")

    def names(health: str) -> list[str]:
        out = run_cli(berthd, cli, "ps", "--filter", f"health={health}", "--format", "{{.Names}}")
        assert out.returncode == 0, out.stderr
        return sorted(out.stdout.split())

    assert (names("healthy"), names("unhealthy"), names("none")) == (["good"], ["bad"], ["plain"])


def test_health_monitor_resumes_after_a_daemon_restart(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run",
        "-d",
        "--name",
        "kept",
        "--health-cmd",
        "cat /tmp/ok",
        *FAST,
        busybox_image,
        "sleep",
        "300",
        check=True,
    )
    _until(lambda: _status(berthd, "berth", "kept") == "unhealthy")
    stop_daemon(berthd)
    fresh = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = fresh.process  # the fixture's teardown now stops the new daemon
    berthd.berth("exec", "kept", "touch", "/tmp/ok", check=True)
    _until(lambda: _status(berthd, "docker", "kept") == "healthy")
    assert "(healthy)" in berthd.docker("ps", "--format", "{{.Status}}").stdout


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_probes_do_not_grow_the_shim(berthd: Daemon, busybox_image: str) -> None:
    # Hundreds of probes (one every 1ms of idle time): the container's shim must forget each finished
    # exec once its exit is collected — before the fix it grew ~20 KiB per probe, forever.
    cid = berthd.berth("run", "-d", "--name", "busy", "--health-cmd", "true", "--health-interval", "1ms",
                       busybox_image, "sleep", "300", check=True).stdout.strip()  # fmt: skip
    state = json.loads((berthd.exec_root / "runtime" / cid / "state.json").read_text())
    shim = int(state["shim_pid"])
    _until(lambda: _status(berthd, "berth", "busy") == "healthy")
    time.sleep(2)
    before = _rss_kib(shim)
    first_end = _health(berthd, "berth", "busy")["Log"][-1]["End"]  # type: ignore[index]
    time.sleep(6)
    assert _health(berthd, "berth", "busy")["Log"][-1]["End"] != first_end  # still probing
    assert _rss_kib(shim) - before < 1024
