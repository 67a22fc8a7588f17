"""Code that runs in the shim's forked children: the container's init and exec'd processes.

Both report over a SOCK_SEQPACKET ``sync`` socket: setup errors as ``{"error", "kind"}``; init sends
``{"ok": true}`` when set up and then blocks until the shim sends ``S`` (start). The socket is
O_CLOEXEC, so a successful execve shows up in the shim as EOF, and a failed one as ``{"errno": n}``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import termios
from collections.abc import Mapping, Sequence
from typing import NoReturn

from berth.oci.mount import Mount
from berth.runtime.errors import UserNotFound
from berth.runtime.linux import console, idmap
from berth.runtime.linux import process as proc
from berth.runtime.linux import rootfs as fs
from berth.runtime.linux import syscalls as sc

JsonMap = Mapping[str, object]


def _send(sync: socket.socket, message: dict[str, object]) -> None:
    # The shim is gone; our exit status still tells the story
    with contextlib.suppress(OSError):
        sync.send(json.dumps(message).encode())


def _reset_signals() -> None:
    # Python ignores SIGPIPE/SIGXFSZ and the shim handles SIGCHLD; ignored dispositions survive execve,
    # so restore the defaults a fresh process expects (subprocess's restore_signals).
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _stdio(stdio: Sequence[int], tty: bool) -> None:
    os.setsid()
    if tty and stdio:
        fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target, inheritable=True)
    for fd in set(stdio) - {0, 1, 2}:  # received without O_CLOEXEC: never into the container
        os.close(fd)


def _container_console(height: int, width: int) -> int:
    """The init's terminal, from the container's own devpts (after pivot_root): it becomes the
    controlling terminal, stdio and /dev/console; the master is returned for the shim."""
    master, slave = console.open_here(height, width)
    console.make_controlling(slave)
    if not os.path.lexists("/dev/console"):
        os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    sc.mount(f"/proc/self/fd/{slave}", "/dev/console", None, sc.MS_BIND)
    os.close(slave)
    return master


def _join_cgroup(join_files: Sequence[str]) -> None:
    for path in join_files:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def _exec_or_report(
    sync: socket.socket, process: JsonMap, annotations: JsonMap, privileged: bool, seccomp_program: bytes
) -> NoReturn:
    try:
        user = proc.exec_user(process, annotations)
        proc.finalize_and_exec(process, user, privileged=privileged, seccomp_program=seccomp_program)
    except UserNotFound as exc:
        _send(sync, {"error": str(exc), "kind": "user"})
        os._exit(126)
    except OSError as exc:
        args = process.get("args")
        command = str(args[0]) if isinstance(args, list) and args else ""
        _send(sync, {"errno": exc.errno or errno.EIO, "command": command, "error": str(exc)})
        os._exit(127 if exc.errno == errno.ENOENT else 126)
    except BaseException as exc:  # report anything else to the shim rather than a silent exit
        _send(sync, {"error": f"{type(exc).__name__}: {exc}", "kind": "internal"})
        os._exit(126)
    os._exit(126)  # execvpe returned: cannot happen


def run_init(
    *,
    spec: JsonMap,
    bundle: str,
    rootfs_mounts: Sequence[Mount],
    stdio: Sequence[int],
    console_size: tuple[int, int] | None,
    sync: socket.socket,
    join_files: Sequence[str],
    cgroup_version: int,
    seccomp_program: bytes = b"",
    remap: idmap.Remapping | None = None,
) -> NoReturn:
    """The container's init: set up everything, report, wait for start, exec. Never returns.
    ``console_size``: (height, width) of a terminal to open in the container (``stdio`` is then
    empty), whose master goes back with the report. ``remap``: a remapped container's ids — its
    mounts are idmapped, and init enters its own user namespace last, once everything that needs the
    host's privileges (mounts, devices, rlimits) is done."""
    master = -1
    try:
        hide_from_container()  # it may share a pid namespace (--pid host|container:X)
        _reset_signals()
        _stdio(stdio, False)
        _setup_container(spec, bundle, rootfs_mounts, join_files, cgroup_version, remap)
        if console_size is not None:
            master = _container_console(*console_size)
        process = spec.get("process")
        process = process if isinstance(process, dict) else {}
        annotations = spec.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        # Resolve the user now (inside the new root) so "unable to find user" fails create, not later.
        proc.exec_user(process, annotations)
        proc.set_rlimits(process.get("rlimits"))
        proc.set_oom_score_adj(process)
        if remap is not None:
            _enter_user_namespace(sync)
    except UserNotFound as exc:
        _send(sync, {"error": str(exc), "kind": "user"})
        os._exit(1)
    except BaseException as exc:
        _send(sync, {"error": f"{exc}", "kind": "internal"})
        os._exit(1)
    if master >= 0:
        with contextlib.suppress(OSError):
            console.send_with_fd(sync, b'{"ok": true}', master)
        os.close(master)
    else:
        _send(sync, {"ok": True})
    try:
        go = sync.recv(16)
    except OSError:
        go = b""
    if go != b"S":
        os._exit(1)  # the shim went away or cancelled: never run the user's program
    _exec_or_report(sync, process, annotations, False, seccomp_program)


