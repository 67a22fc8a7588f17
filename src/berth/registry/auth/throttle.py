"""LoginThrottle: failed logins limited per user and address, and per address alone.

After ``limit`` failures of one user from one address within ``window`` seconds (or ``address_limit``
failures from one address, whatever the user: password spraying), further attempts from there are
refused — right passwords too — until the oldest failure ages out; the refusal says when
(``Retry-After``). A success clears the user's count from that address. State is per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from berth.errors import BerthError


class TooManyLogins(BerthError):
    """Too many failed logins: the caller must wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed login attempts: try again in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(
        self,
        *,
        limit: int = 5,
        address_limit: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": limit, "address": address_limit}
        self._window = window
        self._clock = clock
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, user: str, address: str) -> list[tuple[tuple[str, ...], int]]:
        return [
            (("user", user, address), self._limits["user"]),
            (("address", address), self._limits["address"]),
        ]

    def check(self, user: str, address: str) -> None:
        """TooManyLogins if ``user`` may not try again from ``address`` yet."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(user, address):
                times = self._failures.get(key)
                if not times:
                    continue
                while times and times[0] <= now - self._window:
                    times.popleft()
                if len(times) >= limit:
                    wait = max(wait, times[0] + self._window - now)
        if wait > 0:
            raise TooManyLogins(max(1, math.ceil(wait)))

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key, _limit in self._keys(user, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._failures.pop(("user", user, address), None)
