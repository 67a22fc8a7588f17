"""The forkserver: a small, single-threaded Python process that forks shims for the (threaded) daemon.

Started once per runtime root by LinuxRuntime (``python -m berth.runtime.forkserver SOCK``) with the
shim's modules preloaded and its heap frozen (``gc.freeze``), so a shim costs a fork (~1 ms) rather
than a Python start-up (~30 ms), and shares the forkserver's pages (measured with
bench/runtime_start.py: ~2 MB private, ~3 MB PSS per idle shim with 10 containers running).
Each request line on SOCK is a create request; the forkserver forks the shim (one fork: a double fork
to detach it would cost ~1 ms of every ``run``), which calls setsid, inherits the connection and
answers through its creator. The forkserver reaps shims that exit; when it exits, init adopts the rest.
The forkserver exits when its stdin (a pipe from the daemon) reaches EOF, or on ``{"op": "exit"}``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import socket
import sys
import traceback

# Preload everything a shim or container init may import: one import after fork costs a shim
# ~2 MB of private memory (the import machinery writes all over the shared heap).
from berth.runtime.cgroups import v1 as _v1  # noqa: F401
from berth.runtime.cgroups import v2 as _v2  # noqa: F401
from berth.runtime.shim import creator as _creator  # noqa: F401
from berth.runtime.shim import server
from berth.util.unixsock import short_path


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0]


def _spawn(listener: socket.socket, conn: socket.socket, request: dict[str, object]) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            os.setsid()  # the shim's own session: no terminal signals from ours
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                os.dup2(null, fd)
            os.close(null)
            server.run_shim(conn, request)
        except BaseException:
            traceback.print_exc()  # to forkserver.log: a shim must never die silently
            sys.stderr.flush()
        finally:
            os._exit(0)
    conn.close()


def _reap() -> None:
    """Collect shims that exited (they are our children until we exit; then init adopts them)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def main(argv: list[str]) -> int:
    path = argv[1]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with short_path(path) as short:
        listener.bind(short)
    listener.listen(128)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(0, selectors.EVENT_READ)
    # Move every object allocated so far out of the collector's reach: a GC pass in a forked shim would
    # otherwise write to each object's header and copy-on-write the whole heap (~4 MB per shim).
    gc.freeze()
    os.write(1, b"ready\n")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    while True:
        _reap()
        for key, _ in sel.select(timeout=1.0):
            if key.fd == 0:
                if not os.read(0, 4096):
                    return 0  # the daemon is gone (or closed us): new daemons start their own
                continue
            conn, _ = listener.accept()
            try:
                line = _read_line(conn)
                request = json.loads(line) if line else {}
            except (OSError, ValueError):
                conn.close()
                continue
            if not isinstance(request, dict):
                conn.close()
            elif request.get("op") == "ping":
                conn.sendall(b'{"ok":true}\n')
                conn.close()
            elif request.get("op") == "exit":
                conn.close()
                return 0
            else:
                _spawn(listener, conn, request)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
