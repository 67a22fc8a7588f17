"""The runtime's public data types and its Protocol — the seam between the engine and the kernel.

Vocabulary (OCI runtime-spec "lifecycle"):
- a *bundle* is a directory holding ``config.json`` (an OCI runtime spec, written by the engine);
  the container's root filesystem is described by ``rootfs`` mounts (from a snapshotter) that the
  runtime mounts inside the container's own mount namespace onto ``<bundle>/rootfs`` — nothing is
  ever mounted in the host's namespace, so nothing leaks if a process dies.
- a *shim* is the per-container monitor process: it owns the container's init process, holds its
  stdio (pipes or a pty master), writes the json-file log, serves attach/exec over a unix socket,
  records the exit status, and survives berthd (live restore).

Lifecycle:  create ─▶ CREATED ─▶ start ─▶ RUNNING ⇄ PAUSED ─▶ (exit or kill) ─▶ STOPPED ─▶ delete

    rt = LinuxRuntime(Path("/run/berth/runtime"), cgroup_parent="berth")
    rt.create("c1", bundle, rootfs=[Mount("overlay", "overlay", (...))], io=IOConfig(log_path=...))
    attached = await rt.attach("c1", stdout=True, stderr=True)    # before start: sees every byte
    rt.start("c1")
    state = await rt.wait("c1")                                    # STOPPED, exit_code set
    rt.delete("c1")
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from berth.oci.mount import Mount

if TYPE_CHECKING:  # asyncio is only needed for annotations; the shim must not pay for importing it.
    import asyncio


class Status(StrEnum):
    """Container status, spelled as the OCI state (and Docker's ``State.Status``) spell it."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class IOConfig:
    """How the shim wires the init process's stdio.

    ``tty``: a pseudo-terminal (stdout and stderr merged, raw stream).
    ``open_stdin``: keep a stdin pipe that attach clients write to; ``stdin_once``: close it when the
    first attached client detaches (Docker's StdinOnce).
    ``log_path``: json-file log (``{"log","stream","time"}`` lines), rotated at ``log_max_size`` bytes
    keeping ``log_max_files`` files (``path``, ``path.1``, … oldest last; ``path.N.gz`` with
    ``log_compress``); ``log_attrs`` (a JSON object or "") goes into every record as ``attrs``.
    None disables logging.
    """

    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    log_path: Path | None = None
    log_max_size: int = 20 * 1024 * 1024
    log_max_files: int = 5
    log_compress: bool = False
    log_attrs: str = ""
    console_height: int = 0
    console_width: int = 0


@dataclass(frozen=True, slots=True)
class State:
    """What the runtime knows of a container, refreshed from evidence (processes, exit file, cgroup)."""

    container_id: str
    status: Status
    pid: int = 0  # host pid of the init process while created/running/paused, else 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str = ""  # RFC 3339 with nanoseconds, UTC ("" if never started)
    finished_at: str = ""
    error: str = ""  # why start failed, e.g. 'exec: "nope": executable file not found in $PATH'


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """Counters read from the container's cgroup (v1 or v2), for ``stats`` and ``info``."""

    memory_usage: int = 0
    memory_limit: int = 0
    memory_max_usage: int = 0
    memory_stats: Mapping[str, int] = field(default_factory=dict)
    cpu_total_ns: int = 0
    cpu_user_ns: int = 0
    cpu_system_ns: int = 0
    percpu_ns: Sequence[int] = ()
    system_cpu_ns: int = 0  # host-wide, from /proc/stat, same clock
    online_cpus: int = 0
    throttled_periods: int = 0
    throttled_time_ns: int = 0
    pids_current: int = 0
    pids_limit: int = 0


@dataclass(frozen=True, slots=True)
class Attached:
    """A live attach to a container's or exec's stdio.

    Reading from ``reader`` yields Docker's stream: for a TTY, raw bytes; otherwise stdcopy frames
    (8-byte header ``[stream, 0, 0, 0, size:uint32 BE]``, stream 1 = stdout, 2 = stderr) — the very
    bytes berthd forwards on a hijacked HTTP connection. Writing to ``writer`` feeds stdin (when asked
    for); ``writer.write_eof()`` closes the container's stdin. EOF on ``reader`` means the process's
    output ended.
    """

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class Runtime(Protocol):
    """Runs OCI bundles as supervised containers. Every method refreshes status from evidence first;
    a verb in the wrong state raises ``berth.errors.Conflict`` naming both states; an unknown id raises
    ``NotFound``. Blocking methods are called by berthd through ``asyncio.to_thread``."""

    def create(self, container_id: str, bundle: Path, *, rootfs: Sequence[Mount], io: IOConfig) -> State:
        """Spawn the shim and the init process, fully set up but stopped before exec (CREATED)."""
        ...

    def start(self, container_id: str) -> State:
        """Let init exec the user's program. If exec fails, raise ``berth.runtime.errors.ExecFailed``
        (its ``errno`` ENOENT → Docker's 127, EACCES → 126) and leave the container STOPPED."""
        ...

    def state(self, container_id: str) -> State: ...

    def list(self) -> list[str]:
        """Ids of every container with runtime state on this host (live restore starts here)."""
        ...

    def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None: ...

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Remove a STOPPED container's runtime state and cgroup (``force``: kill it first). Idempotent."""
        ...

    async def wait(self, container_id: str) -> State:
        """Return once the container is STOPPED (at once if it already is)."""
        ...

    def notices(self) -> AsyncIterator[tuple[str, str]]:
        """(container id, message) as the shims report them while their containers run (a json-file
        log that cannot be written, then written again), until cancelled. One consumer at a time."""
        ...

    async def attach(self, container_id: str, *, stdin: bool, stdout: bool, stderr: bool) -> Attached: ...

    def resize(self, container_id: str, *, height: int, width: int) -> None: ...

    def stats(self, container_id: str) -> CgroupStats: ...

    def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        """Write an OCI ``linux.resources`` object (only the limits it names) to the cgroup of a
        CREATED, RUNNING or PAUSED container (``docker update``). Internal when the kernel refuses a
        value (a memory limit below what the container uses and cannot reclaim: EBUSY)."""
        ...

    def pids(self, container_id: str) -> builtins.list[int]:
        """Host pids of every process in the container's cgroup (for ``top``)."""
        ...

    def exec_create(self, container_id: str, exec_id: str, process: Mapping[str, Any], io: IOConfig) -> None:
        """Prepare a process (an OCI ``process`` object) to run inside the container's namespaces
        and cgroup; it starts with ``exec_start``. The IOConfig's log fields are ignored."""
        ...

    async def exec_attach(self, container_id: str, exec_id: str, *, stdin: bool) -> Attached: ...

    def exec_start(self, container_id: str, exec_id: str) -> int:
        """Start the exec'd process; returns its host pid. ExecFailed as for ``start``."""
        ...

    async def exec_wait(self, container_id: str, exec_id: str) -> int:
        """The exec'd process's exit code (128+N when killed by signal N)."""
        ...

    def exec_resize(self, container_id: str, exec_id: str, *, height: int, width: int) -> None: ...
