"""The OCI ``linux.resources.devices`` rules as a cgroup v2 device program (eBPF), as runc's and
crun's device filters do: cgroup v2 has no devices.allow/deny files, only a
``BPF_PROG_TYPE_CGROUP_DEVICE`` program attached to the cgroup that answers each open or mknod.

The program reads the request (type, access, major, minor), tries the rules from the last to the first
— the last matching rule wins, as with v1's files written in order — and denies what none matches.
It is a few instructions per rule, written here: the kernel's verifier checks it at load.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Sequence
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2
_DEVCG_BLOCK, _DEVCG_CHAR = 1, 2
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# eBPF opcodes used below
_LDX_W = 0x61  # dst = *(u32 *)(src + off)
_AND32_K = 0x54
_RSH32_K = 0x74
_MOV32_X = 0xBC
_MOV64_K = 0xB7
_JNE_K = 0x55
_JNE_X = 0x5D
_EXIT = 0x95

Rule = dict[str, object]


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def program(rules: Sequence[Rule]) -> bytes:
    """The eBPF instructions for ``rules`` (OCI LinuxDeviceCgroup entries)."""
    code = [
        _insn(_LDX_W, dst=2, src=1, off=0),  # r2 = access_type
        _insn(_AND32_K, dst=2, imm=0xFFFF),  # r2 = device type
        _insn(_LDX_W, dst=3, src=1, off=0),
        _insn(_RSH32_K, dst=3, imm=16),  # r3 = access asked
        _insn(_LDX_W, dst=4, src=1, off=4),  # r4 = major
        _insn(_LDX_W, dst=5, src=1, off=8),  # r5 = minor
    ]
    for rule in reversed(rules):
        block, matches_all = _block(rule)
        code += block
        if matches_all:  # the rules before it can never be reached (and the verifier refuses dead code)
            return b"".join(code)
    code += [_insn(_MOV64_K, dst=0, imm=0), _insn(_EXIT)]  # nothing matched: deny
    return b"".join(code)


def _block(rule: Rule) -> tuple[list[bytes], bool]:
    """One rule: a test per condition, each jumping past the block when it fails; then the answer.
    Also whether it matches every request (no condition)."""
    body: list[tuple[int, int, int, int, bool]] = []  # (code, dst, src, imm, jumps past the block)
    kind = str(rule.get("type") or "a")
    if kind in ("b", "c"):
        body.append((_JNE_K, 2, 0, _DEVCG_BLOCK if kind == "b" else _DEVCG_CHAR, True))
    access = str(rule.get("access") or "rwm")
    bits = sum(_ACCESS_BITS[c] for c in set(access) if c in _ACCESS_BITS)
    if bits != 7:  # the access asked must lie within the rule's: (asked & bits) == asked
        body += [(_MOV32_X, 1, 3, 0, False), (_AND32_K, 1, 0, bits, False), (_JNE_X, 1, 3, 0, True)]
    for register, key in ((4, "major"), (5, "minor")):
        value = rule.get(key)
        if isinstance(value, int) and value >= 0:
            body.append((_JNE_K, register, 0, value, True))
    body += [(_MOV64_K, 0, 0, 1 if rule.get("allow") else 0, False), (_EXIT, 0, 0, 0, False)]
    size = len(body)
    block = [
        _insn(code, dst=dst, src=src, off=size - index - 1 if jumps else 0, imm=imm)
        for index, (code, dst, src, imm, jumps) in enumerate(body)
    ]
    return block, not any(jumps for *_, jumps in body)


class _LoadAttr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


class _AttachAttr(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32),
        ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    ]


def _bpf(command: int, attr: ctypes.Structure) -> int:
    result = int(_libc.syscall(_SYS_BPF, command, ctypes.byref(attr), ctypes.sizeof(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def attach(cgroup_dir: Path, rules: Sequence[Rule]) -> None:
    """Load the program for ``rules`` and attach it to ``cgroup_dir`` (it lives as long as the cgroup)."""
    code = program(rules)
    insns = ctypes.create_string_buffer(code, len(code))
    license_text = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(65536)
    load = _LoadAttr(
        prog_type=_BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt=len(code) // 8,
        insns=ctypes.addressof(insns),
        license=ctypes.addressof(license_text),
        log_level=1,
        log_size=len(log),
        log_buf=ctypes.addressof(log),
        prog_name=b"berth_devices",
        expected_attach_type=_BPF_CGROUP_DEVICE,
    )
    try:
        prog_fd = _bpf(_BPF_PROG_LOAD, load)
    except OSError as exc:
        detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise OSError(
            exc.errno or errno.EINVAL, f"loading the cgroup v2 device filter: {exc.strerror} {detail[0]}"
        ) from exc
    try:
        target = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(
                _BPF_PROG_ATTACH,
                _AttachAttr(
                    target_fd=target,
                    attach_bpf_fd=prog_fd,
                    attach_type=_BPF_CGROUP_DEVICE,
                    attach_flags=_BPF_F_ALLOW_MULTI,
                ),
            )
        finally:
            os.close(target)
    except OSError as exc:
        raise OSError(exc.errno, f"attaching the device filter to {cgroup_dir}: {exc.strerror}") from exc
    finally:
        os.close(prog_fd)
