"""The daemon's event bus: every lifecycle change is published here and streamed by ``GET /events``.

Events keep Docker's shape (``Type``, ``Action``, ``Actor{ID, Attributes}``, ``scope``, ``time``,
``timeNano``, plus the legacy ``status``, ``id``, ``from`` for containers). A bounded ring of recent
events answers ``--since``; subscribers each get their own queue, so a slow client never blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]

_HISTORY = 1024
_QUEUE = 4096


class EventBus:
    """Publish from anywhere on the daemon's loop thread or from worker threads; subscribe per request."""

    def __init__(self) -> None:
        self._history: deque[Event] = deque(maxlen=_HISTORY)
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(
        self, kind: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
    ) -> None:
        now = time.time_ns()
        event: Event = {
            "Type": kind,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        if kind == "container":
            event.update(
                status=action,
                id=actor_id,
                **({"from": attributes["image"]} if attributes and "image" in attributes else {}),
            )
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._deliver(event)
            else:
                loop.call_soon_threadsafe(self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        self._history.append(event)
        for queue in self._subscribers:
            if queue.full():
                continue  # a stalled client loses events rather than stalling the daemon
            queue.put_nowait(event)

    def since(self, since_ns: int) -> list[Event]:
        return [e for e in self._history if e["timeNano"] >= since_ns]

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
