"""The daemon's TLS tcp site: asyncio's TLS layer, plus the half-close that attach and exec need.

The docker CLI ends stdin of ``run``/``attach``/``exec`` with ``CloseWrite``, which on a TLS connection
sends ``close_notify``: a half-close, after which moby keeps writing the container's output. asyncio's
TLS layer instead shuts the whole connection down on ``close_notify`` (``eof_received`` returning True
"has no effect when using ssl"), so ``docker run --rm busybox echo hi`` over TLS would print nothing.
``_HalfCloseTLS`` honours the application protocol's answer: when it asks to stay open (the hijacked
attach/exec protocol does), the connection keeps sending until the application closes it.

The client certificate check itself is the context's ``CERT_REQUIRED``: a client without a certificate
signed by the CA fails the handshake, before any HTTP is read.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from typing import Any

from aiohttp import web


class _HalfCloseTLS(sslproto.SSLProtocol):
    """``SSLProtocol`` that lets the peer's ``close_notify`` be a half-close (see module docstring)."""

    _keep_open_after_peer_eof = False

    def _call_eof_received(self) -> None:
        if self._app_state == sslproto.AppProtocolState.STATE_CON_MADE:  # type: ignore[has-type]
            self._app_state = sslproto.AppProtocolState.STATE_EOF
            try:
                protocol: Any = self._app_protocol  # a Protocol (aiohttp's, or the hijacked one)
                self._keep_open_after_peer_eof = bool(protocol.eof_received())
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # as asyncio's own: a failing protocol is a fatal error
                self._fatal_error(exc, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        app_transport: Any = self._app_transport
        if self._keep_open_after_peer_eof and app_transport is not None and not app_transport._closed:
            return  # the peer's close_notify only: shut down when the application closes
        super()._start_shutdown()


class TLSSite(web.TCPSite):
    """``web.TCPSite`` whose TLS connections use ``_HalfCloseTLS``."""

    __slots__ = ("_tls",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, tls: ssl.SSLContext) -> None:
        super().__init__(runner, host, port)
        self._tls = tls

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self.port}"

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        if server is None:
            raise RuntimeError("runner not set up")
        tls = self._tls

        def factory() -> asyncio.BaseProtocol:
            return _HalfCloseTLS(loop, server(), tls, None, server_side=True)  # type: ignore[arg-type]

        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
