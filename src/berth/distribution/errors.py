"""Errors of the registry client. Each names the registry's or the caller's fault in one line.

Unavailable
├── RegistryUnavailable     connection refused, TLS failure, timeout, 5xx
└── RegistryProtocolError   the registry broke the protocol (the registry's fault)
    ├── DigestMismatch      content does not hash to the digest it was fetched by
    ├── TruncatedStream     fewer bytes than the descriptor's size, or a dropped connection
    ├── OversizedContent    more bytes than announced, or a manifest over the 4 MiB limit
    └── TooManyRedirects    a redirect loop
Unauthorized
└── BadCredentials          the token server or registry refused the credentials sent
"""

from __future__ import annotations

from berth.errors import Unauthorized, Unavailable


class RegistryUnavailable(Unavailable):
    """The registry could not be reached or failed (5xx, timeout, refused connection)."""


class RegistryProtocolError(Unavailable):
    """The registry answered something the distribution spec forbids; nothing of it is stored."""


class DigestMismatch(RegistryProtocolError):
    """A blob or manifest did not hash to the digest it was requested by."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class TruncatedStream(RegistryProtocolError):
    """A download ended before the announced size (connection dropped or short body)."""

    def __init__(self, what: str, received: int, expected: int) -> None:
        super().__init__(f"{what}: truncated: received {received} of {expected} bytes")
        self.received = received
        self.expected = expected


class OversizedContent(RegistryProtocolError):
    """Content longer than its descriptor says, or a manifest over the size limit."""


class TooManyRedirects(RegistryProtocolError):
    """The registry redirected more than the client allows (usually a loop)."""


class BadCredentials(Unauthorized):
    """The registry or its token server refused the username/password or token the client sent."""
