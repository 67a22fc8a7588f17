"""What HostConfig says about a container's privileges: capabilities, ``--privileged``,
``--security-opt``, ulimits, the OOM score, sysctls, the runtime and isolation fields.

``validate`` refuses at create, with Docker's (or runc's) words, what Docker would refuse;
``normalize`` stores Docker's create-time defaults (IpcMode, MaskedPaths, …) so inspect shows them;
the rest computes pieces of the OCI spec (``spec.build``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument
from berth.oci import seccomp
from berth.runtime.linux.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS, bounding_set, last_cap
from berth.runtime.spec import MASKED_PATHS, READONLY_PATHS

RUNTIME = "runc"  # the name Docker reports; the only runtime this daemon has
# go-units' ulimit names (docker run --ulimit NAME=SOFT[:HARD]).
ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
# runc's validSysctlMap: the IPC namespace's sysctls (plus every fs.mqueue.*).
IPC_SYSCTLS = (
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced",
)  # fmt: skip
_DEVICE_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def known_capabilities() -> tuple[str, ...]:
    """moby's GetAllCapabilities: every capability this kernel knows."""
    return CAPABILITIES[: last_cap() + 1]


def privileged_capabilities() -> list[str]:
    """What ``--privileged`` grants: every capability in the daemon's bounding set. The shim and the
    container inherit that set, so no capability outside it can be granted (EPERM)."""
    return list(bounding_set())


def normalize_capabilities(caps: list[str] | None, field: str) -> list[str]:
    """moby's NormalizeLegacyCapabilities: upper case, a CAP_ prefix, "ALL" kept; an unknown name is
    refused with ``invalid CapAdd: unknown capability: "CAP_X"``."""
    known = known_capabilities()
    normalized = []
    for cap in caps or []:
        name = str(cap).upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in known:
            raise InvalidArgument(f'invalid {field}: unknown capability: "{name}"')
        normalized.append(name)
    return normalized


def capabilities(host: dict[str, Any]) -> list[str]:
    """moby's TweakCapabilities: privileged → all; ``--cap-add ALL`` → all but the dropped ones;
    ``--cap-drop ALL`` → only the added ones; otherwise the 14 defaults minus drops plus adds."""
    if host.get("Privileged"):
        return privileged_capabilities()
    adds = normalize_capabilities(host.get("CapAdd"), "CapAdd")
    drops = normalize_capabilities(host.get("CapDrop"), "CapDrop")
    if "ALL" in adds:
        grantable = set(privileged_capabilities())
        return [c for c in known_capabilities() if c not in drops and c in grantable]
    if "ALL" in drops:
        return list(dict.fromkeys(adds))
    return list(dict.fromkeys([*(c for c in DOCKER_DEFAULT_CAPS if c not in drops), *adds]))


@dataclass(frozen=True, slots=True)
class SecurityOptions:
    """HostConfig.SecurityOpt, parsed as moby's parseSecurityOpt parses it."""

    no_new_privileges: bool = False
    unconfined_paths: bool = False  # systempaths=unconfined
    writable_cgroups: bool = False
    seccomp: str = ""  # "": the daemon's default; "builtin"; "unconfined"; or a profile's JSON (sent inline)


def security_options(host: dict[str, Any]) -> SecurityOptions:
    no_new_privileges = unconfined = writable = False
    profile = ""
    for opt in host.get("SecurityOpt") or []:
        opt = str(opt)
        if opt == "no-new-privileges":
            no_new_privileges = True
            continue
        if opt == "disable":  # the legacy spelling of label=disable
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        if key == "no-new-privileges":
            no_new_privileges = _bool(value, opt)
        elif key == "writable-cgroups":
            writable = _bool(value, opt)
        elif key == "systempaths" and value == "unconfined":
            unconfined = True
        elif key == "seccomp":
            profile = value
        elif key == "apparmor":
            if value != "unconfined":
                raise InvalidArgument(
                    f"AppArmor is not supported by this daemon: cannot load profile {value!r} "
                    "(only apparmor=unconfined)"
                )
        elif key == "label":
            if value != "disable":
                raise InvalidArgument(
                    f"SELinux is not supported by this daemon: cannot apply label {value!r} "
                    "(only label=disable)"
                )
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOptions(no_new_privileges, unconfined, writable, profile)


