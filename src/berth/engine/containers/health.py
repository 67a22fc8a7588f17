"""Healthchecks: Docker's ``HEALTHCHECK`` / ``--health-*`` probes, run as execs inside the container.

A running container whose ``Config.Healthcheck`` has a test gets one monitor task. Every interval
(``StartInterval`` while in the start period) the monitor runs the test through the runtime's exec
(same namespaces, cgroup, env and user as ``docker exec``), and keeps Docker's ``State.Health``::

    {"Status": "starting" | "healthy" | "unhealthy", "FailingStreak": n,
     "Log": [{"Start", "End", "ExitCode", "Output"}, ...]}      # the last 5 probes

Rules (moby ``daemon/health.go``): exit 0 is healthy and resets the streak; any other result is a
failure, counted only once the start period is over; ``Retries`` consecutive failures make the
container unhealthy. A probe that outlives ``Timeout`` is killed and logged with exit code -1. Every
status change publishes a ``health_status: <status>`` container event. ``Test: ["NONE"]`` disables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.api.stdcopy import FrameDecoder, StdcopyError
from berth.engine.containers import spec
from berth.engine.containers.container import Container, ContainerStatus, now_rfc3339, parse_rfc3339
from berth.errors import BerthError
from berth.runtime.container import LinuxRuntime
from berth.runtime.types import IOConfig

log = logging.getLogger("berthd.health")

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
NANOSECOND = 1e-9
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096


@dataclass(frozen=True, slots=True)
class Probe:
    """A container's healthcheck, resolved to an argv and durations in seconds."""

    argv: list[str]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int

    @classmethod
    def from_config(cls, healthcheck: dict[str, Any] | None) -> Probe | None:
        """None when there is no test or it is ``NONE``."""
        if not healthcheck:
            return None
        test = list(healthcheck.get("Test") or [])
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            argv = test[1:]
        elif test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", " ".join(test[1:])]
        else:  # a bare command list, as some old clients send
            argv = test
        if not argv:
            return None

        def seconds(key: str, default: float) -> float:
            value = int(healthcheck.get(key) or 0)
            return value * NANOSECOND if value > 0 else default

        retries = int(healthcheck.get("Retries") or 0)
        return cls(
            argv=argv,
            interval=seconds("Interval", DEFAULT_INTERVAL),
            timeout=seconds("Timeout", DEFAULT_TIMEOUT),
            start_period=seconds("StartPeriod", 0.0),
            start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL),
            retries=retries if retries > 0 else DEFAULT_RETRIES,
        )


