"""``run -it`` / ``attach`` on a real pseudo-terminal, with berth and with the docker CLI: typing,
output, window resize, Ctrl-C reaching the process, detach keys and attaching again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.interactive.conftest import run_cli
from tests.e2e.interactive.terminal import CTRL_C, CTRL_P_CTRL_Q, Terminal

pytestmark = pytest.mark.root

PROMPT = r"/ # "


def _size_after_resize(term: Terminal, timeout: float = 10.0) -> bytes:
    """``stty size`` inside, asked until it changes: the CLI forwards SIGWINCH asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        term.send_line("stty size")
        size = term.expect(rb"\r\n(\d+ \d+)\r\n").group(1)
        if size != b"24 80" or time.monotonic() > deadline:
            return size
        time.sleep(0.2)


def test_run_it_shell_input_resize_ctrl_c(
    berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]
) -> None:
    term = terminal("run", "-it", "--rm", busybox_image, "sh", rows=24, cols=80)
    term.expect(PROMPT)
    assert b"^@" not in term.output  # nothing but the shell writes to the terminal (no stray NUL)
    term.send_line("echo $((6*7))")
    term.expect(r"\r\n42\r\n")
    term.send_line("stty size")
    term.expect(r"\r\n24 80\r\n")
    term.send_line("tty")
    # as runc, the pty comes from the container's own devpts, so the container can name it
    term.expect(r"\r\n/dev/pts/0\r\n")
    term.resize(40, 120)
    assert _size_after_resize(term) == b"40 120"
    # busybox's line editor asks the terminal where its cursor is (ESC[6n) as it draws each prompt;
    # a line typed before that prompt is drawn can be taken for the answer and mangled.
    term.expect(PROMPT)
    # Ctrl-C is a byte on a TTY: the pty's line discipline turns it into SIGINT for sleep.
    term.send_line("sleep 30; echo finished-$((1+1))")
    term.expect(r"finished-\$\(\(1\+1\)\)\r\n")  # the shell echoed the line and runs it now
    time.sleep(0.5)  # a ^C typed before sleep runs is only input for the shell's line editor
    typed = time.monotonic()
    term.write(CTRL_C)
    term.expect(PROMPT, timeout=10)
    assert time.monotonic() - typed < 10
    assert b"finished-2" not in term.output
    term.send_line("exit 3")
    assert term.wait() == 3


def test_detach_keys_then_attach_again(
    berthd: Daemon, busybox_image: str, cli: str, terminal: Callable[..., Terminal]
) -> None:
    term = terminal("run", "-it", "--name", "detachable", busybox_image, "sh")
    term.expect(PROMPT)
    term.send_line("echo first")
    term.expect(r"\r\nfirst\r\n")
    term.write(CTRL_P_CTRL_Q)
    assert term.wait() == 0
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.Running}}", "detachable").stdout.strip() == "true"
    events = run_cli(berthd, cli, "events", "--since", "0", "--until", f"{time.time() + 0.2:.3f}",
                     "--filter", "container=detachable", "--format", "{{.Action}}")  # fmt: skip
    # berth leaves the keys to the daemon, which reports a "detach" event; the docker CLI swallows
    # them itself and just hangs up (so dockerd has nothing to report either).
    expected = ["create", "attach", "start"] + (["detach"] if cli == "berth" else [])
    assert events.stdout.split() == expected

    again = terminal("attach", "detachable")
    again.wait_raw()
    again.send_line("echo second")
    again.expect(r"\r\nsecond\r\n")
    again.write(CTRL_P_CTRL_Q)
    # docker attach reports a detach and exits 1 (run -it exits 0); the container keeps running.
    assert again.wait() == 1, again.output
    assert again.output.endswith(b"read escape sequence\r\n")
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.Running}}", "detachable").stdout.strip() == "true"

    last = terminal("attach", "detachable")
    last.wait_raw()
    last.send_line("exit 7")
    assert last.wait() == 7
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.ExitCode}}", "detachable").stdout.strip() == "7"


def test_custom_detach_keys(berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]) -> None:
    term = terminal("run", "-it", "--detach-keys", "ctrl-x,x", "--name", "custom", busybox_image, "sh")
    term.expect(PROMPT)
    term.write(CTRL_P_CTRL_Q)  # not the keys any more: the shell gets them
    term.send_line("echo still-attached")
    term.expect(r"\r\nstill-attached\r\n")
    term.write(b"\x18x")
    assert term.wait() == 0


def test_start_ai_on_a_terminal(
    berthd: Daemon, busybox_image: str, cli: str, terminal: Callable[..., Terminal]
) -> None:
    created = run_cli(berthd, cli, "create", "-it", "--name", "later", busybox_image, "sh")
    assert created.returncode == 0, created.stderr
    term = terminal("start", "-ai", "later")
    term.wait_raw()
    term.send_line("")
    term.expect(PROMPT)
    term.send_line("stty size; exit 4")
    term.expect(r"\r\n24 80\r\n")
    assert term.wait() == 4


def test_run_without_tty_proxies_ctrl_c_as_a_signal(
    berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]
) -> None:
    # No -t: the local terminal stays cooked, ^C makes SIGINT for the CLI, which forwards it (sig-proxy).
    script = "trap 'echo got-int; exit 9' INT; echo ready; while true; do sleep 0.1; done"
    term = terminal("run", "--rm", busybox_image, "sh", "-c", script)
    term.expect(r"ready\r\n")
    time.sleep(0.3)
    term.write(CTRL_C)
    term.expect(r"got-int\r\n")
    assert term.wait() == 9


def test_run_i_without_tty_at_a_terminal_ends_at_ctrl_d(
    berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]
) -> None:
    term = terminal("run", "-i", "--rm", busybox_image, "sh", "-c", "tr a-z A-Z; echo closed >&2")
    time.sleep(1.0)  # the attach is up before we type (nothing is printed to tell us)
    term.send_line("hello")
    term.expect(r"HELLO\r\n")
    term.write(b"\x04")  # ^D on a cooked terminal: end of input, which reaches the container as EOF
    term.expect(r"closed\r\n")
    assert term.wait() == 0


def test_logs_of_a_tty_container_are_raw(
    berthd: Daemon, busybox_image: str, cli: str, terminal: Callable[..., Terminal]
) -> None:
    run_cli(
        berthd, cli, "run", "-dt", "--name", "ttylog", busybox_image, "sh", "-c", "echo out; echo err >&2"
    )
    run_cli(berthd, cli, "wait", "ttylog")
    logs = run_cli(berthd, cli, "logs", "ttylog")
    # one pty: both streams arrive on stdout, with the terminal's CRLF
    assert (logs.stdout, logs.stderr) == ("out\r\nerr\r\n", "")


def test_terminal_size_is_right_from_the_first_instruction(
    berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]
) -> None:
    # The program reads its size before any resize request could arrive: the create request's
    # ConsoleSize (docker CLI) or the initial resize must already be applied.
    for _ in range(3):
        term = terminal("run", "-it", "--rm", busybox_image, "stty", "size", rows=33, cols=77)
        term.expect(r"33 77\r\n")
        assert term.wait() == 0
