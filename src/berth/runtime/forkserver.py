"""The forkserver: a small, single-threaded Python process that forks shims for the (threaded) daemon.

Started once per runtime root by LinuxRuntime (``python -m berth.runtime.forkserver SOCK``) with the
shim's modules preloaded and its heap frozen (``gc.freeze``), so a shim costs a fork (~1 ms) rather
than a Python start-up (~30 ms); once the container is built the shim execs the C monitor
(``runtime/monitor``: ~0.25 MB PSS per idle container, measured with bench/runtime_start.py).
An ``{"op": "exec"}`` request (from a monitor, with the exec's stdio as SCM_RIGHTS) forks an exec
helper instead (``shim/exec_helper``).
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
from berth.runtime.shim import exec_helper, server
from berth.util.unixsock import short_path


def _read_request(conn: socket.socket) -> tuple[bytes, list[int]]:
    """One request line and the descriptors sent with it (an exec's stdio, from the C monitor)."""
    data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
    while data and b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0], fds


def _spawn_exec(
    listener: socket.socket, conn: socket.socket, request: dict[str, object], fds: list[int]
) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            listener.close()
            exec_helper.serve_exec(conn, request, fds)
        except BaseException:
            traceback.print_exc()  # to forkserver.log
            sys.stderr.flush()
        finally:
            os._exit(0)
    conn.close()
    for fd in fds:
        os.close(fd)


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
            fds: list[int] = []
            try:
                line, fds = _read_request(conn)
                request = json.loads(line) if line else {}
            except (OSError, ValueError):
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            if not isinstance(request, dict):
                conn.close()
            elif request.get("op") == "ping":
                conn.sendall(b'{"ok":true}\n')
                conn.close()
            elif request.get("op") == "exit":
                conn.close()
                return 0
            elif request.get("op") == "exec":
                _spawn_exec(listener, conn, request, fds)
            else:
                _spawn(listener, conn, request)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
