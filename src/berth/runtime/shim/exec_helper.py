"""An exec for the C monitor: forked by the forkserver, it starts the process in the container.

The monitor (``runtime/monitor``) cannot run the Python that enters a container (user lookup,
capabilities, rlimits: ``linux/process.py``), so ``docker exec`` goes: daemon → monitor
(``exec_start``) → forkserver, with the exec's stdio passed as SCM_RIGHTS → this helper. The helper
enters init's pid namespace, forks the process (``child.exec_in_container``), answers the monitor
one line — ``{"ok": true, "pid": N}`` or the error — and stays its parent, to answer a second line,
``{"exit_code": N}``, when it exits. It costs memory only while the exec runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from berth.runtime import cgroups
from berth.runtime.linux import seccomp
from berth.runtime.shim import child

JsonMap = Mapping[str, object]


def _line(conn: socket.socket, message: Mapping[str, object]) -> None:
    with contextlib.suppress(OSError):  # the monitor is gone; nothing left to tell
        conn.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def _annotations(state_dir: Path, process: JsonMap) -> JsonMap:
    """The container's annotations; its user one applies unless the exec names its own ``user``."""
    create = json.loads((state_dir / "create.json").read_bytes())
    spec = json.loads((Path(str(create["bundle"])) / "config.json").read_bytes())
    annotations = spec.get("annotations")
    return child.exec_annotations(process, annotations if isinstance(annotations, dict) else {})


def serve_exec(conn: socket.socket, request: JsonMap, stdio: list[int]) -> NoReturn:
    """Body of the helper process (see module docstring). Never returns."""
    try:
        state_dir = Path(str(request["state_dir"]))
        state = json.loads((state_dir / "state.json").read_bytes())
        init_pid = int(state["init_pid"])
        cgroup = state.get("cgroup")
        join_files = cgroups.load(cgroup if isinstance(cgroup, dict) else {}).join_files()
        raw_process = request.get("process")
        process: JsonMap = raw_process if isinstance(raw_process, dict) else {}
        annotations = _annotations(state_dir, process)
        tty = bool(request.get("tty"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        child.enter_pid_namespace(init_pid)
        pid = os.fork()
    except BaseException as exc:  # any failure must reach the monitor as an answer, not a hang
        _line(conn, {"error": f"{exc}", "kind": "internal"})
        _line(conn, {"exit_code": 126})
        os._exit(0)
    if pid == 0:
        ours.close()
        conn.close()
        child.exec_in_container(
            init_pid=init_pid,
            process=process,
            annotations=annotations,
            stdio=stdio,
            tty=tty,
            sync=theirs,
            join_files=join_files,
            privileged=bool(request.get("privileged")),
            seccomp_program=seccomp.container_program(state_dir),
        )
    theirs.close()
    for fd in set(stdio):
        os.close(fd)
    report = ours.recv(65536)  # EOF: execve succeeded (the socket was O_CLOEXEC)
    ours.close()
    if report:
        message: dict[str, object] = json.loads(report)
        message["pid"] = pid
        if "errno" in message:
            message["kind"] = "exec"
        _line(conn, message)
    else:
        _line(conn, {"ok": True, "pid": pid})
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    _line(conn, {"exit_code": 128 - code if code < 0 else code})
    os._exit(0)
