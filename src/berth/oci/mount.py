"""A filesystem mount description, passed from snapshotters to the runtime (containerd's Mount)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Mount:
    """``mount -t TYPE -o OPTIONS SOURCE TARGET``: e.g. overlay with lowerdir/upperdir/workdir options,
    or a bind mount of a directory (``type="bind"``, ``options=("rbind", "rw")``)."""

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Mount:
        options = value.get("options") or []
        if not isinstance(options, list):
            raise ValueError("mount options must be a list")
        return cls(str(value["type"]), str(value["source"]), tuple(str(o) for o in options))
