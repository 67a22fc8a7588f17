"""Turn the current (forked, single-threaded, root) process into the container's process: user,
rlimits, OOM score, capabilities, no_new_privs, cwd, then execve. Shared by the init process and by exec.
"""

from __future__ import annotations

import errno
import os
import resource
from collections.abc import Mapping
from pathlib import Path

from berth.runtime.errors import UserNotFound
from berth.runtime.linux import caps, seccomp, syscalls
from berth.runtime.linux.user import ExecUser, resolve

USER_ANNOTATION = "io.berth.user"
# Docker's GroupAdd: comma-separated group names (resolved in the container's /etc/group) or gids,
# added to every process's supplementary groups, whatever its user.
GROUP_ADD_ANNOTATION = "io.berth.group-add"

_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


def exec_user(process: Mapping[str, object], annotations: Mapping[str, object]) -> ExecUser:
    """``_exec_user`` plus the container's GroupAdd groups (``io.berth.group-add``)."""
    user = _exec_user(process, annotations)
    extra = annotations.get(GROUP_ADD_ANNOTATION)
    if not isinstance(extra, str) or not extra:
        return user
    gids = list(user.additional_gids) or [user.gid]
    for gid in additional_groups(extra.split(","), Path("/etc/group")):
        if gid not in gids:
            gids.append(gid)
    return ExecUser(user.uid, user.gid, tuple(gids), user.home)


def additional_groups(groups: list[str], group_file: Path) -> list[int]:
    """Resolve GroupAdd entries like runc's GetAdditionalGroups: a name must be in ``group_file``;
    a number is taken as is."""
    try:
        text = group_file.read_text(errors="replace")
    except OSError:
        text = ""  # an image without /etc/group: only numbers resolve
    entries = [line.split(":") for line in text.splitlines()]
    gids: list[int] = []
    for group in groups:
        found = next((e for e in entries if len(e) >= 3 and e[0] == group and e[2].isdigit()), None)
        if found is not None:
            gids.append(int(found[2]))
        elif group.isdigit():
            gids.append(int(group))
        else:
            raise UserNotFound(f"Unable to find group {group}: no matching entries in group file")
    return gids


def _exec_user(process: Mapping[str, object], annotations: Mapping[str, object]) -> ExecUser:
    """The identity to run as, resolved against the container's /etc/passwd and /etc/group (so this
    runs after pivot_root/setns). Precedence: ``process.user.username`` (Docker's ``name|uid[:group|gid]``,
    e.g. ``docker exec -u``), then — when the process has no ``user`` at all, or for init — the
    container's ``io.berth.user`` annotation, then ``process.user`` uid/gid/additionalGids."""
    user = process.get("user")
    username = user.get("username") if isinstance(user, dict) else None
    spec_user = annotations.get(USER_ANNOTATION)
    for candidate in (username, spec_user):
        if isinstance(candidate, str) and candidate:
            return resolve(candidate, Path("/etc/passwd"), Path("/etc/group"))
    if not isinstance(user, dict):
        return ExecUser(0, 0)
    extra = user.get("additionalGids")
    gids = tuple(int(g) for g in extra if isinstance(g, int)) if isinstance(extra, list) else ()
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    return ExecUser(uid if isinstance(uid, int) else 0, gid if isinstance(gid, int) else 0, gids)


def environment(process: Mapping[str, object], user: ExecUser) -> dict[str, str]:
    env: dict[str, str] = {}
    raw = process.get("env")
    for item in raw if isinstance(raw, list) else []:
        key, _, value = str(item).partition("=")
        env[key] = value
    env.setdefault("HOME", user.home)  # Docker sets HOME from passwd when the image does not.
    return env


