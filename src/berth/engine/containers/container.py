"""A container's record: what Docker's inspect shows, kept as one JSON file per container.

    <containers-root>/<container_id>/
      config.v2.json      this record (atomic writes)
      <id>-json.log       json-file log (+ .1, .2, … when rotated)
      hostname, hosts, resolv.conf
      bundle/config.json  the OCI runtime spec of the last start

Docker-level status (``State.Status``) adds ``restarting``, ``removing``, ``exited`` and ``dead`` to
the runtime's four; the table below says which verbs each allows.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from berth.engine.containers.portruns import ExposedPorts, HostPorts, PortBindings, PortRuns
from berth.errors import Conflict
from berth.runtime.types import Attached
from berth.util.atomic import read_json, write_json
from berth.util.records import Shape, require

ZERO_TIME = "0001-01-01T00:00:00Z"


RECORD_SHAPE: Shape = {
    "ID": str, "Name": str, "Created": str, "Image": str, "ImageID": str, "Config": dict,
    "HostConfig": dict, "Path": str, "Args": list, "Status": str, "Pid": int, "ExitCode": int,
    "Error": str, "OOMKilled": bool, "StartedAt": str, "FinishedAt": str, "RestartCount": int,
}  # fmt: skip
RECORD_OPTIONAL: Shape = {"ManuallyStopped": bool, "SnapshotKey": str, "Health": dict, "Endpoints": dict,
                   "Ports": (dict, list)}  # fmt: skip


BUILD_STEP_LABEL = "berth.build-step"  # on a build step's container that the build removes after it


class ContainerStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    def can_start(self) -> bool:
        return self in {ContainerStatus.CREATED, ContainerStatus.EXITED, ContainerStatus.RESTARTING}

    def is_alive(self) -> bool:
        return self in {ContainerStatus.RUNNING, ContainerStatus.PAUSED}


def now_rfc3339() -> str:
    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


@functools.lru_cache(maxsize=8192)  # ``ps`` parses every container's Created: strptime is slow
def parse_rfc3339(value: str) -> float:
    """RFC 3339 with optional nanoseconds → unix seconds (0.0 for Docker's zero time)."""
    if not value or value.startswith("0001-"):
        return 0.0
    import calendar

    main, _, frac = value.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + frac) if frac else 0.0)


@dataclass(slots=True)
class PendingAttach:
    """An attach that arrived before start; start connects it before the process can print."""

    stdin: bool
    stdout: bool
    stderr: bool
    future: asyncio.Future[Attached]


@dataclass
class Container:
    """The mutable record of one container, plus in-memory synchronisation that is never saved."""

    container_id: str
    name: str
    created: str
    image: str  # as the user named it
    image_id: str
    config: dict[str, Any]  # Docker's Config (merged with the image's)
    host_config: dict[str, Any]
    path: str
    args: list[str]
    directory: Path
    status: ContainerStatus = ContainerStatus.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    manually_stopped: bool = False
    snapshot_key: str = ""
    health: dict[str, Any] | None = None
    # network name → Docker's EndpointSettings (Aliases, IPAMConfig; IPAddress & co. while running)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: HostPorts = field(default_factory=HostPorts)  # published: "80/tcp" → bindings, while it runs
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    exit_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    removed_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    pending_attaches: list[PendingAttach] = field(default_factory=list, repr=False)
    monitor: asyncio.Task[None] | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)  # create's answer; not saved

    def __post_init__(self) -> None:
        # Port maps as runs (portruns.py): a range of 10,000 ports is one entry, not 10,000 dicts.
        if self.config.get("ExposedPorts") is not None:
            self.config["ExposedPorts"] = ExposedPorts.from_json(self.config["ExposedPorts"])
        if self.host_config.get("PortBindings") is not None:
            self.host_config["PortBindings"] = PortBindings.from_json(self.host_config["PortBindings"])

    @property
    def short_id(self) -> str:
        return self.container_id[:12]

    @property
    def record_path(self) -> Path:
        return self.directory / "config.v2.json"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.container_id}-json.log"

    @property
    def bundle(self) -> Path:
        return self.directory / "bundle"

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def auto_remove(self) -> bool:
        return bool(self.host_config.get("AutoRemove"))

    def require(self, allowed: bool, verb: str) -> None:
        if not allowed:
            raise Conflict(f"cannot {verb} container {self.short_id}: container is {self.status.value}")

    def next_exit_event(self) -> asyncio.Event:
        """The event set at the next exit (a fresh one if the previous exit already fired)."""
        if self.exit_event.is_set():
            self.exit_event = asyncio.Event()
        return self.exit_event

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.container_id,
            "Name": self.name,
            "Created": self.created,
            "Image": self.image,
            "ImageID": self.image_id,
            "Config": with_port_maps(self.config, "ExposedPorts", record=True),
            "HostConfig": with_port_maps(self.host_config, "PortBindings", record=True),
            "Path": self.path,
            "Args": self.args,
            "Status": self.status.value,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "OOMKilled": self.oom_killed,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
            "RestartCount": self.restart_count,
            "ManuallyStopped": self.manually_stopped,
            "SnapshotKey": self.snapshot_key,
            "Health": self.health,
            "Endpoints": self.endpoints,
            "Ports": self.ports.to_record(),
        }

    def save(self) -> None:
        try:
            record = self.to_json()
        except (AttributeError, TypeError) as exc:
            raise ValueError(f"container {self.short_id}: malformed state: {exc}") from exc
        require(record, RECORD_SHAPE, optional=RECORD_OPTIONAL)  # never write what load refuses
        # Not fsynced: rename keeps the file whole across a daemon crash, which is what restore needs.
        write_json(self.record_path, record, mode=0o600, durable=False)

    @classmethod
    def load(cls, directory: Path) -> Container:
        """The container recorded in ``directory``; ``ValueError`` for a record of the wrong shape
        (listings skip it with a warning, ``system check`` reports it)."""
        raw = require(read_json(directory / "config.v2.json"), RECORD_SHAPE, optional=RECORD_OPTIONAL)
        try:
            return cls._from_record(raw, directory)
        except (KeyError, TypeError, AttributeError) as exc:  # inside a field the shape lets through
            raise ValueError(f"malformed container record: {exc!r}") from exc

    @classmethod
    def _from_record(cls, raw: dict[str, Any], directory: Path) -> Container:
        return cls(
            container_id=raw["ID"],
            name=raw["Name"],
            created=raw["Created"],
            image=raw["Image"],
            image_id=raw["ImageID"],
            config=raw["Config"],
            host_config=raw["HostConfig"],
            path=raw["Path"],
            args=raw["Args"],
            directory=directory,
            status=ContainerStatus(raw["Status"]),
            pid=raw["Pid"],
            exit_code=raw["ExitCode"],
            error=raw["Error"],
            oom_killed=raw["OOMKilled"],
            started_at=raw["StartedAt"],
            finished_at=raw["FinishedAt"],
            restart_count=raw["RestartCount"],
            manually_stopped=raw.get("ManuallyStopped", False),
            snapshot_key=raw.get("SnapshotKey", ""),
            health=raw.get("Health"),
            endpoints=raw.get("Endpoints") or {},
            ports=HostPorts.from_json(raw.get("Ports")),
        )


def with_port_maps(section: dict[str, Any], key: str, *, record: bool = False) -> dict[str, Any]:
    """``Config`` or ``HostConfig`` with its port map as runs (``record``) or as Docker's dict."""
    value = section.get(key)
    if not isinstance(value, PortRuns):
        return section
    return {**section, key: value.to_record() if record else value.to_dict()}