def _enter_user_namespace(sync: socket.socket) -> None:
    """unshare the user namespace, have the shim write its maps, become its root."""
    sc.unshare(sc.CLONE_NEWUSER)
    sync.send(b'{"userns": true}')
    if sync.recv(16) != b"M":
        raise OSError(errno.EPROTO, "the shim did not map the user namespace")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _setup_container(
    spec: JsonMap,
    bundle: str,
    rootfs_mounts: Sequence[Mount],
    join_files: Sequence[str],
    cgroup_version: int,
    remap: idmap.Remapping | None = None,
) -> None:
    linux = spec.get("linux")
    linux = linux if isinstance(linux, dict) else {}
    # Join the cgroup before unshare(CLONE_NEWCGROUP): the new cgroup namespace is rooted where we are.
    _join_cgroup(join_files)
    namespaces = [ns for ns in linux.get("namespaces") or [] if isinstance(ns, dict)]
    flags = 0
    for ns in namespaces:
        kind = str(ns.get("type"))
        if kind in ("pid", "user"):
            continue  # pid was unshared by the shim (it applies to children); user namespaces: unsupported
        path = ns.get("path")
        if isinstance(path, str) and path:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, sc.NAMESPACE_FLAGS[kind])
            finally:
                os.close(fd)
        else:
            flags |= sc.NAMESPACE_FLAGS.get(kind, 0)
    if not flags & sc.CLONE_NEWNS:
        raise OSError(errno.EINVAL, "a mount namespace is required")
    raw_mounts = spec.get("mounts")
    mounts = [m for m in raw_mounts if isinstance(m, dict)] if isinstance(raw_mounts, list) else []
    clones = fs.clone_foreign_sources(mounts)  # before unshare: it setns()es into other namespaces
    sc.unshare(flags)
    if flags & sc.CLONE_NEWNET:
        sc.loopback_up()
    hostname = spec.get("hostname")
    if flags & sc.CLONE_NEWUTS and isinstance(hostname, str) and hostname:
        sc.sethostname(hostname)
    domainname = spec.get("domainname")
    if flags & sc.CLONE_NEWUTS and isinstance(domainname, str) and domainname:
        sc.setdomainname(domainname)
    root = spec.get("root")
    root = root if isinstance(root, dict) else {}
    rootfs = os.path.join(bundle, str(root.get("path") or "rootfs"))
    propagation = str(linux.get("rootfsPropagation") or "rprivate")
    fs.mount_rootfs(rootfs, rootfs_mounts, propagation, remap)
    fs.mount_spec(
        rootfs,
        mounts,
        cgroup_version,
        clones,
        cgroupns=bool(flags & sc.CLONE_NEWCGROUP),
        userns_fd=remap.fd if remap is not None else -1,
    )
    for fd in clones.values():
        os.close(fd)
    if any(m.get("destination") == "/dev" and m.get("type") == "tmpfs" for m in mounts):
        devices = [d for d in linux.get("devices") or [] if isinstance(d, dict)]
        fs.create_devices(rootfs, devices)
    fs.pivot(rootfs)
    # Sysctls before the readonly paths (/proc/sys among them), as runc orders them.
    sysctl = linux.get("sysctl")
    if isinstance(sysctl, dict):
        for key, value in sysctl.items():
            _write_sysctl(str(key), str(value))
    fs.mask_paths(str(p) for p in linux.get("maskedPaths") or [])
    fs.readonly_paths(str(p) for p in linux.get("readonlyPaths") or [])
    if root.get("readonly") is True:
        fs.readonly_root()


