"""API versions: Berth speaks Docker Engine API 1.24 .. 1.50 (Docker Engine 28.2)."""

from __future__ import annotations

MIN_API_VERSION = "1.24"
CURRENT_API_VERSION = "1.50"


def parse(version: str) -> tuple[int, int]:
    """``"1.44"`` -> ``(1, 44)``; ValueError for anything that is not MAJOR.MINOR."""
    major, sep, minor = version.strip().partition(".")
    if not sep:
        raise ValueError(f"invalid API version {version!r}")
    return int(major), int(minor)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b``."""
    pa, pb = parse(a), parse(b)
    return (pa > pb) - (pa < pb)


def negotiate(server_version: str | None) -> str:
    """The version a client uses with a server that advertises ``server_version`` (``Api-Version``).

    Missing header means the oldest version (1.24), as the docker CLI does; a newer server is spoken to
    at our current version.
    """
    if not server_version:
        return MIN_API_VERSION
    try:
        if compare(server_version, CURRENT_API_VERSION) >= 0:
            return CURRENT_API_VERSION
        parse(server_version)
    except ValueError:
        return MIN_API_VERSION
    return server_version.strip()


parse_version = parse  # the name the daemon's middleware imports
