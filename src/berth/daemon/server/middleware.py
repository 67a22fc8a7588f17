"""Middlewares, outermost first: Docker's response headers and API version checks, then errors → HTTP.

The error table lives here and only here: a ``BerthError`` category becomes its status code and
Docker's ``{"message": …}`` body; anything else is a 500 that is logged with its traceback — except a
client hanging up mid-stream, which is one debug line.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from berth import __version__
from berth.api.versions import CURRENT_API_VERSION, MIN_API_VERSION, parse_version
from berth.daemon.server.router import Handler
from berth.errors import BerthError, NotModified, is_disk_full

log = logging.getLogger("berthd.api")

SERVER_HEADERS = {
    "Api-Version": CURRENT_API_VERSION,
    "Ostype": "linux",
    "Server": f"Berth/{__version__} (linux)",
    "Docker-Experimental": "false",
}


def error_response(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode() + b"\n",
        content_type="application/json",
    )


@web.middleware
async def headers_and_version(request: web.Request, handler: Handler) -> web.StreamResponse:
    requested = request.match_info.get("api_version")
    if requested:
        wanted = parse_version(requested)
        if wanted > parse_version(CURRENT_API_VERSION):
            resp: web.StreamResponse = error_response(
                400,
                f"client version {requested} is too new. Maximum supported API version is {CURRENT_API_VERSION}",
            )
            resp.headers.update(SERVER_HEADERS)
            return resp
        if wanted < parse_version(MIN_API_VERSION):
            resp = error_response(
                400,
                f"client version {requested} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                "please upgrade your client to a newer version",
            )
            resp.headers.update(SERVER_HEADERS)
            return resp
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            resp = error_response(exc.status, exc.reason if exc.status != 404 else "page not found")
        else:
            raise
    if not resp.prepared:
        resp.headers.update(SERVER_HEADERS)
    return resp


def disk_full(exc: BaseException, doing: str) -> str | None:
    """The one line for a write a full disk (or quota) refused — what was being written and ``no space
    left on device`` — or None for any other error. ``doing`` names the work when the error does not
    name its file."""
    if not isinstance(exc, OSError) or not is_disk_full(exc):
        return None
    what = f"writing {exc.filename}" if exc.filename else doing
    return f"{what}: no space left on device"


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except NotModified:
        return web.Response(status=304)
    except BerthError as exc:
        if exc.http_status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        return error_response(exc.http_status, str(exc))
    except web.HTTPException:
        raise
    except ConnectionError as exc:  # reset, broken pipe, aiohttp's "Connection lost"
        if not _client_gone(request):
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {exc}")
        # A client that hung up mid-stream (logs -f, events, wait, attach…) is no error of ours.
        log.debug("%s %s: client disconnected (%s)", request.method, request.path, type(exc).__name__)
        return web.Response(status=499)  # never sent: aiohttp drops it quietly on the closed connection
    except OSError as exc:
        message = disk_full(exc, f"{request.method} {request.path}")
        if message is None:
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {exc}")
        # A full disk is the machine's state, not a bug: one line saying what could not be written.
        log.error("%s", message)
        return error_response(500, message)
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {exc}")
