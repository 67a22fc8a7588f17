"""The shim's event loop: one single-threaded process per container, forked from the forkserver.

``run_shim`` first forks a short-lived creator (``shim.creator``) that builds the container and hands
the shim its descriptors; the shim then execs the C monitor (``runtime/monitor``), which serves
``shim.sock`` from then on in ~0.25 MB. Only without it (no C compiler, ``BERTH_MONITOR=python``) does
``Shim`` below serve ``shim.sock`` (see ``protocol``) with ``selectors`` — the reference behaviour the
monitor reproduces. It reaps init and execs (SIGCHLD via a wakeup pipe; it is a
child subreaper), copies output to the json-file log and to attached clients, forks exec'd processes,
and once init has exited and its output is drained it writes ``exit.json`` atomically and exits.

State dir (``<root>/<container_id>/``)::

    create.json   the create request (bundle, rootfs mounts, io, cgroup) — written by LinuxRuntime
    state.json    {"shim_pid", "shim_start", "init_pid", "init_start", "started_at", "cgroup", "tty"}
    shim.sock     this loop's control socket
    exit.json     {"exit_code", "oom_killed", "finished_at", "error"} — its presence means STOPPED
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from berth.runtime import cgroups, notices
from berth.runtime.linux import console, seccomp
from berth.runtime.linux import syscalls as sc
from berth.runtime.logfile import LogWriter, rfc3339nano
from berth.runtime.shim import child, protocol
from berth.util.atomic import write_json

JsonMap = Mapping[str, object]


def start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks): with the pid it identifies a process."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2 :].split()[19])


@dataclass(slots=True)
class Client:
    """A connection on shim.sock: first a request line, then maybe an attached stream."""

    sock: socket.socket
    buffer: bytes = b""
    proc: Proc | None = None
    streams: tuple[str, ...] = ()
    stdin: bool = False
    pending: bytes = b""  # stdin bytes the process has not taken yet
    stdin_waiter: int | None = None  # a dup of the stdin fd, polled for writability while pending


@dataclass(slots=True)
class Proc:
    """The init process or one exec: its stdio and who listens to it."""

    name: str
    tty: bool
    open_stdin: bool
    stdin_once: bool
    process: dict[str, object] = field(default_factory=dict)
    privileged: bool = False
    pid: int = 0
    stdin_fd: int | None = None  # our end: stdin pipe write end, or the pty master
    child_fds: list[int] = field(default_factory=list)  # the child's ends, closed after fork
    stdio: list[int] = field(default_factory=list)  # the child's fds 0, 1, 2 (may repeat for a pty)
    outputs: dict[int, str] = field(default_factory=dict)  # our read fds → stream name
    clients: list[Client] = field(default_factory=list)
    waiters: list[socket.socket] = field(default_factory=list)
    exit_code: int | None = None
    started: bool = False

    def setup_stdio(self, height: int = 0, width: int = 0, init_pid: int = 0) -> list[int]:
        """Make pipes or a pty (in the devpts of the container whose init is ``init_pid``); return
        the child's stdio fds (0, 1, 2)."""
        if self.tty:
            master, slave = console.open_in(init_pid, height, width)
            self.stdin_fd = master
            self.outputs[master] = "stdout"
            self.child_fds = [slave]
            return [slave, slave, slave]
        fds: list[int] = []
        if self.open_stdin:
            r, w = os.pipe()
            self.stdin_fd = w
            fds.append(r)
        else:
            fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        self.child_fds = [fds[0]]
        for stream in ("stdout", "stderr"):
            r, w = os.pipe()
            self.outputs[r] = stream
            self.child_fds.append(w)
            fds.append(w)
        return fds

    def close_child_fds(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    @property
    def done(self) -> bool:
        return self.exit_code is not None and not self.outputs


class Shim:
    """The monitor loop. ``create`` runs before the creator gets its answer; ``serve`` until exit."""

    def __init__(self, request: JsonMap, handoff: JsonMap, fds: list[int]) -> None:
        """Adopt what the creator set up: ``handoff`` names the index in ``fds`` of each descriptor."""
        self.container_id = str(request["container_id"])
        self.state_dir = Path(str(request["state_dir"]))
        io = request.get("io")
        self.io: dict[str, object] = io if isinstance(io, dict) else {}
        cgroup = handoff.get("cgroup")
        self.cgroup = cgroups.load(cgroup if isinstance(cgroup, dict) else {})
        annotations = handoff.get("annotations")
        self.annotations: dict[str, object] = annotations if isinstance(annotations, dict) else {}
        state = handoff.get("state")
        self.state: dict[str, object] = dict(state) if isinstance(state, dict) else {}
        self.sel = selectors.DefaultSelector()
        self.init = Proc(
            "init", bool(self.io.get("tty")), bool(self.io.get("open_stdin")), bool(self.io.get("stdin_once"))
        )
        self.init.pid = int(str(handoff["pid"]))
        slots = handoff.get("fds")
        slots = slots if isinstance(slots, dict) else {}
        for stream in ("stdout", "stderr"):
            if isinstance(slots.get(stream), int):
                self.init.outputs[fds[slots[stream]]] = stream
        if isinstance(slots.get("stdin"), int):
            self.init.stdin_fd = fds[slots["stdin"]]
            os.set_blocking(self.init.stdin_fd, False)
        self.sync: socket.socket | None = socket.socket(fileno=fds[slots["sync"]])
        self.listener = socket.socket(fileno=fds[slots["listener"]])
        self.execs: dict[str, Proc] = {}
        self.error = ""
        self.notices = str(request.get("notices") or "")  # the daemon's socket (runtime/notices.py)
        self.log: LogWriter | None = None
        log_path = self.io.get("log_path")
        if isinstance(log_path, str) and log_path:
            max_size, max_files = self.io.get("log_max_size"), self.io.get("log_max_files")
            attrs = self.io.get("log_attrs")
            self.log = LogWriter(
                Path(log_path),
                max_size=max_size if isinstance(max_size, int) else 20 << 20,
                max_files=max_files if isinstance(max_files, int) else 5,
                compress=bool(self.io.get("log_compress")),
                attrs=attrs if isinstance(attrs, str) else "",
                on_notice=self._notice,
            )
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w)

    def _notice(self, message: str) -> None:
        """Tell the daemon (its log) and forkserver.log (this shim's stderr), should none listen."""
        print(f"shim {self.container_id[:12]}: {message}", file=sys.stderr, flush=True)
        notices.send(self.notices, self.container_id, message)

    # -- loop ---------------------------------------------------------------------------------

    def serve(self) -> None:
        os.set_blocking(self.wakeup_r, False)
        self.sel.register(self.wakeup_r, selectors.EVENT_READ, ("wakeup", None))
        self.sel.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self._watch(self.init)
        self.reap()
        while not (self.init.done and all(p.done or not p.started for p in self.execs.values())):
            for key, _ in self.sel.select():
                kind, obj = key.data
                if kind == "wakeup":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup_r, 512)
                    self.reap()
                elif kind == "accept":
                    conn, _ = self.listener.accept()
                    self.sel.register(conn, selectors.EVENT_READ, ("client", Client(conn)))
                elif kind == "output":
                    self.on_output(key.fd, obj)
                elif kind == "client":
                    self.on_client(obj)
                elif kind == "stdin" and obj.proc is not None:
                    self._feed(obj, obj.proc, obj.pending)
        self.finish()

    def _watch(self, proc: Proc) -> None:
        for fd in proc.outputs:
            self.sel.register(fd, selectors.EVENT_READ, ("output", proc))

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by signal N → 128+N, as Docker reports
            for proc in (self.init, *self.execs.values()):
                if proc.pid == pid and proc.exit_code is None:
                    proc.exit_code = code
                    self._maybe_done(proc)

    def on_output(self, fd: int, proc: Proc) -> None:
        stream = proc.outputs[fd]
        try:
            data = os.read(fd, 32768)
        except BlockingIOError:
            return  # the pty master is non-blocking (it is also stdin); nothing to read after all
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave fd closed
                raise
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            if proc.stdin_fd == fd:  # the pty master is both stdin and output
                proc.stdin_fd = None
            del proc.outputs[fd]
            if self.log is not None and proc is self.init:
                self.log.flush(stream)
            self._maybe_done(proc)
            return
        if self.log is not None and proc is self.init:
            self.log.write(stream, data)
        payload = data if proc.tty else protocol.frame(protocol.STREAMS[stream], data)
        for client in list(proc.clients):
            if stream in client.streams:
                try:
                    client.sock.sendall(payload)
                except OSError:
                    self._drop(client)

    def _maybe_done(self, proc: Proc) -> None:
        if not proc.done:
            return
        for client in list(proc.clients):
            self._drop(client)
        collected = bool(proc.waiters)
        for waiter in proc.waiters:
            self._reply(waiter, {"ok": True, "exit_code": proc.exit_code})
            waiter.close()
        proc.waiters = []
        if collected:
            self._forget(proc)
        if proc.stdin_fd is not None and not proc.tty:
            os.close(proc.stdin_fd)
            proc.stdin_fd = None

    def _forget(self, proc: Proc) -> None:
        """Drop an exec whose exit was collected: the daemon keeps its record, and a shim that kept
        every finished exec (healthcheck probes run one every interval) would grow without bound."""
        if proc is not self.init and proc.done and not proc.clients:
            self.execs.pop(proc.name, None)

    def _drop(self, client: Client) -> None:
        if client.stdin_waiter is not None:
            self.sel.unregister(client.stdin_waiter)
            os.close(client.stdin_waiter)
            client.stdin_waiter = None
        if client.proc is not None and client in client.proc.clients:
            client.proc.clients.remove(client)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client.sock)
        client.sock.close()

    @staticmethod
    def _reply(sock: socket.socket, message: dict[str, object]) -> None:
        # The client hung up; nothing to tell it
        with contextlib.suppress(OSError):
            sock.sendall(protocol.encode(message))

    def on_client(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except OSError:
            data = b""
        if client.proc is not None:  # attached: stdin bytes or EOF
            self._stdin(client, data)
            return
        if not data:
            self._drop(client)
            return
        client.buffer += data
        if b"\n" not in client.buffer:
            return
        line, _, rest = client.buffer.partition(b"\n")
        client.buffer = b""
        try:
            request = protocol.decode(line)
            keep = self.handle(client, request)
        except _Reported as exc:
            self._reply(client.sock, exc.message)
            keep = False
        except (OSError, ValueError, KeyError) as exc:
            self._reply(client.sock, {"error": str(exc), "kind": "internal"})
            keep = False
        if not keep:
            self._drop(client)
        elif rest:
            self._stdin(client, rest)  # stdin bytes sent right behind the attach request

    def _stdin(self, client: Client, data: bytes) -> None:
        proc = client.proc
        if proc is None:
            return
        if not data:  # the client half-closed: stdin EOF
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client.sock)
            if (
                client.stdin
                and proc.stdin_fd is not None
                and not proc.tty
                and (proc.stdin_once or proc is not self.init)
            ):
                os.close(proc.stdin_fd)
                proc.stdin_fd = None
            return
        if client.stdin and proc.stdin_fd is not None:
            self._feed(client, proc, data)

    def _feed(self, client: Client, proc: Proc, data: bytes) -> None:
        """Write stdin without ever blocking the loop: a process that does not read its stdin must
        not stop us draining its stdout. The backlog parks the client until the pipe drains."""
        if proc.stdin_fd is None:
            return
        try:
            written = os.write(proc.stdin_fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return  # the process closed its stdin: drop the bytes, as a pipe would
        if written == len(data):
            if client.stdin_waiter is not None:
                self.sel.unregister(client.stdin_waiter)
                os.close(client.stdin_waiter)
                client.stdin_waiter = None
                client.pending = b""
                self.sel.register(client.sock, selectors.EVENT_READ, ("client", client))
            return
        client.pending = data[written:]
        if client.stdin_waiter is None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client.sock)
            # A dup, because the pty master may already be registered for reading.
            client.stdin_waiter = os.dup(proc.stdin_fd)
            self.sel.register(client.stdin_waiter, selectors.EVENT_WRITE, ("stdin", client))

    # -- requests ---------------------------------------------------------------------------

    def handle(self, client: Client, request: JsonMap) -> bool:
        """Serve one request; True keeps the connection (attach, exec_wait)."""
        op = request.get("op")
        if op == "start":
            self._reply(client.sock, self.start())
            return False
        if op == "attach" or op == "exec_attach":
            proc = self.init if op == "attach" else self._exec(request)
            wants = [s for s in ("stdout", "stderr") if request.get(s, op == "exec_attach")]
            client.proc, client.streams = proc, tuple(wants)
            client.stdin = bool(request.get("stdin")) and proc.stdin_fd is not None
            if proc.done or (proc.exit_code is not None and not proc.outputs):
                self._reply(client.sock, {"ok": True})
                return False
            self._reply(client.sock, {"ok": True})
            # A client that stops reading is dropped after 10 s instead of stalling the container.
            client.sock.settimeout(10.0)
            proc.clients.append(client)  # stays registered: its reads are stdin (or hang-up)
            return True
        if op == "resize" or op == "exec_resize":
            proc = self.init if op == "resize" else self._exec(request)
            if proc.tty and proc.stdin_fd is not None:
                height, width = int(str(request.get("height", 0))), int(str(request.get("width", 0)))
                # The kernel sends SIGWINCH to the terminal's foreground process group.
                fcntl.ioctl(proc.stdin_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            self._reply(client.sock, {"ok": True})
            return False
        if op == "exec_create":
            self._reply(client.sock, self.exec_create(request))
            return False
        if op == "exec_start":
            self._reply(client.sock, self.exec_start(self._exec(request)))
            return False
        if op == "exec_wait":
            proc = self._exec(request)
            if proc.done or (not proc.started and self.init.exit_code is not None):
                self._reply(
                    client.sock,
                    {"ok": True, "exit_code": proc.exit_code if proc.exit_code is not None else -1},
                )
                self._forget(proc)  # its exit is collected (a no-op unless it is done)
                return False
            proc.waiters.append(client.sock)
            self.sel.unregister(client.sock)
            return True
        raise _Reported({"error": f"unknown op {op!r}", "kind": "internal"})

    def _exec(self, request: JsonMap) -> Proc:
        exec_id = str(request.get("exec_id"))
        proc = self.execs.get(exec_id)
        if proc is None:
            raise _Reported({"error": f"no such exec instance: {exec_id}", "kind": "notfound"})
        return proc

    def start(self) -> dict[str, object]:
        if self.init.started or self.sync is None:
            return {"error": "container already started", "kind": "conflict"}
        if self.init.exit_code is not None:
            return {"error": "container init has exited", "kind": "conflict"}
        self.init.started = True
        sync, self.sync = self.sync, None
        self.state["started_at"] = rfc3339nano()
        write_json(self.state_dir / "state.json", self.state, durable=False)
        sync.send(b"S")
        reply = sync.recv(65536)  # EOF: execve succeeded (the socket was O_CLOEXEC)
        sync.close()
        if reply:
            message: dict[str, object] = json.loads(reply)
            self.error = str(message.get("error", ""))
            if "errno" in message:
                message["kind"] = "exec"
            return message
        return {"ok": True, "pid": self.init.pid}

    def exec_create(self, request: JsonMap) -> dict[str, object]:
        exec_id = str(request.get("exec_id"))
        if exec_id in self.execs:
            return {"error": f"exec {exec_id} already exists", "kind": "conflict"}
        io = request.get("io")
        io = io if isinstance(io, dict) else {}
        process = request.get("process")
        proc = Proc(exec_id, bool(io.get("tty")), bool(io.get("open_stdin")), True)
        proc.process = process if isinstance(process, dict) else {}
        proc.privileged = bool(request.get("privileged"))
        height, width = io.get("console_height"), io.get("console_width")
        proc.stdio = proc.setup_stdio(
            height if isinstance(height, int) else 0, width if isinstance(width, int) else 0, self.init.pid
        )
        if proc.stdin_fd is not None:
            os.set_blocking(proc.stdin_fd, False)
        self.execs[exec_id] = proc
        return {"ok": True}

    def exec_start(self, proc: Proc) -> dict[str, object]:
        if proc.started:
            return {"error": f"exec {proc.name} already started", "kind": "conflict"}
        if not self.init.started or self.init.exit_code is not None:
            return {"error": f"container {self.container_id} is not running", "kind": "conflict"}
        proc.started = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        helper = os.fork()
        if helper == 0:
            ours.close()
            child.run_exec(
                init_pid=self.init.pid,
                process=proc.process,
                # An exec with its own ``user`` ignores the container's user annotation.
                annotations=child.exec_annotations(proc.process, self.annotations),
                stdio=proc.stdio,
                tty=proc.tty,
                sync=theirs,
                join_files=self.cgroup.join_files(),
                privileged=proc.privileged,
                seccomp_program=seccomp.container_program(self.state_dir),
            )
        theirs.close()
        proc.close_child_fds()
        self._watch(proc)
        # First message: the exec'd process's pid (its helper parent exits; we, the subreaper, adopt
        # it). Then EOF when execve succeeded, or the errno when it failed.
        first = ours.recv(65536)
        message: dict[str, object] = (
            json.loads(first) if first else {"error": "exec helper died", "kind": "internal"}
        )
        pid = message.get("pid")
        if isinstance(pid, int):
            proc.pid = pid
            self.reap()  # the helper, and the process itself if it already exited
            reply = ours.recv(65536)
            message = json.loads(reply) if reply else {"ok": True, "pid": pid}
        ours.close()
        if "errno" in message:
            message["kind"] = "exec"
        if "error" in message and proc.pid == 0:
            proc.exit_code = 126
            self._maybe_done(proc)
        return message

    # -- exit -------------------------------------------------------------------------------

    def finish(self) -> None:
        if self.log is not None:
            self.log.close()
        try:
            oom = self.cgroup.oom_kills() > 0
        except OSError:
            oom = False
        exit_info = {
            "exit_code": self.init.exit_code,
            "oom_killed": oom,
            "finished_at": rfc3339nano(),
            "error": self.error,
        }
        write_json(self.state_dir / "exit.json", exit_info, durable=False)
        (self.state_dir / "shim.sock").unlink(missing_ok=True)
        self.listener.close()


class _Reported(Exception):
    """A failure already shaped as a protocol error message."""

    def __init__(self, message: dict[str, object]) -> None:
        super().__init__(str(message.get("error")))
        self.message = message


def run_shim(conn: socket.socket, request: JsonMap) -> None:
    """Body of the shim process (a child of the forkserver, in a session of its own).

    The shim forks a short-lived *creator* before doing anything else: the creator sets up the
    container (config.json, cgroup, stdio, init in new namespaces, the control socket, state.json),
    hands the shim its file descriptors, answers ``conn`` and exits. Heap pages this work dirties
    are copied into the creator and freed with it instead of staying in the shim (a modest gain:
    ~0.1 MB of the shim's ~2 MB private memory, measured with smaps_rollup). As a child subreaper,
    the shim inherits init when the creator exits.
    """
    sc.set_name("berth-shim")
    signal.signal(signal.SIGCHLD, _ignore)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    creator_pid = os.fork()
    if creator_pid == 0:
        ours.close()
        from berth.runtime.shim.creator import run_creator  # preloaded by the forkserver

        run_creator(conn, request, theirs)
    theirs.close()
    conn.close()
    try:
        data, fds, _, _ = socket.recv_fds(ours, 1 << 16, 16)
    except OSError:
        data, fds = b"", []
    ours.close()
    os.waitpid(creator_pid, 0)
    handoff = json.loads(data) if data else {}
    if "pid" not in handoff:
        return  # the creator answered the error and cleaned up
    monitor = request.get("monitor")
    if isinstance(monitor, str) and monitor:
        with contextlib.suppress(OSError):  # no monitor after all: serve in Python, below
            _exec_monitor(monitor, request, handoff, fds)
    Shim(request, handoff, fds).serve()


def _exec_monitor(monitor: str, request: JsonMap, handoff: JsonMap, fds: list[int]) -> NoReturn:
    """Become the C monitor (``runtime/monitor``): same pid, so still init's subreaper, with init's
    stdio, the sync socket and the listener inherited. Raises OSError if it cannot be executed."""
    io = request.get("io")
    io = io if isinstance(io, dict) else {}
    slots = handoff.get("fds")
    slots = slots if isinstance(slots, dict) else {}

    def slot(name: str) -> int:
        index = slots.get(name)
        if not isinstance(index, int):
            return -1
        os.set_inheritable(fds[index], True)
        return fds[index]

    cgroup = handoff.get("cgroup")
    oom_file = cgroups.load(cgroup if isinstance(cgroup, dict) else {}).oom_events_file()
    tty = bool(io.get("tty"))
    max_size, max_files = io.get("log_max_size"), io.get("log_max_files")
    argv = [
        monitor,
        str(request["state_dir"]),
        str(request["container_id"]),
        str(handoff["pid"]),
        str(int(tty)),
        str(int(bool(io.get("open_stdin")))),
        str(int(bool(io.get("stdin_once")))),
        str(slot("stdin")),
        str(slot("stdout")),
        str(-1 if tty else slot("stderr")),
        str(slot("sync")),
        str(slot("listener")),
        str(io.get("log_path") or ""),
        str(max_size if isinstance(max_size, int) else 20 << 20),
        str(max_files if isinstance(max_files, int) else 5),
        str(int(bool(io.get("log_compress")))),
        str(io.get("log_attrs") or ""),
        oom_file,
        str(request.get("forkserver") or ""),
        json.dumps(handoff.get("state") or {}, separators=(",", ":")),
        str(request.get("notices") or ""),
    ]
    os.execv(monitor, argv)


def _ignore(signum: int, frame: object) -> None:
    """SIGCHLD handler: the wakeup fd does the work; the handler only makes the signal count."""
