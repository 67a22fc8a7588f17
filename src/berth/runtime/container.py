"""LinuxRuntime: the Runtime Protocol on Linux, driving one shim per container.

Runtime root layout (``root``)::

    forkserver.sock   the forkserver's socket (see ``forkserver``)
    forkserver.log    its stderr (and the shims')
    notices.sock      the daemon's, while it listens: what the shims report as they run (``notices``)
    <container_id>/   one state dir per container (see ``shim.server`` for its files)

Every verb reads the evidence first (state.json, exit.json, /proc/<pid>/stat start times, the
freezer), checks the transition table (``state``), then acts.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.errors import Conflict, Internal
from berth.oci.mount import Mount
from berth.runtime import cgroups, monitor, notices
from berth.runtime import spec as oci_spec
from berth.runtime import state as transitions
from berth.runtime.cgroups import CgroupManager
from berth.runtime.errors import (
    ContainerExists,
    ContainerNotFound,
    CreateFailed,
    ExecFailed,
    ExecNotFound,
    InvalidSpec,
    InvalidTransition,
    ShimUnavailable,
    UserNotFound,
)
from berth.runtime.types import Attached, CgroupStats, IOConfig, State, Status
from berth.util.atomic import read_json, write_json
from berth.util.unixsock import short_path

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CREATE_TIMEOUT = 30.0
_CALL_TIMEOUT = 10.0


def _proc_start(pid: int) -> tuple[int, str] | None:
    """(start time, state letter) of a live pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[19]), fields[0].decode()


