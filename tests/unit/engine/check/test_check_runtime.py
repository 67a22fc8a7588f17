"""``check_runtime`` against the records: the runtime's view is a stand-in here (what it answers is
tested with the real runtime in tests/e2e/reliability/test_system_check.py); this is the decision."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from berth.engine.check.runtime import check_runtime
from berth.engine.containers.container import Container
from berth.runtime.types import State, Status
from tests.unit.engine.containers.test_container_record import RECORD


class Runtime:
    """Answers as LinuxRuntime does for ``states`` (id → State), state dirs under ``root``."""

    def __init__(self, root: Path, states: dict[str, State], unmonitored: set[str]) -> None:
        self.root, self.states, self.unmonitored = root, states, unmonitored

    def list(self) -> list[str]:
        return sorted(self.states)

    def state_dir(self, container_id: str) -> Path:
        return self.root / container_id

    def state(self, container_id: str) -> State:
        return self.states[container_id]

    def monitor_gone(self, container_id: str) -> bool:
        return container_id in self.unmonitored

    def delete(self, container_id: str, *, force: bool = False) -> None:
        del self.states[container_id]


def _container(directory: Path, container_id: str, status: str) -> Container:
    directory.mkdir()
    (directory / "config.v2.json").write_text(json.dumps({**RECORD, "ID": container_id, "Status": status}))
    return Container.load(directory)


def test_state_of_gone_containers_once_settled_and_running_ones_without_a_monitor(tmp_path: Path) -> None:
    gone, young, watched, orphan = ("1" * 64, "2" * 64, "3" * 64, "4" * 64)
    for container_id in (gone, young):
        (tmp_path / container_id).mkdir()
    old = time.time() - 3600
    os.utime(tmp_path / gone, (old, old))
    records = {
        tmp_path / "c3": _container(tmp_path / "c3", watched, "running"),
        tmp_path / "c4": _container(tmp_path / "c4", orphan, "running"),
    }
    runtime = Runtime(
        tmp_path,
        {
            gone: State(gone, Status.RUNNING, pid=42),
            young: State(young, Status.STOPPED),  # a start in progress, perhaps: left alone
            watched: State(watched, Status.RUNNING, pid=7),
            orphan: State(orphan, Status.RUNNING, pid=8),
        },
        unmonitored={orphan},
    )
    findings = list(check_runtime(runtime, records))  # type: ignore[arg-type]  # the stand-in
    assert [f.line() for f in findings] == [
        f"runtime: {gone}: state of a container that is gone (its process 42 still runs)",
        f"containers: {orphan}: its monitor is gone: its output is not logged and its exit will not be "
        "recorded (stop or restart it)",
    ]
    assert findings[0].fix is not None and findings[1].fix is None  # a running container is the user's
    findings[0].fix()
    assert gone not in runtime.states
