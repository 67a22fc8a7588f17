"""``APIClient``: Docker Engine API calls with version negotiation, over ``berth.client.http``.

    client = APIClient("unix:///run/berth/berth.sock")
    client.get_json("/containers/json", {"all": True})
    client.post_json("/containers/create", {"name": "web"}, {"Image": "busybox"})

Negotiation is lazy and happens once, like the docker CLI: ``HEAD /_ping`` (``GET`` if HEAD is not
answered with 200 or 500), then every call uses ``/v1.NN`` with NN = min(1.50, ``Api-Version``).
``BERTH_API_VERSION`` (or ``DOCKER_API_VERSION``) pins the version and skips the ping.
Daemon errors (status >= 400) raise ``APIError`` subclasses that are also Berth error categories, so
callers can ``except NotFound``; ``str(err)`` is the daemon's message.
"""

from __future__ import annotations

import os

from berth.api import versions
from berth.client.hosts import Address, TLSConfig, default_host, parse_host
from berth.client.http import Connection, Hijacked, Pending, Response, encode_query, quote
from berth.errors import (
    AlreadyExists,
    BerthError,
    Conflict,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
    NotSupported,
    Unauthorized,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.client.http import Body


class APIError(BerthError):
    """The daemon answered with an error status. ``status`` is the HTTP status, ``str()`` its message."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


class APINotFound(APIError, NotFound):
    """404: the daemon does not know the named object."""


class APIConflict(APIError, Conflict):
    """409: the object is in the wrong state, or the name is taken."""


class APIInvalidArgument(APIError, InvalidArgument):
    """400: the daemon rejected the request as malformed."""


class APIUnauthorized(APIError, Unauthorized):
    """401: credentials missing or wrong."""


class APIForbidden(APIError, Forbidden):
    """403: not allowed."""


class APINotSupported(APIError, NotSupported):
    """501: the daemon does not implement this."""


class APIUnavailable(APIError, Unavailable):
    """503: a dependency of the daemon is down."""


class APINotModified(APIError, NotModified):
    """304: nothing to do (start of a running container)."""


class APIInternal(APIError, Internal):
    """500 or any other error status."""


_BY_STATUS: dict[int, type[APIError]] = {
    304: APINotModified,
    400: APIInvalidArgument,
    401: APIUnauthorized,
    403: APIForbidden,
    404: APINotFound,
    409: APIConflict,
    501: APINotSupported,
    503: APIUnavailable,
}

_ = AlreadyExists  # 409 maps to Conflict, the wider category; AlreadyExists is daemon-side only


def error_from_response(resp: Response) -> APIError:
    """Read an error response's body and build the matching APIError."""
    from berth.client.wirejson import loads

    data = resp.read()
    message = ""
    if data:
        try:
            decoded = loads(data)
        except ValueError:
            message = data.decode("utf-8", "replace").strip()
        else:
            if isinstance(decoded, dict):
                message = str(decoded.get("message") or decoded.get("error") or "")
            if not message:
                message = data.decode("utf-8", "replace").strip()
    if not message:
        message = f"{resp.status} {resp.reason}".strip()
    cls = _BY_STATUS.get(resp.status, APIInternal)
    return cls(resp.status, message)


class APIClient:
    """A Docker Engine API client for one daemon address (see the module docstring)."""

    def __init__(
        self,
        host: str | None = None,
        *,
        tls: TLSConfig | None = None,
        version: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.address: Address = parse_host(host or default_host(), tls)
        self._conn = Connection(self.address, timeout=timeout)
        pinned = version or os.environ.get("BERTH_API_VERSION") or os.environ.get("DOCKER_API_VERSION")
        self._version: str | None = pinned or None
        self.ping_headers: dict[str, str] = {}

    def fork(self) -> APIClient:
        """A client for the same daemon and version on its own connection (for another thread)."""
        other = APIClient.__new__(APIClient)
        other.address = self.address
        other._conn = Connection(self.address, timeout=self._conn.timeout)
        other._version = self.api_version
        other.ping_headers = self.ping_headers
        return other

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> APIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- version negotiation -------------------------------------------------------------------
    def ping(self) -> dict[str, str]:
        """``HEAD /_ping`` (then ``GET`` if needed); returns the response headers."""
        resp = self._conn.request("HEAD", "/_ping")
        resp.read()
        if resp.status not in (200, 500):
            resp = self._conn.request("GET", "/_ping")
            resp.read()
        if resp.status >= 400 and resp.status != 500:
            raise APIInternal(resp.status, f"{resp.status} {resp.reason}".strip())
        self.ping_headers = resp.headers
        return resp.headers

    @property
    def api_version(self) -> str:
        if self._version is None:
            self._version = versions.negotiate(self.ping().get("api-version"))
        return self._version

    def path(self, path: str, params: dict[str, Any] | None = None, *, versioned: bool = True) -> str:
        prefix = f"/v{self.api_version}" if versioned else ""
        return prefix + path + encode_query(params)

    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        body: Body = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        versioned: bool = True,
    ) -> Response:
        """Send a request; raise APIError for a status >= 400. The body is left to the caller."""
        hdrs = dict(headers or {})
        if json_body is not None:
            from berth.client.wirejson import dumps

            body = dumps(json_body)
            hdrs.setdefault("Content-Type", "application/json")
        resp = self._conn.request(
            method, self.path(path, params, versioned=versioned), headers=hdrs, body=body
        )
        if resp.status >= 400:
            raise error_from_response(resp)
        return resp

    def get_json(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params, **kw).json()

    def post_json(self, path: str, params: dict[str, Any] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, params, json_body=body, **kw).json()

    def post(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Response:
        """POST expecting an empty or ignored body (204); 304 raises APINotModified."""
        resp = self.request("POST", path, params, **kw)
        resp.read()
        if resp.status == 304:
            raise APINotModified(304, "not modified")
        return resp

    def delete(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("DELETE", path, params, **kw).json()

    def begin(self, method: str, path: str, params: dict[str, Any] | None = None) -> Pending:
        """Send a request on its own connection now; read it later with ``finish``."""
        conn = Connection(self.address, timeout=self._conn.timeout)
        return conn.begin(method, self.path(path, params))

    @staticmethod
    def finish(pending: Pending) -> Response:
        """The response of a ``begin`` request; APIError for an error status."""
        resp = pending.response()
        if resp.status >= 400:
            raise error_from_response(resp)
        return resp

    def hijack(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Hijacked | Response:
        """POST with ``Upgrade: tcp``: Hijacked on 101, else a 2xx Response streaming the same bytes.

        Error statuses raise APIError. Uses a dedicated connection; this client stays usable.
        """
        hdrs = dict(headers or {})
        body: bytes | None = None
        if json_body is not None:
            from berth.client.wirejson import dumps

            body = dumps(json_body)
            hdrs["Content-Type"] = "application/json"
        conn = Connection(self.address, timeout=self._conn.timeout)
        result = conn.hijack("POST", self.path(path, params), headers=hdrs, body=body)
        if isinstance(result, Response) and result.status >= 400:
            raise error_from_response(result)
        return result

    # -- a few named calls the CLI and tests share -------------------------------------------------
    def version(self) -> Any:
        return self.get_json("/version")

    def info(self) -> Any:
        return self.get_json("/info")

    def inspect_container(self, name: str) -> Any:
        return self.get_json(f"/containers/{quote(name)}/json")

    def inspect_image(self, name: str) -> Any:
        return self.get_json(f"/images/{quote(name)}/json")

    def containers(self, *, all: bool = False, filters: str | None = None) -> Any:
        return self.get_json("/containers/json", {"all": "1" if all else None, "filters": filters})

    def images(self, *, all: bool = False, filters: str | None = None) -> Any:
        return self.get_json("/images/json", {"all": "1" if all else None, "filters": filters})
