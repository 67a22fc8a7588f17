"""``berth system check``: the daemon's stores checked against each other, one line per inconsistency,
and ``--repair`` fixing what can be fixed without losing anything a user made.

    findings.py   Finding (one line each) and repair_all
    images.py     the content store, the image index (images, tags, layers) and the snapshots
    records.py    container, volume and network records; what cannot be read goes to lost+found/
    mounts.py     network namespaces left mounted by containers that are gone or stopped
    runtime.py    the runtime's state of containers that are gone; running ones whose monitor is gone

berthd runs the quick form at start (no ``verify``: every blob's digest is not re-hashed) and logs what
it finds; ``POST /berth/system/check`` runs it on demand. Checks run in a worker thread; each fix
takes the lock of the store it changes, as the daemon's own writes do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.engine.check.findings import Finding, repair_all
from berth.engine.check.images import check_images
from berth.engine.check.mounts import check_mounts
from berth.engine.check.records import (
    LOST_FOUND,
    check_containers,
    check_networks,
    check_volumes,
    container_snapshots,
    read_containers,
)
from berth.engine.check.runtime import check_runtime
from berth.engine.images import ImageService
from berth.engine.volumes import VolumeService
from berth.runtime import LinuxRuntime

_PASSES = 4


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def remaining(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    def to_json(self) -> dict[str, object]:
        return {
            "Findings": [f.to_json() for f in self.findings],
            "Repaired": sum(f.repaired for f in self.findings),
            "Remaining": len(self.remaining),
        }


class StoreCheck:
    def __init__(
        self,
        data_root: Path,
        exec_root: Path,
        *,
        images: ImageService,
        volumes: VolumeService,
        runtime: LinuxRuntime,
    ) -> None:
        self._data_root = data_root
        self._exec_root = exec_root
        self._images = images
        self._volumes = volumes
        self._runtime = runtime

    def run(self, *, repair: bool = False, verify: bool = False) -> Report:
        """Every inconsistency (blocking: call it through ``asyncio.to_thread``). A repair can uncover
        more (a corrupt manifest removed leaves its image without one, then that image's top layer
        unused): it checks again, up to ``_PASSES`` times, until a pass finds nothing new to fix."""
        report = Report(self._findings(verify=verify))
        if not repair:
            return report
        seen = {f.key for f in report.findings}
        repair_all(report.findings)
        for _ in range(_PASSES - 1):
            uncovered = [f for f in self._findings(verify=False) if f.key not in seen and f.fix is not None]
            if not uncovered:
                break
            seen.update(f.key for f in uncovered)
            repair_all(uncovered)
            report.findings += uncovered
        return report

    def _findings(self, *, verify: bool) -> list[Finding]:
        root, lost_found = self._data_root, self._data_root / LOST_FOUND
        containers = root / "containers"
        records = read_containers(containers)
        return [
            *check_containers(records, self._images.snapshotter, lost_found),
            *check_volumes(self._volumes, root / "volumes", lost_found),
            *check_networks(root / "networks", lost_found),
            *check_images(self._images, container_snapshots(records), verify=verify),
            *check_mounts(self._exec_root, containers, records),
            *check_runtime(self._runtime, records),
        ]


__all__ = ["Finding", "Report", "StoreCheck"]
