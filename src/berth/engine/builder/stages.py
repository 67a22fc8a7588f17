"""A Dockerfile's stages as a graph: which stages the target needs (``FROM <stage>``, ``COPY
--from=<stage>``, ``RUN --mount=…,from=<stage>``), so that the others are not built, as BuildKit
skips them (the classic builder builds every stage before the target).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from berth.engine.builder.dockerfile import Instruction, split_words
from berth.errors import InvalidArgument

_MOUNT_FROM = re.compile(r"(?:^|,)\s*from=([^,\s]+)")


@dataclass
class Stage:
    index: int
    name: str  # lower-cased alias ("" without ``AS``)
    base: str  # the FROM image, expanded (a stage's name, an image or scratch)
    steps: list[Instruction] = field(default_factory=list)  # FROM first


def split(steps: list[Instruction], expand: Callable[[str], str]) -> tuple[list[Instruction], list[Stage]]:
    """The ARGs before the first FROM, and the stages; ``expand`` substitutes the global ARGs."""
    globals_: list[Instruction] = []
    stages: list[Stage] = []
    for step in steps:
        if step.command == "FROM":
            words = split_words(step.args, escape=step.escape)
            name = words[2].lower() if len(words) == 3 else ""
            stages.append(Stage(len(stages), name, expand(words[0]), [step]))
        elif stages:
            stages[-1].steps.append(step)
        else:
            globals_.append(step)
    return globals_, stages


def target_index(stages: list[Stage], target: str) -> int:
    if not target:
        return len(stages) - 1
    for stage in stages:
        if stage.name == target.lower():
            return stage.index
    raise InvalidArgument(f'target stage "{target}" could not be found')


def needed(stages: list[Stage], target: int, expand: Callable[[str], str]) -> set[int]:
    """The stages ``target`` depends on, itself included; a reference that names no stage is an
    image, a variable that cannot be resolved yet keeps every earlier stage (to be safe)."""
    by_name = {s.name: s.index for s in stages if s.name}
    wanted: set[int] = set()
    todo = [target]
    while todo:
        index = todo.pop()
        if index in wanted:
            continue
        wanted.add(index)
        for ref in _references(stages[index], expand):
            if ref is None:
                todo.extend(range(index))
            elif ref.isdigit() and int(ref) < index:
                todo.append(int(ref))
            elif ref.lower() in by_name and by_name[ref.lower()] < index:
                todo.append(by_name[ref.lower()])
    return wanted


def _references(stage: Stage, expand: Callable[[str], str]) -> list[str | None]:
    """What a stage names: its base, ``COPY --from`` and ``RUN --mount from=`` values."""
    refs: list[str | None] = [stage.base]
    for step in stage.steps[1:]:
        raw: list[str] = []
        if step.command in ("COPY", "ADD") and "from" in step.flags:
            raw.append(step.flags["from"])
        if step.command == "RUN" and "mount" in step.flags:
            raw.extend(_MOUNT_FROM.findall(step.flags["mount"]))
        for value in raw:
            try:
                refs.append(expand(value))
            except InvalidArgument:
                refs.append(None)
    return refs
