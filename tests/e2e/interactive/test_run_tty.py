"""``run -it`` / ``attach`` on a real pseudo-terminal, with berth and with the docker CLI: typing,
output, window resize, Ctrl-C reaching the process, detach keys and attaching again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.interactive.conftest import run_cli
from tests.e2e.interactive.terminal import CTRL_C, CTRL_P_CTRL_Q, Terminal

pytestmark = pytest.mark.root

PROMPT = r"/ # "


def test_run_it_shell_input_resize_ctrl_c(
    berthd: Daemon, busybox_image: str, terminal: Callable[..., Terminal]
) -> None:
    term = terminal("run", "-it", "--rm", busybox_image, "sh", rows=24, cols=80)
    term.expect(PROMPT)
    term.send_line("echo $((6*7))")
    term.expect(r"\r\n42\r\n")
    term.send_line("stty size")
    term.expect(r"\r\n24 80\r\n")
    term.send_line("tty")
    # Docker prints /dev/pts/0 (runc allocates the pty in the container's devpts); Berth's shim
    # allocates it on the host and binds it at /dev/console — still a terminal either way.
    term.expect(r"\r\n/dev/(pts/\d+|console)\r\n")
    term.resize(40, 120)
    term.expect(PROMPT)
    term.send_line("stty size")
    term.expect(r"\r\n40 120\r\n")
    # Ctrl-C is a byte on a TTY: the pty's line discipline turns it into SIGINT for sleep.
    term.send_line("sleep 30; echo not-interrupted")
    term.write(CTRL_C)
    term.expect(PROMPT, timeout=5)
    assert b"not-interrupted" not in term.output
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
    assert b"read escape sequence" in term.output
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.Running}}", "detachable").stdout.strip() == "true"

    again = terminal("attach", "detachable")
    again.send_line("echo second")
    again.expect(r"second\r\n")
    again.write(CTRL_P_CTRL_Q)
    assert again.wait() == 0
    assert run_cli(berthd, cli, "inspect", "-f", "{{.State.Running}}", "detachable").stdout.strip() == "true"

    last = terminal("attach", "detachable")
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
    term.expect(PROMPT)
    term.send_line("stty size; exit 4")
    term.expect(r"\r\n24 80\r\n")
    assert term.wait() == 4
