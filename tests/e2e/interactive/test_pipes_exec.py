"""``run -i`` and ``exec`` without a terminal (pipes) and ``exec -it`` on a real pty, with berth and
with the docker CLI: stdout and stderr stay separate, stdin ends cleanly at EOF, exit codes come back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.interactive.conftest import run_cli
from tests.e2e.interactive.terminal import CTRL_C, CTRL_P_CTRL_Q, Terminal

pytestmark = pytest.mark.root


def test_run_i_pipes_stdin_to_eof(berthd: Daemon, busybox_image: str, cli: str) -> None:
    result = run_cli(berthd, cli, "run", "-i", "--rm", busybox_image, "cat", input=b"hi\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")
    big = b"".join(b"line %d\n" % i for i in range(20000))
    result = run_cli(berthd, cli, "run", "-i", "--rm", busybox_image, "wc", "-l", input=big)
    assert result.stdout.strip() == "20000"
    assert run_cli(berthd, cli, "ps", "-aq").stdout == ""  # --rm removed both


def test_stdout_and_stderr_stay_separate(berthd: Daemon, busybox_image: str, cli: str) -> None:
    script = "cat; echo to-err >&2; echo to-out; exit 6"
    result = run_cli(berthd, cli, "run", "-i", "--rm", busybox_image, "sh", "-c", script, input=b"in\n")
    assert result.returncode == 6
    assert result.stdout == "in\nto-out\n"
    assert result.stderr == "to-err\n"


def test_exec_i_d_and_exit_codes(berthd: Daemon, busybox_image: str, cli: str) -> None:
    assert (
        run_cli(berthd, cli, "run", "-d", "--name", "target", busybox_image, "sleep", "300").returncode == 0
    )
    piped = run_cli(
        berthd, cli, "exec", "-i", "target", "sh", "-c", "tr a-z A-Z; echo e >&2; exit 3", input=b"abc\n"
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (3, "ABC\n", "e\n")
    detached = run_cli(berthd, cli, "exec", "-d", "target", "sh", "-c", "sleep 0.3; echo made > /tmp/flag")
    assert (detached.returncode, detached.stdout) == (0, "")
    deadline = time.monotonic() + 10
    while run_cli(berthd, cli, "exec", "target", "cat", "/tmp/flag").stdout != "made\n":
        assert time.monotonic() < deadline, "exec -d never ran"
        time.sleep(0.1)
    missing = run_cli(berthd, cli, "exec", "target", "no-such-binary")
    assert missing.returncode == 127


def test_exec_it_is_a_shell_at_a_terminal(
    berthd: Daemon, busybox_image: str, cli: str, terminal: Callable[..., Terminal]
) -> None:
    assert run_cli(berthd, cli, "run", "-d", "--name", "host", busybox_image, "sleep", "300").returncode == 0
    term = terminal("exec", "-it", "host", "sh", rows=30, cols=90)
    term.expect(r"/ # ")
    assert b"^@" not in term.output  # nothing but the shell writes to the terminal (no stray NUL)
    term.send_line("stty size; echo $((2+3))")
    term.expect(r"\r\n30 90\r\n5\r\n")
    # the pty is the container's own (its devpts), and the shell holds only its stdio
    # (the shell tests its own descriptors above 2: an interactive busybox sh keeps the tty at 10)
    term.send_line('tty; for i in $(seq 3 64); do [ -e /proc/$$/fd/$i ] && printf "%s " $i; done; echo end')
    term.expect(r"\r\n/dev/pts/\d+\r\n(10 )?end\r\n")
    term.resize(50, 132)
    deadline = time.monotonic() + 10
    while True:
        term.send_line("stty size")
        size = term.expect(rb"\r\n(\d+ \d+)\r\n").group(1)
        if size == b"50 132" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert size == b"50 132"
    term.send_line("sleep 30; echo done-$((1+1))")
    term.expect(r"done-\$\(\(1\+1\)\)\r\n")
    time.sleep(0.5)
    term.write(CTRL_C)
    term.expect(r"/ # ", timeout=10)
    assert b"done-2" not in term.output
    term.send_line("exit 5")
    assert term.wait() == 5
    # the container itself is untouched
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.Running}}", "host").stdout.strip() == "true"


def test_exec_it_detach_keys_leave_the_process(
    berthd: Daemon, busybox_image: str, cli: str, terminal: Callable[..., Terminal]
) -> None:
    assert run_cli(berthd, cli, "run", "-d", "--name", "host2", busybox_image, "sleep", "300").returncode == 0
    term = terminal("exec", "-it", "host2", "sh", "-c", "echo ready; exec sleep 200")
    term.expect("ready")
    term.wait_raw()
    term.write(CTRL_P_CTRL_Q)
    term.wait(timeout=10)
    top = run_cli(berthd, cli, "top", "host2").stdout
    assert "sleep 200" in top
