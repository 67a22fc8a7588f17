"""libseccomp compiles the OCI linux.seccomp, and the program loaded in a child takes effect there
(a forked process, so the test process itself stays unfiltered)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from runtime_helpers import errno_in_child

from berth.runtime.linux import seccomp, syscalls

pytestmark = pytest.mark.root


def _in_child(program: bytes, call: str) -> int:
    """Run ``call`` in a forked child after loading ``program``; the errno it met (0: it worked)."""

    def body() -> None:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        seccomp.install(program)
        if call == "mkdir":
            os.mkdir(f"/tmp/berth-seccomp-{os.getpid()}")
            os.rmdir(f"/tmp/berth-seccomp-{os.getpid()}")
        elif call == "getcwd":
            os.getcwd()

    return errno_in_child(body)


def test_a_rule_takes_effect_in_the_child_only() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS}],
    }
    program = seccomp.compile_bpf(profile)
    assert len(program) % 8 == 0 and seccomp.instructions(program)
    assert _in_child(program, "mkdir") == errno.EROFS
    assert _in_child(program, "getcwd") == 0
    os.mkdir("/tmp/berth-seccomp-parent")  # the parent is untouched
    os.rmdir("/tmp/berth-seccomp-parent")


def test_unknown_syscalls_are_skipped_and_programs_cached(tmp_path: Path) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "syscalls": [
            {
                "names": [
                    "no_such_syscall",
                    "getcwd",
                    "write",
                    "exit_group",
                    "exit",
                    "brk",
                    "mmap",
                    "munmap",
                    "rt_sigaction",
                    "rt_sigprocmask",
                ],
                "action": "SCMP_ACT_ALLOW",
            }
        ],
    }
    first = seccomp.program_for(profile, tmp_path)
    assert [p.suffix for p in tmp_path.iterdir()] == [".bpf"]
    assert seccomp.program_for(profile, tmp_path) == first
    assert _in_child(first, "getcwd") == 0
    assert _in_child(first, "mkdir") == errno.EPERM


def test_a_program_that_is_not_bpf_is_refused() -> None:
    with pytest.raises(seccomp.SeccompError, match="8-byte"):
        seccomp.install(b"123")