def set_rlimits(rlimits: object) -> None:
    """Apply ``process.rlimits`` exactly, as runc does: raising a hard limit above ours needs
    CAP_SYS_RESOURCE, and without it the error says so rather than the limit being clamped."""
    for entry in rlimits if isinstance(rlimits, list) else []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("type"))
        number = _RLIMITS.get(name)
        hard, soft = entry.get("hard"), entry.get("soft")
        if number is None or not isinstance(hard, int) or not isinstance(soft, int):
            raise OSError(errno.EINVAL, f"invalid rlimit {entry!r}")
        hard = resource.RLIM_INFINITY if hard < 0 or hard >= 1 << 63 else hard
        soft = resource.RLIM_INFINITY if soft < 0 or soft >= 1 << 63 else soft
        try:
            resource.setrlimit(number, (soft, hard))
        except (OSError, ValueError) as exc:
            current = resource.getrlimit(number)[1]
            limit = "unlimited" if current == resource.RLIM_INFINITY else str(current)
            raise OSError(
                errno.EPERM,
                f"error setting rlimit type {number} ({name}) to {_limit(soft)}:{_limit(hard)}: {exc}"
                f" (the hard limit here is {limit}; raising it needs CAP_SYS_RESOURCE)",
            ) from exc


def _limit(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def set_oom_score_adj(process: Mapping[str, object]) -> None:
    """``process.oomScoreAdj`` → /proc/self/oom_score_adj (lowering it needs CAP_SYS_RESOURCE)."""
    score = process.get("oomScoreAdj")
    if not isinstance(score, int) or isinstance(score, bool):
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(score))
    except OSError as exc:
        raise OSError(exc.errno, f"write /proc/self/oom_score_adj {score}: {exc.strerror}") from exc


def enter_cwd(cwd: str) -> None:
    """chdir to the working dir, creating it when missing (Docker creates WorkingDir)."""
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
        os.chdir(cwd)


def finalize_and_exec(
    process: Mapping[str, object], user: ExecUser, *, privileged: bool = False, seccomp_program: bytes = b""
) -> None:
    """Drop privileges in the order that keeps each step possible, then execve. Raises OSError.

    The seccomp filter goes last, just before execve, when no_new_privs allows loading it without
    CAP_SYS_ADMIN; otherwise it must go before the capabilities are dropped (as runc orders it), and
    the profile then has to allow what remains (prctl, setgroups, setgid, setuid, capset, execve:
    Docker's default does)."""
    enter_cwd(str(process.get("cwd") or "/"))
    env = environment(process, user)
    no_new_privileges = bool(process.get("noNewPrivileges"))
    if seccomp_program and not no_new_privileges:
        seccomp.install(seccomp_program)
    raw_caps = process.get("capabilities")
    capabilities: dict[str, list[str]] = {}
    if isinstance(raw_caps, dict):
        capabilities = {str(k): [str(c) for c in v] for k, v in raw_caps.items() if isinstance(v, list)}
    if privileged:
        every = list(caps.bounding_set())
        capabilities = {k: every for k in ("bounding", "effective", "permitted", "inheritable")}
    if no_new_privileges:
        # No setuid binary or file capability can grant more than we hold from here on.
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    # The bounding set is dropped while we still hold CAP_SETPCAP (it is lost at capset below).
    caps.drop_bounding(caps.mask(capabilities.get("bounding", ())))
    # KEEPCAPS keeps the permitted set across setuid(non-zero); without it the kernel clears it and the
    # capset below could not grant the spec's capabilities to a non-root user.
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups(list(user.additional_gids))
    os.setgid(user.gid)
    os.setuid(user.uid)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    # capset last: setuid has cleared the effective set, this sets exactly the spec's sets.
    caps.apply(capabilities)
    raw_args = process.get("args")
    args = [str(a) for a in raw_args] if isinstance(raw_args, list) else []
    if not args:
        raise OSError(errno.EINVAL, "process.args is empty")
    if seccomp_program and no_new_privileges:
        seccomp.install(seccomp_program)
    # Every other fd is O_CLOEXEC (Python's default), so execve leaves the program only 0, 1 and 2:
    # no shim socket, log file or error pipe leaks into the container.
    os.execvpe(args[0], args, env)
