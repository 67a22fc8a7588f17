"""``run``: output, exit codes and errors, through ``berth`` and the real docker CLI."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_run_prints_output_and_removes_container(berthd: Daemon, busybox_image: str, cli: str) -> None:
    run = getattr(berthd, cli)
    result = run("run", "--rm", busybox_image, "echo", "hello from berth")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from berth\n"
    assert berthd.berth("ps", "-aq").stdout.strip() == ""


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_run_returns_the_container_exit_code(berthd: Daemon, busybox_image: str, cli: str) -> None:
    result = getattr(berthd, cli)("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_missing_command_exits_127(berthd: Daemon, busybox_image: str, cli: str) -> None:
    result = getattr(berthd, cli)("run", "--rm", busybox_image, "no-such-command")
    assert result.returncode == 127
    assert "executable file not found" in result.stderr
    if cli == "berth":
        assert len(result.stderr.strip().splitlines()) == 1


def test_command_that_cannot_be_invoked_exits_126(berthd: Daemon, busybox_image: str) -> None:
    result = berthd.berth("run", "--rm", busybox_image, "/etc/passwd")
    assert result.returncode == 126
    assert "permission denied" in result.stderr


@pytest.mark.parametrize("cli", ["berth", "docker"])
def test_missing_image_is_an_error_that_says_so(berthd: Daemon, cli: str) -> None:
    result = getattr(berthd, cli)("run", "--rm", "no-such-image-here", "true")
    assert result.returncode == 125
    assert "no-such-image-here" in result.stderr


def test_detached_run_prints_the_id_and_logs_keep_output(berthd: Daemon, busybox_image: str) -> None:
    result = berthd.berth(
        "run", "-d", "--name", "detached", busybox_image, "sh", "-c", "echo one; echo two >&2"
    )
    assert result.returncode == 0, result.stderr
    container_id = result.stdout.strip()
    assert len(container_id) == 64
    assert berthd.berth("wait", "detached").stdout.strip() == "0"
    logs = berthd.berth("logs", "detached")
    assert logs.stdout == "one\n"
    assert logs.stderr == "two\n"


def test_env_workdir_user_hostname_and_entrypoint(
    berthd: Daemon, busybox_image: str, tmp_path: object
) -> None:
    result = berthd.berth(
        "run", "--rm", "-e", "GREETING=hi", "-w", "/tmp/work", "-u", "nobody", "-h", "boxy",
        "--entrypoint", "sh", busybox_image, "-c", 'echo "$GREETING $(pwd) $(id -u) $(hostname)"',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi /tmp/work 65534 boxy\n"


def test_env_file_and_stdin(berthd: Daemon, busybox_image: str, tmp_path: object) -> None:
    from pathlib import Path

    env_file = Path(str(tmp_path)) / "env"
    env_file.write_text("# a comment\nA=1\nB=two words\n")
    result = berthd.berth(
        "run", "--rm", "--env-file", str(env_file), busybox_image, "sh", "-c", 'echo "$A/$B"'
    )
    assert result.stdout == "1/two words\n", result.stderr
    piped = berthd.berth("run", "--rm", "-i", busybox_image, "cat", input=b"through stdin\n")
    assert piped.stdout == "through stdin\n", piped.stderr


def test_bind_mounts_tmpfs_and_read_only_root(berthd: Daemon, busybox_image: str, tmp_path: object) -> None:
    from pathlib import Path

    host_dir = Path(str(tmp_path)) / "shared"
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from host\n")
    result = berthd.berth(
        "run", "--rm", "--read-only", "--tmpfs", "/scratch", "-v", f"{host_dir}:/data",
        "-v", f"{host_dir}:/ro:ro", busybox_image, "sh", "-c",
        "cat /data/in.txt; echo made > /data/out.txt; echo tmp > /scratch/x && cat /scratch/x; "
        "touch /rootfile 2>/dev/null || echo root-ro; touch /ro/x 2>/dev/null || echo bind-ro",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from host\ntmp\nroot-ro\nbind-ro\n"
    assert (host_dir / "out.txt").read_text() == "made\n"


def test_init_reaps_as_pid_1(berthd: Daemon, busybox_image: str) -> None:
    result = berthd.berth(
        "run", "--rm", "--init", busybox_image, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/sbin/docker-init -- sh")
