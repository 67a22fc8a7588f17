"""DeliveryWorker: the task of ``serve`` that POSTs queued envelopes to their hooks.

Each attempt is logged (HTTP status, or the error). A 2xx ends the delivery; anything else (another
status, a refused connection, a timeout) is tried again after ``backoff * 2**(attempt-1)`` seconds,
at most ``backoff_max``, until ``attempts`` tries were made; then the delivery is dropped (the log
keeps the last failure). Redirects are not followed: a 3xx is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from berth.registry.notify.envelope import MEDIA_TYPE
from berth.registry.notify.signing import SIGNATURE_HEADER, sign
from berth.registry.notify.store import Delivery, WebhookStore

log = logging.getLogger(__name__)

_POLL = 1.0  # seconds between looks at the queue when nothing wakes the worker (other replicas' rows)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """The ``notifications:`` config section."""

    attempts: int = 5
    backoff: float = 1.0  # seconds before the second attempt; doubles each time
    backoff_max: float = 300.0
    timeout: float = 10.0  # per attempt
    concurrency: int = 16

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        return float(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))


class DeliveryWorker:
    def __init__(
        self,
        store: WebhookStore,
        policy: DeliveryPolicy,
        *,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        """``on_outcome`` hears how each attempt ended: delivered, retry or failed (given up)."""
        self._store = store
        self._policy = policy
        self._on_outcome = on_outcome or (lambda _outcome: None)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; deliveries in progress are cancelled with it and stay queued, due
        at once (a worker killed outright leaves its rows to be taken again when their lease ends)."""
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    self._wake.clear()
                    free = self._policy.concurrency - len(self._running)
                    if free > 0:
                        for delivery in self._store.claim(free, lease=self._policy.timeout + 30):
                            task = asyncio.create_task(self._attempt(session, delivery))
                            self._running.add(task)
                            task.add_done_callback(self._finished)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._sleep())
            finally:
                for task in list(self._running):
                    task.cancel()
                await asyncio.gather(*self._running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    def _sleep(self) -> float:
        due = self._store.next_due()
        if due is None:
            return _POLL
        return max(0.005, min(_POLL, due - time.time()))

    async def _attempt(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        hook = self._store.get(delivery.hook)
        if hook is None:  # removed since it was queued
            self._store.done(delivery)
            return
        headers = {
            "Content-Type": MEDIA_TYPE,
            SIGNATURE_HEADER: sign(hook.secret, delivery.body),
            "X-Berth-Event": delivery.event,
            "X-Berth-Delivery": str(delivery.id),
            "X-Berth-Attempt": str(delivery.attempt),
            "User-Agent": "berth-registry",
        }
        status: int | None = None
        error = ""
        try:
            async with session.post(
                hook.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
        except asyncio.CancelledError:  # serve is stopping: the next start sends it again at once
            self._store.release(delivery)
            raise
        ok = status is not None and 200 <= status < 300
        if not ok and not error:
            error = f"HTTP {status}"
        self._store.log(delivery, status, "" if ok else error)
        if ok:
            self._store.done(delivery)
            self._on_outcome("delivered")
        elif delivery.attempt >= self._policy.attempts:
            log.warning("webhook %s: giving up after %d attempts: %s", hook.id, delivery.attempt, error)
            self._store.done(delivery)
            self._on_outcome("failed")
        else:
            self._store.retry(delivery, self._policy.delay(delivery.attempt))
            self._on_outcome("retry")
