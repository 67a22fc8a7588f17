"""The runtime's state directories (``EXEC_ROOT/runtime/<id>``) against the container records: state
of a container that is gone (a kill between the runtime's delete and the record's; its processes,
if any still run, are killed by the repair: nobody can reach them any more), and running containers
whose monitor is gone (their init runs, but nothing logs its output or will record its exit: that
is for the user to stop or restart, so it is reported only). State younger than ``SETTLE`` may be a
start in progress and is left alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial

from berth.engine.check.findings import Finding
from berth.engine.check.images import SETTLE
from berth.engine.check.records import Records
from berth.engine.containers.container import Container, ContainerStatus
from berth.errors import NotFound
from berth.runtime import LinuxRuntime
from berth.runtime.types import Status


def check_runtime(runtime: LinuxRuntime, records: Records) -> Iterator[Finding]:
    containers = {r.container_id: r for r in records.values() if isinstance(r, Container)}
    unreadable = {path.name for path, r in records.items() if not isinstance(r, Container)}
    now = time.time()
    for container_id in runtime.list():
        if container_id in containers or container_id in unreadable:
            continue
        try:
            settled = now - runtime.state_dir(container_id).stat().st_mtime > SETTLE
            state = runtime.state(container_id)
        except (NotFound, OSError):
            continue  # removed meanwhile
        if not settled:
            continue
        runs = state.status in {Status.RUNNING, Status.PAUSED}
        yield Finding("runtime", container_id,
                      f"state of a container that is gone{f' (its process {state.pid} still runs)' if runs else ''}",
                      "killed and removed" if runs else "removed",
                      fix=partial(runtime.delete, container_id, force=True))  # fmt: skip
    for container_id, record in containers.items():
        if record.status not in {ContainerStatus.RUNNING, ContainerStatus.PAUSED}:
            continue
        try:
            gone = runtime.monitor_gone(container_id)
        except (NotFound, OSError):
            continue
        if gone:
            yield Finding("containers", container_id,
                          "its monitor is gone: its output is not logged and its exit will not be "
                          "recorded (stop or restart it)")  # fmt: skip
