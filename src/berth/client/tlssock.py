"""A TLS client connection that can half-close, as Go's ``tls.Conn.CloseWrite`` does.

``berth run -i`` ends the container's stdin by half-closing the hijacked connection and then keeps
reading the container's output. Over TLS a half-close is a ``close_notify`` alert with the read side
left open. ``ssl.SSLSocket.unwrap`` cannot do that: it sends ``close_notify`` and then waits for the
peer's, and OpenSSL discards application data that arrives meanwhile. Driving OpenSSL through memory
BIOs instead puts the socket I/O in our hands: ``close_write`` sends the alert, and reads go on.

Thread-safety: one thread may read while another writes (the stdin pump). OpenSSL's state is guarded
by one lock; a second lock keeps encrypted records in order on the wire without holding the first
while a send blocks (a reader must still be able to decrypt what the server sends meanwhile).
"""

from __future__ import annotations

import _socket
import ssl
import threading

_RECV = 65536


class TLSSocket:
    """The socket-like subset the HTTP client uses: ``recv``, ``sendall``, ``close_write``,
    ``fileno``, ``settimeout``, ``close``. ``recv`` returns b"" at the end of the stream."""

    def __init__(self, raw: _socket.socket, ctx: ssl.SSLContext, server_hostname: str | None) -> None:
        self._raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._state_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._plain = bytearray()  # decrypted, not yet returned by recv
        self._eof = False
        self._handshake()

    def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._send_pending()
                if not self._feed():
                    raise ssl.SSLEOFError(
                        "the server closed the connection during the TLS handshake"
                    ) from None
                continue
            self._send_pending()
            return

    def _feed(self) -> bool:
        """Move what the socket has into OpenSSL; False at the socket's end."""
        data = self._raw.recv(_RECV)
        with self._state_lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
        return bool(data)

    def _send_pending(self) -> None:
        with self._state_lock:
            records = self._outgoing.read()
            if not records:
                return
            self._send_lock.acquire()  # taken before the state lock is let go: records stay in order
        try:
            self._raw.sendall(records)
        finally:
            self._send_lock.release()

    def _decrypt_available(self) -> None:
        """Decrypt every complete record OpenSSL holds, so that nothing readable hides from select()
        on the raw socket and ``close_write`` never makes OpenSSL consume application data."""
        with self._state_lock:
            while not self._eof:
                try:
                    data = self._tls.read(_RECV)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""  # the socket ended without close_notify (a ragged EOF)
                if not data:  # close_notify
                    self._eof = True
                self._plain += data

    def recv(self, size: int = _RECV) -> bytes:
        while True:
            self._decrypt_available()
            self._send_pending()  # a read can produce records too (TLS 1.3 key updates)
            if self._plain or self._eof:
                with self._state_lock:
                    data = bytes(self._plain[:size])
                    del self._plain[:size]
                return data
            if not self._feed():
                self._decrypt_available()
                self._eof = True

    def sendall(self, data: bytes) -> None:
        with self._state_lock:
            self._tls.write(data)
        self._send_pending()

    def close_write(self) -> None:
        """Send ``close_notify``; the read side stays open until the server ends the stream."""
        self._decrypt_available()
        with self._state_lock:
            try:
                self._tls.unwrap()  # sends the alert, then wants the server's: not waited for here
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return  # the connection is already shut: nothing left to half-close
        self._send_pending()

    def fileno(self) -> int:
        return self._raw.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._raw.settimeout(timeout)

    def close(self) -> None:
        self._raw.close()


__all__ = ["TLSSocket"]
