"""A real pseudo-terminal for end-to-end tests: run a CLI as a user at a terminal would.

``Terminal`` forks the command onto a new pty (``pty.fork``: new session, the pty is its controlling
terminal), so raw mode, ``SIGWINCH`` on resize and Ctrl-C as a byte (``\\x03``) all behave as they do
for a person typing. Only the test process forks here, and it execs at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence

CTRL_C = b"\x03"
CTRL_P_CTRL_Q = b"\x10\x11"


class Terminal:
    """The command ``argv`` running on a pty of ``rows`` x ``cols``; everything it prints is kept."""

    def __init__(
        self, argv: Sequence[str], env: Mapping[str, str], *, rows: int = 24, cols: int = 80
    ) -> None:
        self.argv = list(argv)
        pid, fd = pty.fork()
        if pid == 0:  # the child: size its terminal before the program can look, then exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(self.argv[0], self.argv, dict(env))
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.output = b""
        self._consumed = 0
        self.returncode: int | None = None

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def send_line(self, text: str) -> None:
        self.write(text.encode() + b"\r")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child side closed
            data = b""
        if not data:
            return False
        self.output += data
        return True

    def expect(self, pattern: str | bytes, timeout: float = 15.0) -> re.Match[bytes]:
        """Wait for ``pattern`` (a regex) in output not matched before; AssertionError with the text."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        open_ = True
        while True:
            found = regex.search(self.output, self._consumed)
            if found:
                self._consumed = found.end()
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not open_:
                raise AssertionError(
                    f"{pattern!r} not seen from {self.argv}; output so far:\n"
                    + self.output[self._consumed :].decode(errors="replace")
                )
            open_ = self._read(min(remaining, 0.2))

    def wait_raw(self, timeout: float = 15.0) -> None:
        """Wait until the program put its terminal in raw mode (what the CLIs do once attached):
        typing earlier would be line-edited and echoed by the local terminal, not sent through."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & (termios.ICANON | termios.ECHO):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.argv} never put its terminal in raw mode")
            self._read(0.05)

    def resize(self, rows: int, cols: int) -> None:
        """Resize the terminal: the kernel sends SIGWINCH to its foreground process group."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _poll(self) -> bool:
        """True while the child runs."""
        if self.returncode is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.returncode = os.waitstatus_to_exitcode(status)
        return False

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the command to exit (reading its output meanwhile); its exit code."""
        deadline = time.monotonic() + timeout
        while self._poll():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.argv} still running; output:\n" + self.output.decode(errors="replace")
                )
            self._read(0.1)
        while self._read(0.05):
            if not select.select([self.fd], [], [], 0)[0]:
                break
        assert self.returncode is not None
        return self.returncode

    def close(self) -> None:
        if self._poll():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.returncode = -9
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
