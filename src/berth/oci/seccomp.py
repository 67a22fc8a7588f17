"""Docker's seccomp profiles (moby's profiles/seccomp format) turned into the OCI runtime spec's
``linux.seccomp``, as moby's ``setupSeccomp`` does: rules conditional on capabilities, architectures
and the kernel's version are kept or left out for one container here, and the profile's ``archMap``
becomes the native architecture and its sub-architectures.

The default profile is moby's own default.json, kept as data (``seccomp-default.json``), not code.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument

DEFAULT_PROFILE_PATH = Path(__file__).with_name("seccomp-default.json")
# Go's GOARCH (the profile's "arches") → libseccomp's native architecture token
_GO_TO_SECCOMP = {
    "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64", "loong64": "SCMP_ARCH_LOONGARCH64",
}  # fmt: skip
_UNAME_TO_GO = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "riscv64": "riscv64"}
# moby's seccomp arch names in includes/excludes ("x32", "x86") beside Go's
_ARCH_ALIASES = {"amd64": ("amd64",), "386": ("386", "x86"), "arm64": ("arm64",), "arm": ("arm",)}


@cache
def default_profile() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFAULT_PROFILE_PATH.read_text())
    return loaded


def native_arch() -> str:
    """This machine's Go architecture name (``amd64``, ``arm64``, …)."""
    machine = os.uname().machine
    return _UNAME_TO_GO.get(machine, machine)


def kernel_version() -> tuple[int, int]:
    release = os.uname().release.split("-")[0].split(".")
    try:
        return int(release[0]), int(release[1])
    except (IndexError, ValueError):
        return (0, 0)


def parse_profile(text: str) -> dict[str, Any]:
    """A profile given inline (``--security-opt seccomp=<JSON>``, as the docker CLI sends a file's content)."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from exc
    if not isinstance(profile, dict):
        raise InvalidArgument(
            "Decoding seccomp profile failed: json: cannot unmarshal into Go value of type seccomp.Seccomp"
        )
    return profile


def to_oci(
    profile: dict[str, Any],
    capabilities: list[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` for a container with ``capabilities`` (its bounding set) on ``arch``."""
    arch = arch or native_arch()
    kernel = kernel or kernel_version()
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'"
        )
    default_action = _action(profile.get("defaultAction"), "defaultAction")
    result: dict[str, Any] = {"defaultAction": default_action}
    if "defaultErrnoRet" in profile:
        result["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    architectures = [str(a) for a in profile.get("architectures") or []]
    native = _GO_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if native is not None and entry.get("architecture") == native:
            architectures = [native, *(str(a) for a in entry.get("subArchitectures") or [])]
    if architectures:
        result["architectures"] = architectures
    if profile.get("flags"):
        result["flags"] = [str(f) for f in profile["flags"]]
    syscalls = []
    held = set(capabilities)
    for call in profile.get("syscalls") or []:
        if call.get("name") and call.get("names"):
            raise InvalidArgument(
                "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"
            )
        if not _applies(call, held, arch, kernel):
            continue
        names = [str(n) for n in call.get("names") or ([call["name"]] if call.get("name") else [])]
        rule: dict[str, Any] = {"names": names, "action": _action(call.get("action"), "action")}
        if "errnoRet" in call:
            rule["errnoRet"] = int(call["errnoRet"])
        if call.get("args"):
            rule["args"] = [_arg(a) for a in call["args"]]
        syscalls.append(rule)
    result["syscalls"] = syscalls
    return result


def _applies(call: dict[str, Any], held: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    arches = _ARCH_ALIASES.get(arch, (arch,))
    excludes = call.get("excludes") or {}
    if any(a in arches for a in excludes.get("arches") or []):
        return False
    if any(c in held for c in excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and kernel >= _kernel(excludes["minKernel"]):
        return False
    includes = call.get("includes") or {}
    if includes.get("arches") and not any(a in arches for a in includes["arches"]):
        return False
    if includes.get("caps") and not all(c in held for c in includes["caps"]):
        return False
    return not (includes.get("minKernel") and kernel < _kernel(includes["minKernel"]))


def _kernel(text: str) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError as exc:
        raise InvalidArgument(f"invalid kernel version {text!r} in the seccomp profile") from exc


_ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
)  # fmt: skip
_OPS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
)  # fmt: skip


def _action(value: object, field: str) -> str:
    if not value:
        raise InvalidArgument(f"invalid seccomp profile: {field} is missing")
    if value not in _ACTIONS:
        raise InvalidArgument(f"invalid seccomp profile: {field}: unknown action {value!r}")
    return str(value)


def _arg(arg: dict[str, Any]) -> dict[str, Any]:
    if arg.get("op") not in _OPS:
        raise InvalidArgument(f"invalid seccomp profile: unknown operator {arg.get('op')!r}")
    converted = {"index": int(arg.get("index", 0)), "value": int(arg.get("value", 0)), "op": str(arg["op"])}
    if arg.get("valueTwo"):
        converted["valueTwo"] = int(arg["valueTwo"])
    return converted
