"""Logins: every password check goes through here — throttled (auth/throttle.py) and audited."""

from __future__ import annotations

from berth.registry.accounts.service import AccountService, User
from berth.registry.audit import AuditLog
from berth.registry.auth.throttle import LoginThrottle


class Logins:
    def __init__(self, accounts: AccountService, throttle: LoginThrottle, audit: AuditLog) -> None:
        self._accounts = accounts
        self.throttle = throttle
        self._audit = audit

    def verify(self, name: str, password: str, *, address: str, via: str, record: bool = True) -> User | None:
        """The user if the password is theirs; None if not (recorded, and counted against the
        address); TooManyLogins while the address is locked out. ``record``: audit a success too
        (a login; not each request of a client that sends Basic credentials every time)."""
        self.throttle.check(name, address)
        user = self._accounts.verify(name, password)
        if user is None:
            self.throttle.failed(name, address)
            self._audit.record("login-failed", name, name, address=address, via=via)
            return None
        self.throttle.succeeded(name, address)
        if record:
            self._audit.record("login", user.name, user.name, address=address, via=via)
        return user
