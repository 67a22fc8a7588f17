"""Moving bytes between the terminal and a hijacked attach/exec connection.

Output runs on the calling thread: stdcopy frames are split to fd 1 / fd 2 (a TTY stream is copied
raw). Stdin, when wanted, is copied by a daemon thread that half-closes the connection at EOF, as the
docker CLI does (``echo hi | berth run -i busybox cat``). With ``-t`` the local terminal is put in raw
mode for the duration and window size changes are forwarded.
"""

from __future__ import annotations

import os
import sys

from berth.api.stdcopy import STDERR, STDOUT, SYSTEMERR, FrameDecoder
from berth.cli.command import CLIError
from berth.client.http import Hijacked, Response
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BrokenPipeError:
            return
        view = view[n:]


def _chunks(conn: Hijacked | Response) -> Iterator[bytes]:
    if isinstance(conn, Response):
        yield from conn.iter_chunks()
        return
    while True:
        data = conn.recv()
        if not data:
            return
        yield data


def copy_output(conn: Hijacked | Response, *, tty: bool, out_fd: int = 1, err_fd: int = 2) -> None:
    """Copy the container's output until the stream ends."""
    sys.stdout.flush()
    if tty:
        for data in _chunks(conn):
            _write_all(out_fd, data)
        return
    decoder = FrameDecoder()
    for data in _chunks(conn):
        # Frames of one stream that arrived together go out in one write: a log is a frame per line,
        # and a write per line would be most of `logs`' time.
        run: list[bytes] = []
        fd = -1
        for stream, payload in decoder.feed(data):
            target = out_fd if stream == STDOUT else err_fd if stream in (STDERR, SYSTEMERR) else -1
            if target != fd and run:
                _write_all(fd, b"".join(run))
                run = []
            fd = target
            if target >= 0:
                run.append(payload)
        if run:
            _write_all(fd, b"".join(run))


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def parse_detach_keys(spec: str) -> bytes:
    """docker's ``--detach-keys``: ``ctrl-p,ctrl-q``, ``a``, ``ctrl-@``…; ValueError if malformed."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[ch])
            else:
                raise ValueError(f"invalid detach key {key!r}")
        else:
            raise ValueError(f"invalid detach key {key!r}")
    return bytes(out)


class StdinPump:
    """Copies stdin to the connection on a daemon thread and half-closes at EOF. With ``detach_keys``
    (TTY sessions) it notices the escape sequence, as docker's client does, so the caller can leave
    without waiting for the container."""

    def __init__(self, conn: Hijacked, *, in_fd: int = 0, detach_keys: bytes = b"") -> None:
        self.conn = conn
        self.in_fd = in_fd
        self.detach_keys = detach_keys
        import threading  # only sessions with stdin need it

        self.detached = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stdin", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        recent = b""
        try:
            while True:
                data = os.read(self.in_fd, 65536)
                if not data:
                    break
                if self.detach_keys:
                    recent = (recent + data)[-len(self.detach_keys) :]
                    if recent == self.detach_keys:
                        # Set before sending: the daemon closes the session as soon as it sees the
                        # keys, and the output side must then already know this was a detach.
                        self.detached.set()
                        self.conn.sendall(data)
                        return
                self.conn.sendall(data)
        except OSError:
            return  # the connection or stdin went away: the output side reports the outcome
        self.conn.close_write()


def start_stdin_pump(conn: Hijacked, *, in_fd: int = 0, detach_keys: bytes = b"") -> StdinPump:
    """Start copying stdin to ``conn`` (see StdinPump)."""
    return StdinPump(conn, in_fd=in_fd, detach_keys=detach_keys)


class RawTerminal:
    """Context manager: put ``fd`` in raw mode if it is a terminal, restore it afterwards."""

    def __init__(self, fd: int = 0, *, enabled: bool = True) -> None:
        self.fd = fd
        self.enabled = enabled
        self._saved: Any = None

    def __enter__(self) -> RawTerminal:
        if self.enabled and os.isatty(self.fd):
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)  # not TCSAFLUSH: keep what the user typed ahead
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


def terminal_size(fd: int = 1) -> tuple[int, int] | None:
    """(height, width) of the terminal on ``fd``, or None if it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def watch_resize(resize: Callable[[int, int], None], fd: int = 1) -> None:
    """Call ``resize(h, w)`` now and on every SIGWINCH."""
    import contextlib  # not at the top: plain ``exec`` must not pay its ~2 ms of imports
    import signal

    def on_winch(_sig: int, _frame: object) -> None:
        size = terminal_size(fd)
        if size:
            with contextlib.suppress(OSError, BerthError):  # best effort: the next SIGWINCH retries
                resize(*size)

    # The first resize too is best effort, as docker's: a container that already exited must not
    # turn its (already streamed) output into a resize error.
    on_winch(signal.SIGWINCH, None)
    signal.signal(signal.SIGWINCH, on_winch)


# The signals docker's --sig-proxy forwards, by number: ``_signal`` (the C module) rather than
# ``signal``, whose Signals enum import costs every ``berth run`` ~1-3 ms.
_PROXIED = {2: "SIGINT", 15: "SIGTERM", 1: "SIGHUP", 3: "SIGQUIT", 10: "SIGUSR1", 12: "SIGUSR2"}


def proxy_signals(kill: Callable[[str], None]) -> None:
    """Forward the usual terminal signals to the container (docker's ``--sig-proxy``)."""
    import _signal  # type: ignore[import-not-found]  # no stub; the functions are signal.signal's

    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib costs start-up time
            kill(_PROXIED[signum])
        except (BerthError, OSError):
            pass  # docker only logs a failed forward at debug level (the container may have exited)

    for signum in _PROXIED:
        _signal.signal(signum, forward)


def resizer(client: Any, path: str) -> Callable[[int, int], None]:
    """``resize(h, w)`` posting ``PATH/resize`` (path is ``/containers/ID`` or ``/exec/ID``)."""

    def resize(height: int, width: int) -> None:
        client.post(f"{path}/resize", {"h": height, "w": width})

    return resize


def killer(client: Any, path: str) -> Callable[[str], None]:
    """``kill(signal)`` posting ``/containers/ID/kill?signal=…`` (docker's signal proxy)."""

    def kill(signal_name: str) -> None:
        client.post(f"{path}/kill", {"signal": signal_name})

    return kill


def check_tty(needed: bool) -> None:
    """docker refuses ``-it`` when stdin is not a terminal."""
    if needed and not os.isatty(0):
        raise CLIError("the input device is not a TTY", prefix="")


def pump_session(
    conn: Hijacked | Response,
    *,
    tty: bool,
    stdin: bool,
    detach_keys: str | None = None,
    raw_done: bool = False,
) -> bool:
    """Copy the streams of an attach/exec session until the output ends; True if the user typed the
    detach keys. ``raw_done``: the caller already put the terminal in raw mode."""
    raw = RawTerminal(0) if (tty and stdin and not raw_done) else None
    if raw is not None:
        raw.__enter__()  # before the stdin pump: a read in cooked mode would wait for a newline
    pump = None
    if isinstance(conn, Hijacked) and stdin:
        keys = b""
        if tty:
            try:
                keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
            except ValueError as exc:
                raise CLIError(str(exc)) from exc
        pump = start_stdin_pump(conn, detach_keys=keys)
    try:
        copy_output(conn, tty=tty)
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)
        conn.close()
    return pump is not None and pump.detached.is_set()
