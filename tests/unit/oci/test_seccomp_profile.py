"""Docker's profile format → the OCI spec's linux.seccomp, rule by rule as moby's setupSeccomp keeps them."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.oci.seccomp import default_profile, parse_profile, to_oci

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]  # fmt: skip


def _allowed(oci: dict, name: str) -> list[dict]:
    return [r for r in oci["syscalls"] if name in r["names"] and r["action"] == "SCMP_ACT_ALLOW"]


def test_the_default_profile_for_a_default_container_on_amd64() -> None:
    oci = to_oci(default_profile(), DEFAULT_CAPS, arch="amd64", kernel=(6, 18))
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for blocked in ("keyctl", "add_key", "bpf", "unshare", "mount", "perf_event_open", "kexec_load"):
        assert _allowed(oci, blocked) == [], blocked
    assert _allowed(oci, "chroot")  # CAP_SYS_CHROOT is a default capability
    assert _allowed(oci, "arch_prctl")  # amd64-only rule kept
    assert not _allowed(oci, "s390_pci_mmio_read")
    # clone only without namespace flags; clone3 answers ENOSYS so that libc falls back to clone
    (clone,) = _allowed(oci, "clone")
    assert clone["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = [r for r in oci["syscalls"] if r["names"] == ["clone3"]]
    assert (clone3["action"], clone3["errnoRet"]) == ("SCMP_ACT_ERRNO", 38)
    # personality: only the five values the profile names
    assert sorted(r["args"][0]["value"] for r in _allowed(oci, "personality")) == [
        0,
        8,
        131072,
        131080,
        4294967295,
    ]


def test_capabilities_turn_rules_on_and_off() -> None:
    admin = to_oci(default_profile(), [*DEFAULT_CAPS, "CAP_SYS_ADMIN"], arch="amd64", kernel=(6, 18))
    assert any("args" not in r for r in _allowed(admin, "clone"))  # any clone
    assert [r for r in admin["syscalls"] if r["names"] == ["clone3"]] == []  # excluded with SYS_ADMIN
    assert _allowed(admin, "mount") and _allowed(admin, "bpf")
    assert not _allowed(to_oci(default_profile(), [], arch="amd64", kernel=(6, 18)), "chroot")


def test_kernel_and_architecture_conditions() -> None:
    old = to_oci(default_profile(), DEFAULT_CAPS, arch="amd64", kernel=(4, 4))
    assert not _allowed(old, "ptrace")  # minKernel 4.8
    assert _allowed(to_oci(default_profile(), DEFAULT_CAPS, arch="amd64", kernel=(4, 8)), "ptrace")
    arm = to_oci(default_profile(), DEFAULT_CAPS, arch="arm64", kernel=(6, 1))
    assert arm["architectures"][0] == "SCMP_ARCH_AARCH64" and not _allowed(arm, "arch_prctl")


def test_broken_profiles_are_refused_in_words() -> None:
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        parse_profile("{")
    with pytest.raises(InvalidArgument, match="defaultAction is missing"):
        to_oci({}, [])
    with pytest.raises(InvalidArgument, match="use either 'name' or 'names'"):
        to_oci(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}],
            },
            [],
        )
    with pytest.raises(InvalidArgument, match="use either 'architectures' or 'archMap'"):
        to_oci({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{}]}, [])
    with pytest.raises(InvalidArgument, match="unknown operator"):
        to_oci(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"op": "LIKE"}]}],
            },
            [],
        )