SECCOMP_BUILTIN, SECCOMP_UNCONFINED = "builtin", "unconfined"


# The daemon's --userns-remap: (uidMappings, gidMappings) of every container that does not opt out.
UserMaps = tuple[list[dict[str, int]], list[dict[str, int]]]


def remapped(host: dict[str, Any], maps: UserMaps | None) -> bool:
    """Whether this container gets a user namespace: the daemon remaps and it did not ask --userns host."""
    return maps is not None and _mode(host, "UsernsMode") != "host"


def validate_userns(host: dict[str, Any], maps: UserMaps | None) -> None:
    """What dockerd refuses in a remapped container (verifyPlatformContainerSettings)."""
    if not remapped(host, maps):
        return
    if host.get("Privileged"):
        raise InvalidArgument(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host "
            "namespace when running privileged mode"
        )
    if _mode(host, "NetworkMode") == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if _mode(host, "PidMode") == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")


def seccomp_filter(host: dict[str, Any], daemon_profile: str = "") -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` of a container, as moby's WithSeccomp picks it: none when privileged
    or unconfined; the container's own profile; else the daemon's (``--seccomp-profile``); else
    Docker's default — each with the rules that the container's capabilities and this machine's
    architecture and kernel call for."""
    if host.get("Privileged"):
        return None
    chosen = security_options(host).seccomp or daemon_profile
    if chosen == SECCOMP_UNCONFINED:
        return None
    caps = capabilities(host)
    if chosen in ("", SECCOMP_BUILTIN):
        return _default_filter(tuple(caps))
    return seccomp.to_oci(seccomp.parse_profile(chosen), caps)


@functools.lru_cache(maxsize=32)
def _default_filter(caps: tuple[str, ...]) -> dict[str, Any]:
    return seccomp.to_oci(seccomp.default_profile(), list(caps))


def _bool(value: str, opt: str) -> bool:
    # Go's strconv.ParseBool
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')


def rlimits(host: dict[str, Any]) -> list[dict[str, Any]]:
    """HostConfig.Ulimits → OCI ``process.rlimits`` (``-1``: unlimited)."""
    result = []
    for ulimit in host.get("Ulimits") or []:
        name, soft, hard = _ulimit(ulimit)
        result.append({"type": f"RLIMIT_{name.upper()}", "soft": soft, "hard": hard})
    return result


def _ulimit(ulimit: object) -> tuple[str, int, int]:
    if not isinstance(ulimit, dict):
        raise InvalidArgument(f"invalid ulimit: {ulimit!r}")
    name = str(ulimit.get("Name") or "")
    if name not in ULIMITS:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft, hard = ulimit.get("Soft"), ulimit.get("Hard")
    if not isinstance(soft, int) or not isinstance(hard, int):
        raise InvalidArgument(f"invalid ulimit {name}: Soft and Hard must be integers")
    if hard >= 0 and (soft < 0 or soft > hard):
        raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return name, soft, hard


def _mode(host: dict[str, Any], key: str) -> str:
    return str(host.get(key) or "")


def validate(host: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse at create what Docker refuses (400), in its words."""
    normalize_capabilities(host.get("CapAdd"), "CapAdd")
    normalize_capabilities(host.get("CapDrop"), "CapDrop")
    profile = security_options(host).seccomp
    if profile not in ("", SECCOMP_BUILTIN, SECCOMP_UNCONFINED):
        seccomp.to_oci(seccomp.parse_profile(profile), [])  # a broken profile fails create, not start
    rlimits(host)
    _validate_modes(host, config)
    score = host.get("OomScoreAdj") or 0
    if not isinstance(score, int) or score < -1000 or score > 1000:
        raise InvalidArgument(f"Invalid value {score}, range for oom score adj is [-1000, 1000]")
    runtime = _mode(host, "Runtime")
    if runtime not in ("", RUNTIME):
        raise InvalidArgument(f"unknown or invalid runtime name: {runtime}")
    isolation = _mode(host, "Isolation")
    if isolation.lower() not in ("", "default"):
        raise InvalidArgument(f"invalid isolation ({isolation}): linux only supports 'default'")
    userns = _mode(host, "UsernsMode")
    if userns not in ("", "host"):
        # dockerd's modes: "" (the daemon's --userns-remap, if any) and "host" (opt out of it)
        raise InvalidArgument(f"invalid UsernsMode: {userns}")
    for key in host.get("Annotations") or {}:
        if key == "":
            raise InvalidArgument(
                "invalid Annotations: the empty string is not permitted as an annotation key"
            )
        if str(key).startswith("io.berth."):
            raise InvalidArgument(f"invalid Annotations: {key}: the io.berth. prefix is the runtime's own")
    _validate_devices(host)
    validate_sysctls(host)


def _validate_devices(host: dict[str, Any]) -> None:
    """Device rules and mappings in Docker's words (v1's devices files or v2's eBPF program apply them)."""
    for rule in host.get("DeviceCgroupRules") or []:
        device_rule(str(rule))
    for mapping in host.get("Devices") or []:
        if not isinstance(mapping, dict) or not str(mapping.get("PathOnHost") or ""):
            raise InvalidArgument(f"invalid device mapping: {mapping!r}")
        permissions = str(mapping.get("CgroupPermissions") or "rwm")
        if not re.fullmatch(r"[rwm]{1,3}", permissions):
            raise InvalidArgument(f"invalid device mode: {permissions}")


def _validate_modes(host: dict[str, Any], config: dict[str, Any]) -> None:
    ipc, pid = _mode(host, "IpcMode"), _mode(host, "PidMode")
    uts, cgroupns = _mode(host, "UTSMode"), _mode(host, "CgroupnsMode")
    if not (ipc in ("", "host", "private", "shareable", "none") or _container_mode(ipc)):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    if not (pid in ("", "host") or _container_mode(pid)):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    if uts not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {uts}")
    if cgroupns not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {cgroupns}")
    if uts == "host" and config.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the UTS mode")


def _container_mode(mode: str) -> bool:
    return mode.startswith("container:") and len(mode) > len("container:")


def validate_sysctls(host: dict[str, Any]) -> None:
    """runc's rules: a sysctl must belong to a namespace the container has of its own."""
    network = _mode(host, "NetworkMode") or "default"
    for key in host.get("Sysctls") or {}:
        key = str(key).replace("/", ".")
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if _mode(host, "IpcMode") == "host":
                raise InvalidArgument(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        elif key.startswith("net."):
            if network == "host":
                raise InvalidArgument(f'sysctl "{key}" is not allowed in the hosts network namespace')
        elif key == "kernel.domainname" and _mode(host, "UTSMode") != "host":
            pass
        elif key == "kernel.hostname" and _mode(host, "UTSMode") != "host":
            raise InvalidArgument(
                'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'
            )
        else:
            raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


def device_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 rwm'`` → an OCI ``linux.resources.devices`` entry."""
    match = _DEVICE_RULE.match(rule)
    if match is None:
        raise InvalidArgument(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = match.groups()
    return {
        "allow": True, "type": kind, "access": access,
        "major": -1 if major == "*" else int(major), "minor": -1 if minor == "*" else int(minor),
    }  # fmt: skip


def normalize(host: dict[str, Any]) -> None:
    """Docker's create-time defaults, stored so that inspect shows them: the IPC and cgroup
    namespace modes, and the default masked and read-only paths (cri-dockerd sends its own)."""
    if not host.get("IpcMode"):
        host["IpcMode"] = "private"
    if not host.get("CgroupnsMode"):
        host["CgroupnsMode"] = "private"
    unconfined = security_options(host).unconfined_paths
    if host.get("MaskedPaths") is None and not host.get("Privileged") and not unconfined:
        host["MaskedPaths"] = list(MASKED_PATHS)
    if host.get("ReadonlyPaths") is None and not host.get("Privileged") and not unconfined:
        host["ReadonlyPaths"] = list(READONLY_PATHS)