def _write_sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise OSError(exc.errno, f"write sysctl {key}={value!r}: {exc.strerror}") from exc


def exec_annotations(process: JsonMap, annotations: JsonMap) -> JsonMap:
    """What an exec reads of the container's annotations: all of them (GroupAdd applies to every
    process), but the container's user only when the exec names no ``user`` of its own."""
    if "user" not in process:
        return annotations
    return {k: v for k, v in annotations.items() if k != proc.USER_ANNOTATION}


NS_ORDER = ("ipc", "uts", "net", "cgroup", "mnt")  # mnt last: after it, /proc/<init> paths change meaning


def hide_from_container() -> None:
    """Non-dumpable until execve: while the runtime's own (host) binary runs inside the container's
    pid namespace, its /proc/PID/exe, root and fds are closed to the container's processes (which lack
    CAP_SYS_PTRACE), so none can reopen that binary to overwrite it (CVE-2019-5736). execve of the
    container's program makes the process dumpable again."""
    sc.prctl(sc.PR_SET_DUMPABLE, 0)


def enter_pid_namespace(init_pid: int) -> None:
    """setns into init's pid namespace: it applies to the children we fork from now on."""
    hide_from_container()
    fd = os.open(f"/proc/{init_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_ino != os.stat("/proc/self/ns/pid").st_ino:
            sc.setns(fd, sc.CLONE_NEWPID)
    finally:
        os.close(fd)


def run_exec(
    *,
    init_pid: int,
    process: JsonMap,
    annotations: JsonMap,
    stdio: Sequence[int],
    tty: bool,
    sync: socket.socket,
    join_files: Sequence[str],
    privileged: bool,
    seccomp_program: bytes = b"",
) -> NoReturn:
    """An exec'd process: join init's cgroup and namespaces, apply the process spec, exec. Runs in a
    helper forked by the shim: setns(pid) only moves the helper's *children*, so the helper forks
    the real process, sends its pid and exits. Never returns."""
    try:
        enter_pid_namespace(init_pid)
        pid = os.fork()
    except BaseException as exc:
        _send(sync, {"error": f"{exc}", "kind": "internal"})
        os._exit(126)
    if pid != 0:
        _send(sync, {"pid": pid})
        os._exit(0)
    exec_in_container(
        init_pid=init_pid,
        process=process,
        annotations=annotations,
        stdio=stdio,
        tty=tty,
        sync=sync,
        join_files=join_files,
        privileged=privileged,
        seccomp_program=seccomp_program,
    )


def _user_namespace_fd(init_pid: int) -> int:
    """An fd of init's user namespace when it is not ours (a remapped container), else -1."""
    path = f"/proc/{init_pid}/ns/user"
    if os.stat(path).st_ino == os.stat("/proc/self/ns/user").st_ino:
        return -1
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _join_user_namespace(fd: int) -> None:
    try:
        sc.setns(fd, sc.CLONE_NEWUSER)
    finally:
        os.close(fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def exec_in_container(
    *,
    init_pid: int,
    process: JsonMap,
    annotations: JsonMap,
    stdio: Sequence[int],
    tty: bool,
    sync: socket.socket,
    join_files: Sequence[str],
    privileged: bool,
    seccomp_program: bytes = b"",
) -> NoReturn:
    """The exec'd process itself (already in init's pid namespace): join init's cgroup and the rest
    of its namespaces, apply the process spec, exec; setup errors go to ``sync``."""
    try:
        _reset_signals()
        _stdio(stdio, tty)
        _join_cgroup(join_files)
        own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in NS_ORDER}
        fds = []
        for name in NS_ORDER:
            path = f"/proc/{init_pid}/ns/{name}"
            if os.stat(path).st_ino != own[name]:
                fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        user_ns = _user_namespace_fd(init_pid)  # opened now: /proc is the container's after mnt
        for fd in fds:
            sc.setns(fd, 0)
            os.close(fd)
        os.chdir("/")
        proc.set_rlimits(process.get("rlimits"))
        proc.set_oom_score_adj(process)
        if user_ns >= 0:  # last: from here on only the container's own privileges
            _join_user_namespace(user_ns)
    except BaseException as exc:
        _send(sync, {"error": f"{exc}", "kind": "internal"})
        os._exit(126)
    _exec_or_report(sync, process, annotations, privileged, seccomp_program)