def _duration(seconds: float) -> str:
    """Go's time.Duration text for the timeout message (``30s``, ``1.5s``, ``500ms``)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


class HealthMonitor:
    """Starts and stops one probe loop per running container; reports through ``publish``."""

    def __init__(self, runtime: LinuxRuntime, publish: Callable[[Container, str], None]) -> None:
        self._runtime = runtime
        self._publish = publish
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, container: Container) -> None:
        """(Re)start probing a container that just started; a no-op without a healthcheck."""
        self.stop(container)
        probe = Probe.from_config(container.config.get("Healthcheck"))
        if probe is None:
            container.health = None
            return
        container.health = {"Status": STARTING, "FailingStreak": 0, "Log": []}
        task = asyncio.get_running_loop().create_task(
            self._loop(container, probe), name=f"health-{container.short_id}"
        )
        self._tasks[container.container_id] = task
        task.add_done_callback(lambda done: self._forget(container.container_id, done))

    def stop(self, container: Container) -> None:
        """Stop probing (the container exited or is being removed); the last State.Health stays."""
        task = self._tasks.pop(container.container_id, None)
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def stop_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()

    def _forget(self, container_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(container_id) is task:
            del self._tasks[container_id]
        if not task.cancelled() and task.exception() is not None:
            log.warning("health monitor of %s failed: %s", container_id[:12], task.exception())

    async def _loop(self, container: Container, probe: Probe) -> None:
        def in_start_period() -> bool:  # counted from State.StartedAt, as dockerd (and across restore)
            return time.time() - parse_rfc3339(container.started_at) < probe.start_period

        while True:
            health = container.health or {}
            # As dockerd: the faster StartInterval applies only while the start period lasts and the
            # container has not been healthy yet.
            fast = in_start_period() and health.get("Status") == STARTING
            await asyncio.sleep(probe.start_interval if fast else probe.interval)
            if container.status == ContainerStatus.PAUSED:
                continue
            if container.status != ContainerStatus.RUNNING:
                return
            starting = in_start_period()
            entry = await self._probe(container, probe)
            if not _running(container):  # it exited while the probe ran
                return
            self._record(container, probe, entry, starting)

    def _record(
        self, container: Container, probe: Probe, entry: dict[str, Any], in_start_period: bool
    ) -> None:
        health = container.health
        if health is None:
            return
        old = health["Status"]
        health["Log"] = [*health["Log"], entry][-MAX_LOG_ENTRIES:]
        if entry["ExitCode"] == 0:
            health["FailingStreak"] = 0
            health["Status"] = HEALTHY
        elif not in_start_period:
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= probe.retries:
                health["Status"] = UNHEALTHY
        if health["Status"] != old:
            self._publish(container, "health_status: " + health["Status"])

    async def _probe(self, container: Container, probe: Probe) -> dict[str, Any]:
        """Run the test once: {Start, End, ExitCode, Output} (exit code -1 on timeout or exec failure)."""
        start = now_rfc3339()
        exec_id = "health-" + secrets.token_hex(16)
        container_id = container.container_id
        process = _process(container, probe.argv)
        io = IOConfig(tty=False, open_stdin=False, stdin_once=True)
        output = bytearray()
        exit_code = -1
        try:
            await asyncio.to_thread(self._runtime.exec_create, container_id, exec_id, process, io)
            attached = await self._runtime.exec_attach(container_id, exec_id, stdin=False)
            try:
                pid = await asyncio.to_thread(self._runtime.exec_start, container_id, exec_id)
                try:
                    async with asyncio.timeout(probe.timeout):
                        await _collect(attached.reader, output)
                        exit_code = await self._runtime.exec_wait(container_id, exec_id)
                except TimeoutError:
                    _kill(pid)
                    output = bytearray(f"Health check exceeded timeout ({_duration(probe.timeout)})".encode())
                    exit_code = -1
                    with contextlib.suppress(TimeoutError, BerthError):  # collect it: the shim forgets it
                        async with asyncio.timeout(5):
                            await self._runtime.exec_wait(container_id, exec_id)
            finally:
                attached.writer.close()
        except BerthError as exc:
            output = bytearray(str(exc).encode())
            exit_code = -1
        except (OSError, StdcopyError) as exc:
            output = bytearray(f"health probe failed: {exc}".encode())
            exit_code = -1
        text = bytes(output[:MAX_OUTPUT]).decode(errors="replace")
        return {"Start": start, "End": now_rfc3339(), "ExitCode": exit_code, "Output": text}


def _running(container: Container) -> bool:
    return container.status == ContainerStatus.RUNNING


async def _collect(reader: asyncio.StreamReader, output: bytearray) -> None:
    """stdout and stderr of the probe, interleaved as they came, capped at MAX_OUTPUT bytes."""
    decoder = FrameDecoder()
    while data := await reader.read(65536):
        for _stream, payload in decoder.feed(data):
            if len(output) < MAX_OUTPUT:
                output += payload[: MAX_OUTPUT - len(output)]


def _kill(pid: int) -> None:
    if pid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _process(container: Container, argv: list[str]) -> dict[str, Any]:
    """The probe's OCI process: as ``docker exec`` would run it (container env, workdir and user)."""
    env = spec.process_env(container)
    return {
        "terminal": False,
        "args": list(argv),
        "env": env,
        "cwd": container.config.get("WorkingDir") or "/",
        **spec.exec_security(container),
    }
