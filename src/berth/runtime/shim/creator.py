"""The creator: a short-lived child of the shim that builds the container and hands it over.

It reads config.json, creates the cgroup, makes init's stdio, forks init into new namespaces and
waits until init reports it is set up (stopped before exec), binds ``shim.sock``, writes state.json,
then passes the shim its descriptors (SCM_RIGHTS) with a JSON ``handoff``, answers the LinuxRuntime
connection and exits. On failure it answers the error, removes the cgroup and hands over nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from berth.oci.mount import Mount
from berth.runtime import cgroups
from berth.runtime.linux import console, idmap, seccomp
from berth.runtime.linux import syscalls as sc
from berth.runtime.shim import child, protocol
from berth.runtime.shim.server import Proc, start_time
from berth.util.atomic import write_json
from berth.util.unixsock import short_path

JsonMap = Mapping[str, object]


class _Failed(Exception):
    def __init__(self, message: dict[str, object]) -> None:
        super().__init__(str(message.get("error")))
        self.message = message


def run_creator(conn: socket.socket, request: JsonMap, shim: socket.socket) -> NoReturn:
    cgroup_data = request.get("cgroup")
    manager = cgroups.load(cgroup_data if isinstance(cgroup_data, dict) else {})
    try:
        handoff, fds, pid = _create(request, manager)
    except _Failed as exc:
        _fail(conn, shim, manager, exc.message)
    except Exception as exc:  # any failure must reach the caller as an answer, not as a hang
        _fail(conn, shim, manager, {"error": f"{type(exc).__name__}: {exc}", "kind": "internal"})
    # Hand over first, answer second: once LinuxRuntime hears "ok" the shim must own everything.
    socket.send_fds(shim, [json.dumps(handoff).encode()], fds)
    with contextlib.suppress(OSError):
        conn.sendall(protocol.encode({"ok": True, "pid": pid}))
    os._exit(0)


def _fail(
    conn: socket.socket, shim: socket.socket, manager: cgroups.CgroupManager, message: dict[str, object]
) -> NoReturn:
    with contextlib.suppress(OSError):
        conn.sendall(protocol.encode(message))
    with contextlib.suppress(OSError):
        manager.destroy()  # LinuxRuntime retries the rmdir on delete
    with contextlib.suppress(OSError):
        shim.send(b"{}")
    os._exit(0)


def _create(request: JsonMap, manager: cgroups.CgroupManager) -> tuple[dict[str, object], list[int], int]:
    state_dir = Path(str(request["state_dir"]))
    bundle = str(request["bundle"])
    raw_rootfs = request.get("rootfs")
    rootfs = (
        [Mount.from_json(m) for m in raw_rootfs if isinstance(m, dict)]
        if isinstance(raw_rootfs, list)
        else []
    )
    io = request.get("io")
    io = io if isinstance(io, dict) else {}
    with open(os.path.join(bundle, "config.json"), "rb") as f:
        spec = json.loads(f.read())
    linux = spec.get("linux")
    linux = linux if isinstance(linux, dict) else {}
    profile = linux.get("seccomp")
    program = seccomp.program_for(profile, state_dir.parent / "seccomp") if isinstance(profile, dict) else b""
    if program:  # for the container's execs, which load the same filter
        (state_dir / seccomp.PROGRAM_FILE).write_bytes(program)
    manager.create()
    resources = linux.get("resources")
    manager.apply(resources if isinstance(resources, dict) else {})
    init = Proc("init", bool(io.get("tty")), bool(io.get("open_stdin")), bool(io.get("stdin_once")))
    height, width = io.get("console_height"), io.get("console_width")
    size = (height if isinstance(height, int) else 0, width if isinstance(width, int) else 0)
    # a terminal is opened by init in the container's own devpts (it sends the master back)
    stdio = [] if init.tty else init.setup_stdio(*size)
    remap = idmap.Remapping.of(linux)  # before the pid namespace: its helper must not become pid 1
    raw_ns = linux.get("namespaces")
    namespaces = [ns for ns in raw_ns if isinstance(ns, dict)] if isinstance(raw_ns, list) else []
    pid_ns = next((ns for ns in namespaces if ns.get("type") == "pid"), None)
    if pid_ns is not None:
        path = pid_ns.get("path")
        if isinstance(path, str) and path:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            sc.setns(fd, sc.CLONE_NEWPID)
            os.close(fd)
        else:
            # Affects only our children: init becomes pid 1 of the new namespace.
            sc.unshare(sc.CLONE_NEWPID)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        ours.close()
        child.run_init(
            spec=spec,
            bundle=bundle,
            rootfs_mounts=rootfs,
            stdio=stdio,
            console_size=size if init.tty else None,
            sync=theirs,
            join_files=manager.join_files(),
            cgroup_version=manager.version,
            seccomp_program=program,
            remap=remap,
        )
    theirs.close()
    init.close_child_fds()
    reply, master = console.receive_with_fd(ours)
    if remap is not None:
        os.close(remap.fd)
        if reply == b'{"userns": true}':  # init has its user namespace: map it, then it goes on
            idmap.write_maps(pid, remap.uid_mappings, remap.gid_mappings)
            ours.send(b"M")
            reply, master = console.receive_with_fd(ours)
    message = (
        json.loads(reply) if reply else {"error": "container init exited during setup", "kind": "internal"}
    )
    if "error" in message:
        if master is not None:
            os.close(master)
        raise _Failed(message)
    if init.tty:
        if master is None:
            raise _Failed({"error": "container init sent no terminal", "kind": "internal"})
        init.stdin_fd = master
        init.outputs[master] = "stdout"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_path = state_dir / "shim.sock"
    sock_path.unlink(missing_ok=True)
    with short_path(sock_path) as short:
        listener.bind(short)
    listener.listen(64)
    shim_pid = os.getppid()
    state: dict[str, object] = {
        "shim_pid": shim_pid,
        "shim_start": start_time(shim_pid),
        "init_pid": pid,
        "init_start": start_time(pid),
        "started_at": "",
        "cgroup": manager.to_json(),
        "tty": init.tty,
    }
    write_json(state_dir / "state.json", state, durable=False)
    fds: list[int] = []
    slots: dict[str, int] = {}
    for fd, stream in init.outputs.items():
        slots[stream] = len(fds)
        fds.append(fd)
    if init.stdin_fd is not None and not init.tty:
        slots["stdin"] = len(fds)
        fds.append(init.stdin_fd)
    elif init.tty:
        slots["stdin"] = slots["stdout"]  # the pty master is both
    slots["sync"] = len(fds)
    fds.append(ours.detach())  # detach: the socket objects must not close them when collected
    slots["listener"] = len(fds)
    fds.append(listener.detach())
    annotations = spec.get("annotations")
    handoff: dict[str, object] = {
        "pid": pid,
        "fds": slots,
        "state": state,
        "cgroup": manager.to_json(),
        "annotations": annotations if isinstance(annotations, dict) else {},
    }
    return handoff, fds, pid
