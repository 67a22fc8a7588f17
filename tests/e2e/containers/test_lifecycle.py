"""Lifecycle verbs: ps, stop, start, restart, kill, pause/unpause, rename, rm, wait, inspect, top, diff,
export, exec, logs — with ``berth`` and the docker CLI reading the same daemon."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time

import pytest

from tests.e2e.conftest import BERTH, Daemon

pytestmark = pytest.mark.root


def _status(berthd: Daemon, name: str) -> str:
    return berthd.berth("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def test_ps_columns_and_quiet_and_all(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "web", busybox_image, "sleep", "60", check=True)
    berthd.berth("create", "--name", "idle", busybox_image, "true", check=True)
    table = berthd.berth("ps").stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(table) == 2 and table[1].split()[-1] == "web" and "Up" in table[1]
    assert len(berthd.berth("ps", "-aq").stdout.split()) == 2
    docker_table = berthd.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
    assert sorted(line.split()[0] for line in docker_table) == ["idle", "web"]
    assert (
        "Created" in berthd.docker("ps", "-a", "--filter", "status=created", "--format", "{{.Status}}").stdout
    )
    as_json = json.loads(berthd.berth("ps", "--format", "json").stdout.splitlines()[0])
    assert as_json["Names"] == "web"


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_stop_start_restart_kill(berthd: Daemon, busybox_image: str, cli: str) -> None:
    run = getattr(berthd, cli)
    run("run", "-d", "--name", "cc", busybox_image, "sleep", "60", check=True)
    begun = time.monotonic()
    assert run("stop", "-t", "1", "cc").returncode == 0
    assert time.monotonic() - begun < 8
    assert _status(berthd, "cc") == "exited"
    assert berthd.berth("inspect", "-f", "{{.State.ExitCode}}", "cc").stdout.strip() == "137"
    run("start", "cc", check=True)
    assert _status(berthd, "cc") == "running"
    run("restart", "-t", "0", "cc", check=True)
    assert _status(berthd, "cc") == "running"
    run("kill", "cc", check=True)
    assert run("wait", "cc").stdout.strip() == "137"
    killed = run("kill", "cc")
    assert killed.returncode != 0 and "is not running" in killed.stderr


def test_stop_uses_the_stop_signal_first(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run",
        "-d",
        "--name",
        "trap",
        busybox_image,
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        check=True,
    )
    time.sleep(0.3)
    berthd.berth("stop", "trap", check=True)
    assert berthd.berth("inspect", "-f", "{{.State.ExitCode}}", "trap").stdout.strip() == "7"


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_pause_and_unpause(berthd: Daemon, busybox_image: str, cli: str) -> None:
    run = getattr(berthd, cli)
    run("run", "-d", "--name", "pp", busybox_image, "sleep", "60", check=True)
    run("pause", "pp", check=True)
    assert _status(berthd, "pp") == "paused"
    assert "(Paused)" in berthd.berth("ps", "--format", "{{.Status}}").stdout
    run("unpause", "pp", check=True)
    assert _status(berthd, "pp") == "running"


def test_rm_refuses_running_unless_forced(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "rr", busybox_image, "sleep", "60", check=True)
    refused = berthd.berth("rm", "rr")
    assert refused.returncode != 0 and "stop the container before removing or force remove" in refused.stderr
    assert berthd.berth("rm", "-f", "rr").returncode == 0
    assert berthd.berth("inspect", "rr").returncode != 0


def test_rename_and_name_conflicts(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("create", "--name", "aa", busybox_image, "true", check=True)
    taken = berthd.berth("create", "--name", "aa", busybox_image, "true")
    assert taken.returncode == 1 and "is already in use" in taken.stderr  # docker create exits 1 too
    berthd.berth("rename", "aa", "bb", check=True)
    assert berthd.berth("inspect", "-f", "{{.Name}}", "bb").stdout.strip() == "/bb"


def test_inspect_has_the_fields_clients_need(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "create",
        "--name",
        "ii",
        "-l",
        "team=core",
        "--restart",
        "on-failure:3",
        busybox_image,
        "true",
        check=True,
    )
    body = json.loads(berthd.docker("inspect", "ii").stdout)[0]
    assert body["Config"]["Tty"] is False and body["Config"]["Labels"] == {"team": "core"}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert body["State"]["Status"] == "created" and body["NetworkSettings"]["Ports"] == {}
    missing = berthd.docker("inspect", "nothing-by-this-name")
    assert missing.returncode == 1 and "No such object: nothing-by-this-name" in missing.stderr


def test_logs_tail_timestamps_and_follow(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run",
        "--name",
        "ll",
        busybox_image,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done",
        check=True,
    )
    assert berthd.berth("logs", "--tail", "2", "ll").stdout == "line4\nline5\n"
    stamped = berthd.docker("logs", "-t", "ll").stdout.splitlines()
    assert len(stamped) == 5 and stamped[0].endswith(" line1") and stamped[0][4] == "-"
    berthd.berth(
        "run", "-d", "--name", "ff", busybox_image, "sh", "-c", "echo a; sleep 1; echo b", check=True
    )
    followed = berthd.berth("logs", "-f", "ff", timeout=20)
    assert followed.stdout == "a\nb\n"


def test_exec_joins_the_container(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "-d", "--name", "xx", "-e", "FROM_RUN=1", busybox_image, "sleep", "60", check=True)
    result = berthd.berth(
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "xx",
        "sh",
        "-c",
        'echo "$FROM_RUN$EXTRA $(pwd) $$"; ls /proc | grep -c "^[0-9]"',
    )
    lines = result.stdout.split("\n")
    assert lines[0].startswith("12 /tmp ")
    assert int(lines[0].split()[-1]) > 1  # a pid inside the container's namespace
    assert berthd.berth("exec", "xx", "sh", "-c", "exit 9").returncode == 9
    assert berthd.docker("exec", "xx", "sh", "-c", "exit 4").returncode == 4
    assert berthd.berth("exec", "-u", "nobody", "xx", "id", "-u").stdout.strip() == "65534"
    assert berthd.berth("exec", "xx", "nope").returncode == 127


def test_top_diff_export(berthd: Daemon, busybox_image: str, tmp_path: object) -> None:
    berthd.berth(
        "run",
        "-d",
        "--name",
        "tt",
        busybox_image,
        "sh",
        "-c",
        "echo x > /made; rm /bin/vi; sleep 60",
        check=True,
    )
    time.sleep(0.5)
    top = berthd.berth("top", "tt").stdout
    assert "sleep 60" in top and "PID" in top.splitlines()[0]
    diff = berthd.docker("diff", "tt").stdout.splitlines()
    assert "A /made" in diff and "D /bin/vi" in diff and "C /bin" in diff
    exported = berthd.docker("export", "tt")
    assert exported.returncode == 0
    raw = berthd.berth("export", "tt")
    assert raw.returncode == 0


def test_export_is_a_tar_of_the_merged_root(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth("run", "--name", "ee", busybox_image, "sh", "-c", "echo x > /made", check=True)
    out = subprocess.run([BERTH, "export", "ee"], env=berthd.env, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as archive:
        names = archive.getnames()
    assert any(n.lstrip("./") == "made" for n in names)
    assert any(n.lstrip("./") == "bin/busybox" for n in names)


def test_restart_policy_on_failure_counts_restarts(berthd: Daemon, busybox_image: str) -> None:
    berthd.berth(
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        busybox_image,
        "sh",
        "-c",
        "exit 1",
        check=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = berthd.berth("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky").stdout.split()
        if state == ["2", "exited"]:
            break
        time.sleep(0.2)
    assert state == ["2", "exited"]
