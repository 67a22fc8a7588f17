"""ExecService: ``docker exec`` — extra processes inside a running container's namespaces and cgroup.

Exec instances live in memory only, as in dockerd: they are gone when the daemon restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from berth.engine.containers import spec
from berth.engine.containers.container import ContainerStatus
from berth.engine.containers.service import ContainerService
from berth.engine.events import EventBus
from berth.errors import BerthError, Conflict, InvalidArgument, NotFound
from berth.runtime import LinuxRuntime
from berth.runtime.errors import ExecFailed
from berth.runtime.types import Attached, IOConfig


@dataclass
class ExecInstance:
    exec_id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    def to_json(self) -> dict[str, Any]:
        argv = list(self.config.get("Cmd") or [])
        return {
            "ID": self.exec_id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": argv[0] if argv else "",
                "arguments": argv[1:],
                "privileged": bool(self.config.get("Privileged")),
                "user": self.config.get("User") or "",
            },
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.get("DetachKeys") or "",
            "Pid": self.pid,
        }


class ExecService:
    def __init__(self, *, containers: ContainerService, runtime: LinuxRuntime, events: EventBus) -> None:
        self._containers = containers
        self._runtime = runtime
        self._events = events
        self._execs: dict[str, ExecInstance] = {}
        # The loop keeps only weak references to tasks: an unreferenced reaper can be garbage-collected
        # mid-wait, and its exec would never record an exit code.
        self._reapers: set[asyncio.Task[None]] = set()

    def get(self, exec_id: str) -> ExecInstance:
        try:
            return self._execs[exec_id]
        except KeyError:
            raise NotFound(f"No such exec instance: {exec_id}") from None

    def ids_for(self, container_id: str) -> list[str]:
        return [e.exec_id for e in self._execs.values() if e.container_id == container_id]

    def _running_container(self, ref: str) -> Any:
        container = self._containers.get(ref)
        if container.status == ContainerStatus.PAUSED:
            raise Conflict(f"Container {container.container_id} is paused, unpause the container before exec")
        if container.status != ContainerStatus.RUNNING:
            raise Conflict(f"container {container.container_id} is not running")
        return container

    def _forget_stale(self) -> None:
        """Drop the execs of containers removed or stopped since (Docker forgets them then too):
        done here, at each new exec, so that the records stay as many as the live containers'."""
        live = {c.container_id for c in self._containers.all() if c.status.is_alive()}
        for exec_id, instance in list(self._execs.items()):
            if instance.container_id not in live and not instance.running:
                del self._execs[exec_id]

    def create(self, ref: str, body: dict[str, Any]) -> ExecInstance:
        container = self._running_container(ref)
        self._forget_stale()
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        body["Cmd"] = cmd
        if body.get("ConsoleSize") is not None:
            self.console_size(body["ConsoleSize"])
        instance = ExecInstance(secrets.token_hex(32), container.container_id, body)
        self._execs[instance.exec_id] = instance
        self._events.publish(
            "container", "exec_create: " + " ".join(cmd), container.container_id,
            {"name": container.name.removeprefix("/"), "image": container.image, "execID": instance.exec_id},
        )  # fmt: skip
        return instance

    def _process(self, instance: ExecInstance) -> dict[str, Any]:
        container = self._containers.get(instance.container_id)
        config = instance.config
        env = spec.process_env(container)
        for entry in config.get("Env") or []:
            key = entry.split("=", 1)[0]
            env = [e for e in env if e.split("=", 1)[0] != key] + [entry]
        # The container's own privileges (CapAdd/CapDrop, no-new-privileges, ulimits); --privileged:
        # every capability the daemon holds.
        process: dict[str, Any] = {
            "terminal": instance.tty,
            "args": list(config["Cmd"]),
            "env": env,
            "cwd": config.get("WorkingDir") or container.config.get("WorkingDir") or "/",
            **spec.exec_security(container, privileged=bool(config.get("Privileged"))),
        }
        if config.get("User"):
            process["user"] = {"username": config["User"]}  # otherwise the container's user
        return process

    @staticmethod
    def console_size(value: object) -> tuple[int, int] | None:
        """A ``ConsoleSize`` ``[height, width]`` as Go decodes ``*[2]uint`` (null: unset)."""
        if value is None:
            return None
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 65536 for v in value)
        ):
            raise InvalidArgument("json: cannot unmarshal ConsoleSize into Go value of type [2]uint")
        return value[0], value[1]

    def _io(self, instance: ExecInstance, console_size: tuple[int, int] | None = None) -> IOConfig:
        size = console_size or self.console_size(instance.config.get("ConsoleSize")) or (0, 0)
        return IOConfig(
            tty=instance.tty,
            open_stdin=bool(instance.config.get("AttachStdin")),
            stdin_once=True,
            console_height=int(size[0] or 0),
            console_width=int(size[1] or 0),
        )

    async def prepare(
        self, exec_id: str, *, attach: bool, console_size: tuple[int, int] | None = None
    ) -> tuple[ExecInstance, Attached | None]:
        """Create the process in the runtime and (optionally) attach before it can print.
        ``console_size`` (the start's ``ConsoleSize``) overrides the one the exec was created with."""
        instance = self.get(exec_id)
        if instance.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        self._running_container(instance.container_id)
        instance.started = True
        await asyncio.to_thread(
            self._runtime.exec_create,
            instance.container_id,
            exec_id,
            self._process(instance),
            self._io(instance, console_size),
        )
        attached = None
        if attach:
            attached = await self._runtime.exec_attach(
                instance.container_id, exec_id, stdin=bool(instance.config.get("AttachStdin"))
            )
        return instance, attached

    async def start(self, instance: ExecInstance) -> None:
        try:
            instance.pid = await asyncio.to_thread(
                self._runtime.exec_start, instance.container_id, instance.exec_id
            )
        except ExecFailed as exc:
            instance.exit_code = 127 if exc.errno == 2 else 126
            instance.done.set()
            raise
        except BerthError:  # the runtime could not start it: an exec that never ran exits 126
            instance.exit_code = 126
            instance.done.set()
            raise
        instance.running = True
        container = self._containers.get(instance.container_id)
        self._events.publish(
            "container", "exec_start: " + " ".join(instance.config["Cmd"]), instance.container_id,
            {"name": container.name.removeprefix("/"), "image": container.image, "execID": instance.exec_id},
        )  # fmt: skip
        reaper = asyncio.get_running_loop().create_task(self._reap(instance))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)

    async def _reap(self, instance: ExecInstance) -> None:
        try:
            instance.exit_code = await self._runtime.exec_wait(instance.container_id, instance.exec_id)
        except NotFound:
            instance.exit_code = 137
        finally:
            instance.running = False
            instance.done.set()
        with contextlib.suppress(NotFound):
            container = self._containers.get(instance.container_id)
            self._events.publish(
                "container", "exec_die", instance.container_id,
                {"name": container.name.removeprefix("/"), "image": container.image,
                 "execID": instance.exec_id, "exitCode": str(instance.exit_code)},
            )  # fmt: skip

    async def wait(self, instance: ExecInstance, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await instance.done.wait()

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.get(exec_id)
        await asyncio.to_thread(
            self._runtime.exec_resize, instance.container_id, exec_id, height=height, width=width
        )
