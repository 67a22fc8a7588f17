"""Berth's error categories, shared by every layer.

    BerthError
    ├── NotFound          the named thing does not exist            (HTTP 404)
    ├── AlreadyExists     a name or id is taken                     (HTTP 409)
    ├── Conflict          wrong state or in use                     (HTTP 409)
    ├── InvalidArgument   the caller sent something malformed       (HTTP 400)
    ├── Unauthorized      no or bad credentials                     (HTTP 401)
    ├── Forbidden         authenticated, but not allowed            (HTTP 403)
    ├── Unavailable       a dependency is down or timed out         (HTTP 503)
    ├── NotSupported      valid, but Berth does not do it           (HTTP 501)
    └── Internal          Berth's own bug or the system failed      (HTTP 500)

Module errors subclass a category and carry fields. Each boundary maps categories once:
the daemon to Docker's ``{"message": …}``, the registry to OCI error codes, the CLI to exit codes.
"""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error Berth raises on purpose; ``str()`` is the one line a user sees."""

    http_status = 500


class NotFound(BerthError):
    """The named object (image, container, blob, …) does not exist. The caller named it."""

    http_status = 404


class AlreadyExists(BerthError):
    """A name or id the caller chose is already taken."""

    http_status = 409


class Conflict(BerthError):
    """The object is in a state that forbids the operation (running, in use, paused, …)."""

    http_status = 409


class InvalidArgument(BerthError):
    """The caller sent a malformed or out-of-range value. The caller is at fault."""

    http_status = 400


class Unauthorized(BerthError):
    """Credentials are missing or wrong."""

    http_status = 401


class Forbidden(BerthError):
    """The caller is known but may not do this."""

    http_status = 403


class Unavailable(BerthError):
    """A dependency (registry, helper process, kernel feature) is unreachable or timed out."""

    http_status = 503


class NotSupported(BerthError):
    """A valid request that Berth does not implement (yet, or on this kernel)."""

    http_status = 501


class Internal(BerthError):
    """Berth or the system failed in a way the caller could not have avoided."""

    http_status = 500


class NotModified(BerthError):
    """The operation had nothing to do (start of a running container: Docker's 304)."""

    http_status = 304


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write the filesystem refused for want of space (ENOSPC, or a quota's EDQUOT)."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