def _alive(pid: object, start: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    info = _proc_start(pid)
    return info is not None and info[0] == start and info[1] not in ("Z", "X")


def _io_json(io: IOConfig) -> dict[str, object]:
    return {
        "tty": io.tty,
        "open_stdin": io.open_stdin,
        "stdin_once": io.stdin_once,
        "log_path": str(io.log_path) if io.log_path is not None else None,
        "log_max_size": io.log_max_size,
        "log_max_files": io.log_max_files,
        "log_compress": io.log_compress,
        "log_attrs": io.log_attrs,
        "console_height": io.console_height,
        "console_width": io.console_width,
    }


def _raise_reply(container_id: str, reply: Mapping[str, object]) -> None:
    """Turn a shim error reply into the matching typed error."""
    if "error" not in reply and "errno" not in reply:
        return
    message = str(reply.get("error", ""))
    kind = reply.get("kind")
    if kind == "exec" or "errno" in reply:
        err = reply.get("errno")
        raise ExecFailed.for_errno(str(reply.get("command", "")), err if isinstance(err, int) else errno.EIO)
    if kind == "user":
        raise UserNotFound(message)
    if kind == "notfound":
        raise ExecNotFound(container_id, message.rsplit(" ", 1)[-1])
    if kind == "conflict":
        raise Conflict(f"container {container_id}: {message}")
    raise CreateFailed(container_id, message)


class LinuxRuntime:
    """Runs OCI bundles with namespaces, cgroups and a forked shim per container (see ``Runtime``).

    ``cgroup_parent``: containers whose spec has no ``linux.cgroupsPath`` go to
    ``<cgroup_parent>/<container_id>`` under the caller's own cgroup. Call ``close()`` to stop the
    forkserver this instance started (running containers are not affected).
    """

    def __init__(self, root: Path, *, cgroup_parent: str = "berth") -> None:
        self.root = Path(root)
        self.cgroup_parent = cgroup_parent
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        self._lock = threading.Lock()
        self._forkserver: subprocess.Popen[bytes] | None = None
        self._monitor_path: str | None = None
        self._monitor_checked = False

    # -- forkserver ---------------------------------------------------------------------------

    def _monitor(self) -> str | None:
        """The C monitor each new shim becomes (built once per source; None: the Python shim serves)."""
        with self._lock:
            if not self._monitor_checked:
                self._monitor_path = monitor.ensure_built()
                self._monitor_checked = True
            return self._monitor_path

    @property
    def _fs_sock(self) -> Path:
        return self.root / "forkserver.sock"

    def _ensure_forkserver(self) -> None:
        with self._lock:
            if self._forkserver is not None and self._forkserver.poll() is None:
                return
            log = open(self.root / "forkserver.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                env = dict(os.environ)
                src = str(Path(__file__).resolve().parents[2])
                env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
                # subprocess execs at once (no Python runs in the child), the one safe way for a
                # threaded daemon to get a process; everything else is forked from the forkserver.
                proc = subprocess.Popen(
                    [sys.executable, "-m", "berth.runtime.forkserver", str(self._fs_sock)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )
            finally:
                log.close()
            if proc.stdout is None or proc.stdout.readline() != b"ready\n":
                proc.kill()
                proc.wait()
                raise ShimUnavailable(
                    f"runtime forkserver failed to start; see {self.root / 'forkserver.log'}"
                )
            proc.stdout.close()
            self._forkserver = proc

    def close(self) -> None:
        """Stop the forkserver this instance started. Idempotent; containers keep running."""
        with self._lock:
            proc, self._forkserver = self._forkserver, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- paths and evidence --------------------------------------------------------------------

    def _dir(self, container_id: str) -> Path:
        if not _ID.match(container_id):
            raise ContainerNotFound(container_id)
        return self.root / container_id

    def _existing(self, container_id: str) -> Path:
        directory = self._dir(container_id)
        if not (directory / "create.json").exists():
            raise ContainerNotFound(container_id)
        return directory

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            value = read_json(path)
        except (FileNotFoundError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _cgroup(self, directory: Path) -> CgroupManager:
        data = self._read(directory / "state.json").get("cgroup") or self._read(
            directory / "create.json"
        ).get("cgroup")
        return cgroups.load(data if isinstance(data, dict) else {})

    def state(self, container_id: str) -> State:
        directory = self._existing(container_id)
        st = self._read(directory / "state.json")
        done = self._read(directory / "exit.json")
        if done:
            return self._stopped(container_id, st, done)
        if not st:
            return State(container_id, Status.CREATED)  # create in progress
        started_at = str(st.get("started_at", ""))
        init_pid = int(st.get("init_pid", 0))
        init_alive = _alive(init_pid, st.get("init_start"))
        if init_alive or _alive(st.get("shim_pid"), st.get("shim_start")):
            if not started_at:
                return State(container_id, Status.CREATED, pid=init_pid)
            status = Status.RUNNING
            if init_alive and self._cgroup(directory).frozen():
                status = Status.PAUSED
            return State(container_id, status, pid=init_pid, started_at=started_at)
        # The shim writes exit.json and then exits, so once it is seen gone the file is final: it may
        # have appeared since the first read (the C monitor exits within microseconds of its child).
        done = self._read(directory / "exit.json")
        if done:
            return self._stopped(container_id, st, done)
        return State(
            container_id,
            Status.STOPPED,
            exit_code=255,
            started_at=started_at,
            error="the container's shim exited without recording an exit status",
        )

    @staticmethod
    def _stopped(container_id: str, st: Mapping[str, Any], done: Mapping[str, Any]) -> State:
        code = done.get("exit_code")
        return State(
            container_id,
            Status.STOPPED,
            exit_code=code if isinstance(code, int) else -1,
            oom_killed=bool(done.get("oom_killed")),
            started_at=str(st.get("started_at", "")),
            finished_at=str(done.get("finished_at", "")),
            error=str(done.get("error", "")),
        )

    def list(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "create.json").exists())

    def state_dir(self, container_id: str) -> Path:
        """Where the container's runtime state lives (``system check`` ages it by its mtime)."""
        return self._existing(container_id)

    def monitor_gone(self, container_id: str) -> bool:
        """Whether the container's init runs with no monitor (shim) left to log it and report its exit."""
        st = self._read(self._existing(container_id) / "state.json")
        return _alive(st.get("init_pid"), st.get("init_start")) and not _alive(
            st.get("shim_pid"), st.get("shim_start")
        )

    # -- shim calls -----------------------------------------------------------------------------

    def _call(
        self, container_id: str, request: Mapping[str, object], timeout: float = _CALL_TIMEOUT
    ) -> dict[str, object]:
        path = self._existing(container_id) / "shim.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                with short_path(path) as short:
                    sock.connect(short)
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = sock.makefile("rb").readline()
            except OSError as exc:
                raise ShimUnavailable(f"container {container_id}: shim not answering: {exc}") from exc
        if not reply:
            raise ShimUnavailable(f"container {container_id}: shim closed the connection")
        value = json.loads(reply)
        return value if isinstance(value, dict) else {}

    async def _open(self, container_id: str, request: Mapping[str, object]) -> Attached:
        path = self._existing(container_id) / "shim.sock"
        try:
            with short_path(path) as short:
                reader, writer = await asyncio.open_unix_connection(short, limit=1 << 20)
        except OSError as exc:
            raise ShimUnavailable(f"container {container_id}: shim not answering: {exc}") from exc
        writer.write(json.dumps(request).encode() + b"\n")
        async with asyncio.timeout(_CALL_TIMEOUT):
            await writer.drain()
            line = await reader.readline()
        reply = json.loads(line) if line else {"error": "shim closed the connection"}
        if "ok" not in reply:
            writer.close()
            _raise_reply(container_id, reply)
        return Attached(reader, writer)

    # -- verbs ----------------------------------------------------------------------------------

    def create(self, container_id: str, bundle: Path, *, rootfs: Sequence[Mount], io: IOConfig) -> State:
        directory = self._dir(container_id)
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError as exc:
            raise ContainerExists(container_id) from exc
        try:
            spec = oci_spec.load(Path(bundle))
            linux = oci_spec.section(spec, "linux")
            cgroups_path = str(linux.get("cgroupsPath") or f"{self.cgroup_parent}/{container_id}")
            manager = cgroups.manager_for(cgroups_path)
            request: dict[str, object] = {
                "op": "create",
                "container_id": container_id,
                "state_dir": str(directory),
                "bundle": str(Path(bundle).resolve()),
                "rootfs": [m.to_json() for m in rootfs],
                "io": _io_json(io),
                "cgroup": manager.to_json(),
                "monitor": self._monitor() or "",
                "forkserver": str(self._fs_sock),
                "notices": str(self.root / notices.NOTICES_SOCK),
            }
            write_json(directory / "create.json", request, durable=False)
            self._ensure_forkserver()
            reply = self._forkserver_create(container_id, request)
            _raise_reply(container_id, reply)
        except BaseException:
            self._remove(directory)
            raise
        return self.state(container_id)

    def _forkserver_create(self, container_id: str, request: Mapping[str, object]) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_CREATE_TIMEOUT)
            try:
                with short_path(self._fs_sock) as short:
                    sock.connect(short)
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = sock.makefile("rb").readline()
            except OSError as exc:
                raise ShimUnavailable(f"container {container_id}: forkserver not answering: {exc}") from exc
        if not reply:
            raise CreateFailed(container_id, f"shim died during create; see {self.root / 'forkserver.log'}")
        value = json.loads(reply)
        return value if isinstance(value, dict) else {}

    def _remove(self, directory: Path) -> None:
        # Already gone or still busy: the directory removal below must still happen
        with contextlib.suppress(OSError):
            self._cgroup(directory).destroy()
        shutil.rmtree(directory, ignore_errors=True)

    def start(self, container_id: str) -> State:
        current = self.state(container_id)
        transitions.check(container_id, "start", current.status)
        reply = self._call(container_id, {"op": "start"})
        if "errno" in reply:
            self._await_stopped(container_id, 5.0)
        _raise_reply(container_id, reply)
        return self.state(container_id)

    def _await_stopped(self, container_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.state(container_id).status != Status.STOPPED and time.monotonic() < deadline:
            time.sleep(0.002)

    def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        directory = self._existing(container_id)
        current = self.state(container_id)
        transitions.check(container_id, "kill", current.status)
        st = self._read(directory / "state.json")
        if all_processes:
            for pid in self._cgroup(directory).pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal)
        # A pidfd pins the process: after checking its start time, a recycled pid cannot be hit.
        try:
            pidfd = os.pidfd_open(int(st["init_pid"]))
        except (OSError, KeyError):
            return  # exited meanwhile
        try:
            # A zombie (exited, not yet reaped by the shim) answers ESRCH: it is already gone.
            if _alive(st.get("init_pid"), st.get("init_start")):
                with contextlib.suppress(ProcessLookupError):
                    _pidfd_send_signal(pidfd, signal)
        finally:
            os.close(pidfd)

    def pause(self, container_id: str) -> None:
        transitions.check(container_id, "pause", self.state(container_id).status)
        self._cgroup(self._existing(container_id)).freeze()

    def resume(self, container_id: str) -> None:
        transitions.check(container_id, "resume", self.state(container_id).status)
        self._cgroup(self._existing(container_id)).thaw()

    def delete(self, container_id: str, *, force: bool = False) -> None:
        directory = self._dir(container_id)
        if not directory.exists():
            return
        if not (directory / "create.json").exists():
            shutil.rmtree(directory, ignore_errors=True)
            return
        current = self.state(container_id)
        if current.status != Status.STOPPED:
            if not force:
                transitions.check(container_id, "delete", current.status)
            manager = self._cgroup(directory)
            if current.status == Status.PAUSED:
                manager.thaw()
            with contextlib.suppress(InvalidTransition):
                self.kill(container_id, 9, all_processes=True)
            self._await_stopped(container_id, 10.0)
        self._remove(directory)

    async def wait(self, container_id: str) -> State:
        directory = self._existing(container_id)
        current = self.state(container_id)
        if current.status == Status.STOPPED:
            return current
        st = self._read(directory / "state.json")
        try:
            pidfd = os.pidfd_open(int(st.get("shim_pid", 0)))
        except (OSError, ValueError):
            return await self._final_state(container_id)
        try:
            if _alive(st.get("shim_pid"), st.get("shim_start")):
                loop = asyncio.get_running_loop()
                exited = loop.create_future()
                # A pidfd becomes readable when the process exits; works for non-children too,
                # so a restarted daemon (live restore) waits on shims it did not spawn.

                def on_exit() -> None:
                    if not exited.done():
                        exited.set_result(None)

                loop.add_reader(pidfd, on_exit)
                try:
                    await exited
                finally:
                    loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)
        return await self._final_state(container_id)

    async def _final_state(self, container_id: str) -> State:
        """The state once the monitor is gone. An init that outlived it (the monitor killed) is
        killed too: nothing would log its output or report its exit, and ``rm`` could not end it."""
        if self.monitor_gone(container_id):
            await asyncio.to_thread(self._end_unmonitored, container_id)
        return self.state(container_id)

    def _end_unmonitored(self, container_id: str) -> None:
        with contextlib.suppress(OSError):
            self._cgroup(self._existing(container_id)).thaw()
        with contextlib.suppress(InvalidTransition):
            self.kill(container_id, 9, all_processes=True)
        self._await_stopped(container_id, 10.0)

    def notices(self) -> AsyncIterator[tuple[str, str]]:
        return notices.receive(self.root / notices.NOTICES_SOCK)

    async def attach(self, container_id: str, *, stdin: bool, stdout: bool, stderr: bool) -> Attached:
        transitions.check(container_id, "attach", self.state(container_id).status)
        return await self._open(
            container_id, {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}
        )

    def resize(self, container_id: str, *, height: int, width: int) -> None:
        transitions.check(container_id, "resize", self.state(container_id).status)
        _raise_reply(
            container_id, self._call(container_id, {"op": "resize", "height": height, "width": width})
        )

    def stats(self, container_id: str) -> CgroupStats:
        return self._cgroup(self._existing(container_id)).stats()

    def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        directory = self._existing(container_id)
        transitions.check(container_id, "update", self.state(container_id).status)
        try:
            self._cgroup(directory).apply(resources)
        except OSError as exc:
            raise Internal(exc.strerror or str(exc)) from exc

    def pids(self, container_id: str) -> builtins.list[int]:
        try:
            return self._cgroup(self._existing(container_id)).pids()
        except (OSError, StopIteration):
            return []

    # -- exec -----------------------------------------------------------------------------------

    def exec_create(self, container_id: str, exec_id: str, process: Mapping[str, Any], io: IOConfig) -> None:
        """``process`` is an OCI process object; a non-standard ``"privileged": true`` grants every
        capability (``docker exec --privileged``)."""
        transitions.check(container_id, "exec", self.state(container_id).status)
        args = process.get("args")
        if not isinstance(args, list) or not args:
            raise InvalidSpec("exec process.args must be a non-empty list")
        request = {
            "op": "exec_create",
            "exec_id": exec_id,
            "process": dict(process),
            "privileged": bool(process.get("privileged")),
            "io": _io_json(io),
        }
        _raise_reply(container_id, self._call(container_id, request))

    async def exec_attach(self, container_id: str, exec_id: str, *, stdin: bool) -> Attached:
        return await self._open(container_id, {"op": "exec_attach", "exec_id": exec_id, "stdin": stdin})

    def exec_start(self, container_id: str, exec_id: str) -> int:
        transitions.check(container_id, "exec", self.state(container_id).status)
        self._ensure_forkserver()  # the C monitor asks it to start the process (after a restart too)
        reply = self._call(container_id, {"op": "exec_start", "exec_id": exec_id})
        _raise_reply(container_id, reply)
        pid = reply.get("pid")
        return pid if isinstance(pid, int) else 0

    async def exec_wait(self, container_id: str, exec_id: str) -> int:
        path = self._existing(container_id) / "shim.sock"
        try:
            with short_path(path) as short:
                reader, writer = await asyncio.open_unix_connection(short)
        except OSError as exc:
            raise ShimUnavailable(f"container {container_id}: shim not answering: {exc}") from exc
        try:
            writer.write(json.dumps({"op": "exec_wait", "exec_id": exec_id}).encode() + b"\n")
            await writer.drain()
            # The shim answers only once the exec has exited and its output is drained.
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise ShimUnavailable(f"container {container_id}: shim exited before exec {exec_id} finished")
        reply = json.loads(line)
        _raise_reply(container_id, reply)
        code = reply.get("exit_code")
        return code if isinstance(code, int) else -1

    def exec_resize(self, container_id: str, exec_id: str, *, height: int, width: int) -> None:
        request = {"op": "exec_resize", "exec_id": exec_id, "height": height, "width": width}
        _raise_reply(container_id, self._call(container_id, request))


def _pidfd_send_signal(pidfd: int, sig: int) -> None:
    signal.pidfd_send_signal(pidfd, sig)
