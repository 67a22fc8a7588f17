"""Daemon addresses: ``unix:///path``, ``tcp://HOST:PORT`` (optionally with TLS), ``fd://`` unsupported."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

DEFAULT_HOST = "unix:///run/berth/berth.sock"
DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376


# Plain classes, not dataclasses: importing dataclasses costs ~4 ms of the CLI's start-up.
class TLSConfig:
    """Client TLS material; ``verify`` checks the server certificate against ``ca_file``."""

    __slots__ = ("ca_file", "cert_file", "key_file", "verify")

    def __init__(
        self,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        verify: bool = True,
    ) -> None:
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.verify = verify

    def __repr__(self) -> str:
        return f"TLSConfig({self.ca_file!r}, {self.cert_file!r}, {self.key_file!r}, verify={self.verify})"


class Address:
    """Where the daemon listens: a unix socket ``path`` or a tcp ``host``/``port``."""

    __slots__ = ("scheme", "path", "host", "port", "tls")

    def __init__(
        self, scheme: str, path: str = "", host: str = "", port: int = 0, tls: TLSConfig | None = None
    ) -> None:
        self.scheme = scheme  # "unix" or "tcp"
        self.path = path
        self.host = host
        self.port = port
        self.tls = tls

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return (self.scheme, self.path, self.host, self.port) == (
            other.scheme,
            other.path,
            other.host,
            other.port,
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.path, self.host, self.port))

    def __repr__(self) -> str:
        return f"Address({str(self)!r}, tls={self.tls!r})"

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        return f"tcp://{self.host}:{self.port}"


def parse_host(text: str, tls: TLSConfig | None = None) -> Address:
    """Parse ``-H`` / ``BERTH_HOST``; InvalidArgument for an unsupported or malformed address."""
    value = text.strip()
    if value.startswith("unix://"):
        path = value[len("unix://") :]
        if not path:
            raise InvalidArgument(f"invalid host {text!r}: empty socket path")
        return Address("unix", path=path)
    if value.startswith("/"):
        return Address("unix", path=value)
    for prefix in ("tcp://", "http://", "https://"):
        if value.startswith(prefix):
            rest = value[len(prefix) :].rstrip("/")
            if prefix == "https://" and tls is None:
                tls = TLSConfig(verify=False)
            break
    else:
        raise InvalidArgument(f"invalid host {text!r}: use unix:///path or tcp://HOST:PORT")
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host or "127.0.0.1"
    try:
        port = int(port_text) if port_text else (DEFAULT_TLS_PORT if tls else DEFAULT_TCP_PORT)
    except ValueError as exc:
        raise InvalidArgument(f"invalid host {text!r}: bad port") from exc
    return Address("tcp", host=host, port=port, tls=tls)


def default_host() -> str:
    """``BERTH_HOST``, else the default unix socket."""
    return os.environ.get("BERTH_HOST") or DEFAULT_HOST
