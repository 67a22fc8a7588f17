"""The OCI spec's ``linux.seccomp`` compiled to a BPF program by libseccomp, and installed.

Compiling is libseccomp's job (Debian's libseccomp2, through ctypes: the library runc and crun link, so
syscall names, architectures and argument checks mean exactly what they mean there); the program is
exported as raw ``sock_filter`` bytes once per distinct profile and cached by the profile's digest, so a
container start or an exec only reads a few KB and makes one ``prctl``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from berth.runtime.linux import syscalls

PROGRAM_FILE = "seccomp.bpf"  # in a container's state directory: its compiled filter, for its execs
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_NR_SCMP_ERROR = -1
_FLTATR_CTL_OPTIMIZE = 8

_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_OPS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}  # fmt: skip


class SeccompError(OSError):
    """A profile libseccomp cannot compile, or a program the kernel will not load."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_lib: ctypes.CDLL | None = None


def _libseccomp() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        import ctypes.util  # only to compile a new profile: it pulls in subprocess, shutil, tempfile…

        name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            raise SeccompError(
                errno.ENOSYS, f"libseccomp is not installed ({exc}): apt install libseccomp2"
            ) from exc
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
        ]  # fmt: skip
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        _lib = lib
    return _lib


def _check(rc: int, what: str) -> None:
    if rc < 0 and rc != -errno.EEXIST:
        raise SeccompError(-rc, f"seccomp: {what}: {os.strerror(-rc)}")


def _action(name: str, errno_ret: int | None, default_errno: int) -> int:
    if name == "SCMP_ACT_NOTIFY":
        raise SeccompError(
            errno.EINVAL, "seccomp: SCMP_ACT_NOTIFY needs a listener, which this runtime has not"
        )
    value = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value |= (errno_ret if errno_ret is not None else default_errno) & 0xFFFF
    return value


def compile_bpf(profile: dict[str, Any]) -> bytes:
    """The raw BPF program (an array of ``struct sock_filter``) for an OCI ``linux.seccomp``."""
    lib = _libseccomp()
    default_errno = int(profile.get("defaultErrnoRet", errno.EPERM))
    default = _action(str(profile["defaultAction"]), default_errno, default_errno)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(errno.EINVAL, "seccomp: cannot make a filter")
    try:
        # a binary tree of syscall numbers rather than a list: the kernel runs the program for every
        # syscall number when it loads it (its allow-cache), ~0.4 ms less at each start and exec here
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_OPTIMIZE, 2)  # older libseccomp: refused, and harmless
        for arch in profile.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                raise SeccompError(errno.EINVAL, f"seccomp: unknown architecture {arch}")
            _check(lib.seccomp_arch_add(ctx, token), f"architecture {arch}")
        for rule in profile.get("syscalls") or []:
            action = _action(str(rule["action"]), rule.get("errnoRet"), errno.EPERM)
            if action == default:
                continue  # libseccomp refuses a rule whose action is the default one (and it changes nothing)
            args = rule.get("args") or []
            # conditions on distinct arguments all hold together (one rule); several on the same
            # argument are alternatives (one rule each), as runc reads them
            indexes = [a["index"] for a in args]
            groups = [args] if len(set(indexes)) == len(indexes) else [[a] for a in args]
            for name in rule.get("names") or []:
                number = lib.seccomp_syscall_resolve_name(str(name).encode())
                if number == _NR_SCMP_ERROR:
                    continue  # a syscall this libseccomp does not know: nothing to filter (as runc)
                for group in groups:
                    array = (_ArgCmp * max(len(group), 1))(
                        *(_ArgCmp(a["index"], _OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in group)
                    )
                    _check(
                        lib.seccomp_rule_add_array(ctx, action, number, len(group), array),
                        f"rule for {name}",
                    )
        reader, writer = os.pipe()
        try:
            # a program is at most BPF_MAXINSNS (4096) instructions of 8 bytes: 32 KB, within a pipe's 64 KB
            _check(lib.seccomp_export_bpf(ctx, writer), "export")
            os.close(writer)
            writer = -1
            chunks = []
            while chunk := os.read(reader, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(reader)
            if writer >= 0:
                os.close(writer)
    finally:
        lib.seccomp_release(ctx)


def program_for(profile: dict[str, Any], cache_dir: Path) -> bytes:
    """``compile_bpf``, cached in ``cache_dir`` under the profile's digest (written atomically)."""
    canonical = json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()
    path = cache_dir / (hashlib.sha256(canonical).hexdigest() + ".bpf")
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    program = compile_bpf(profile)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(program)
    os.replace(partial, path)
    return program


def container_program(state_dir: Path) -> bytes:
    """The filter the container's init loaded (empty: none), which its execs load too."""
    try:
        return (state_dir / PROGRAM_FILE).read_bytes()
    except FileNotFoundError:
        return b""


def install(program: bytes) -> None:
    """Load ``program`` for this thread and its children (needs no_new_privs or CAP_SYS_ADMIN)."""
    if len(program) % 8:
        raise SeccompError(errno.EINVAL, "seccomp: a BPF program is a whole number of 8-byte instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    try:
        syscalls.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    except OSError as exc:
        raise SeccompError(exc.errno or errno.EINVAL, f"seccomp: loading the filter: {exc.strerror}") from exc


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) tuples: for tests comparing programs."""
    return [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
