"""OCI distribution error codes, each registered once with its HTTP status, and the one translation
from Berth error categories to the ``{"errors": [{"code", "message", "detail"}]}`` envelope.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from aiohttp import web

from berth.errors import (
    AlreadyExists,
    BerthError,
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    NotSupported,
    Unauthorized,
    Unavailable,
)
from berth.registry.storage.driver import StorageFull


class ErrorCode(enum.StrEnum):
    """The spec's codes (distribution-spec "Error Codes"), plus UNKNOWN for our own failures."""

    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN = "UNKNOWN"


#: code -> (HTTP status, default message). The only place statuses of registry errors are chosen.
CODES: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.BLOB_UNKNOWN: (404, "blob unknown to registry"),
    ErrorCode.BLOB_UPLOAD_INVALID: (400, "blob upload invalid"),
    ErrorCode.BLOB_UPLOAD_UNKNOWN: (404, "blob upload unknown to registry"),
    ErrorCode.DIGEST_INVALID: (400, "provided digest did not match uploaded content"),
    ErrorCode.MANIFEST_BLOB_UNKNOWN: (400, "manifest references a manifest or blob unknown to registry"),
    ErrorCode.MANIFEST_INVALID: (400, "manifest invalid"),
    ErrorCode.MANIFEST_UNKNOWN: (404, "manifest unknown to registry"),
    ErrorCode.NAME_INVALID: (400, "invalid repository name"),
    ErrorCode.NAME_UNKNOWN: (404, "repository name not known to registry"),
    ErrorCode.SIZE_INVALID: (400, "provided length did not match content length"),
    ErrorCode.UNAUTHORIZED: (401, "authentication required"),
    ErrorCode.DENIED: (403, "requested access to the resource is denied"),
    ErrorCode.UNSUPPORTED: (405, "the operation is unsupported"),
    ErrorCode.TOOMANYREQUESTS: (429, "too many requests"),
    ErrorCode.UNAVAILABLE: (503, "service unavailable"),
    ErrorCode.UNKNOWN: (500, "unknown error"),
}

#: Fallback for BerthErrors raised below the API layer without a registry code.
_CATEGORY_CODES: list[tuple[type[BerthError], ErrorCode]] = [
    # 507 Insufficient Storage, with "no space left on device" in the message: dockerd prints the
    # status of a 5xx answer ("received unexpected HTTP status: 507 Insufficient Storage"), berthd
    # and containerd the message too. (distribution answers 500 "unknown error" with the errno in detail.)
    (StorageFull, ErrorCode.UNKNOWN),
    (NotFound, ErrorCode.NAME_UNKNOWN),
    (InvalidArgument, ErrorCode.UNSUPPORTED),
    (Unauthorized, ErrorCode.UNAUTHORIZED),
    (Forbidden, ErrorCode.DENIED),
    (AlreadyExists, ErrorCode.DENIED),
    (Conflict, ErrorCode.DENIED),
    (NotSupported, ErrorCode.UNSUPPORTED),
    (Unavailable, ErrorCode.UNAVAILABLE),
]


class RegistryError(BerthError):
    """A request failed with an OCI error code. Raised by handlers; rendered by ``error_response``.

    ``status`` overrides the code's usual status where the spec asks for another (416 for an upload
    range, 413 for a too-large manifest). ``headers`` are added to the response (WWW-Authenticate).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = CODES[code]
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.http_status = status or default_status
        self.headers = headers or {}


def from_berth_error(err: BerthError) -> RegistryError:
    """The RegistryError for any BerthError (category fallback when no code was chosen)."""
    if isinstance(err, RegistryError):
        return err
    for category, code in _CATEGORY_CODES:
        if isinstance(err, category):
            return RegistryError(code, str(err), status=err.http_status)
    return RegistryError(ErrorCode.UNKNOWN, str(err))


def error_response(err: RegistryError, *, head: bool = False) -> web.Response:
    """The JSON error envelope (empty body for HEAD, as the spec's HEAD responses have none)."""
    entry: dict[str, Any] = {"code": err.code.value, "message": err.message}
    if err.detail is not None:
        entry["detail"] = err.detail
    body = json.dumps({"errors": [entry]}).encode()
    headers = {"Docker-Distribution-Api-Version": "registry/2.0", **err.headers}
    if head:
        headers["Content-Length"] = str(len(body))
        return web.Response(status=err.http_status, headers=headers, content_type="application/json")
    return web.Response(status=err.http_status, body=body, headers=headers, content_type="application/json")
