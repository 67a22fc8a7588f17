"""Capability names and numbers, and applying an OCI ``process.capabilities`` object."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from berth.runtime.linux import syscalls

CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
CAP_NUMBERS = {name: number for number, name in enumerate(CAPABILITIES)}

# moby's oci/caps/defaults.go: the 14 capabilities every Docker container gets.
DOCKER_DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)  # fmt: skip


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return len(CAPABILITIES) - 1


def bounding_set(status: str = "/proc/self/status") -> tuple[str, ...]:
    """Names of the capabilities in this process's bounding set (``CapBnd``): all a privileged
    container can hold, since no process can gain a capability its bounding set lacks."""
    with open(status) as f:
        for line in f:
            if line.startswith("CapBnd:"):
                bits = int(line.split()[1], 16)
                return tuple(name for number, name in enumerate(CAPABILITIES) if bits & (1 << number))
    return ()


def mask(names: Iterable[str]) -> int:
    """Bit mask of capability ``names``; unknown names are ignored (runc warns and skips them)."""
    bits = 0
    for name in names:
        number = CAP_NUMBERS.get(name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper())
        if number is not None:
            bits |= 1 << number
    return bits


def drop_bounding(keep: int) -> None:
    """Drop every bounding capability not in ``keep``. Needs CAP_SETPCAP, so it runs before capset."""
    for number in range(last_cap() + 1):
        if not keep & (1 << number):
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, number)


def apply(capabilities: Mapping[str, Sequence[str]] | None) -> None:
    """Set effective/permitted/inheritable and the ambient set from an OCI capabilities object."""
    capabilities = capabilities or {}
    effective = mask(capabilities.get("effective", ()))
    permitted = mask(capabilities.get("permitted", ()))
    inheritable = mask(capabilities.get("inheritable", ()))
    syscalls.capset(effective, permitted, inheritable)
    ambient = capabilities.get("ambient", ())
    if ambient:
        for number in range(last_cap() + 1):
            if mask(ambient) & (1 << number):
                syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, number)
