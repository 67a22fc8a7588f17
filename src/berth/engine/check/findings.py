"""What a store check reports: one ``Finding`` per inconsistency, in one line, and what ``--repair``
did about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from berth.errors import BerthError


@dataclass(slots=True)
class Finding:
    """One inconsistency: where (``area``: content, images, layers, snapshots, containers, volumes,
    networks), what it is about (``subject``), the problem, and the repair that may fix it (None: a
    repair would lose something a user made, so it is left to them)."""

    area: str
    subject: str
    problem: str
    repair: str | None = None  # what --repair does, in words ("removed", "moved to lost+found/…")
    fix: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    repaired: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.area, self.subject, self.problem)

    def line(self) -> str:
        done = f" ({self.repair})" if self.repaired and self.repair else ""
        return f"{self.area}: {self.subject}: {self.problem}{done}"

    def to_json(self) -> dict[str, object]:
        return {
            "Area": self.area,
            "Subject": self.subject,
            "Problem": self.problem,
            "Repair": self.repair or "",
            "Repaired": self.repaired,
        }


def repair_all(findings: list[Finding]) -> None:
    """Apply each finding's fix; a fix that fails leaves its finding unrepaired, the others go on."""
    for finding in findings:
        if finding.fix is None:
            continue
        try:
            finding.fix()
        except (OSError, BerthError) as exc:  # e.g. fixed meanwhile by another check, or now in use
            finding.problem += (
                f"; repair failed: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            )
            continue
        finding.repaired = True
