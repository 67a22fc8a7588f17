"""A real aiohttp webhook receiver on a loopback port, run in a thread of the test process: it
records every POST (headers, raw body, arrival time) and answers the statuses it was given in turn
(then 200);
``hold`` makes the first ones hang."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    port: int
    statuses: list[int] = field(default_factory=list)
    hold: int = 0  # this many first requests get no answer for a minute (a receiver that hangs)
    received: list[Received] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)  # ends held requests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body, time.monotonic()))
        if self.hold > 0:
            self.hold -= 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 60)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def start(self) -> Receiver:
        started = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/hook", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            started.set()

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(timeout=10)
        started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._release.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"got {len(self.received)} deliveries, wanted {count}"
        return self.received[:count]
