"""TLS for registry endpoints: Docker's per-registry certificate directory (``certs.d``).

``<certs_dir>/<host[:port]>/`` may hold ``*.crt`` (extra CAs to trust for that registry) and
``<name>.cert`` + ``<name>.key`` pairs (a client certificate), as ``/etc/docker/certs.d`` does. The
system's CAs are always trusted too; verification is never switched off for HTTPS endpoints (a registry
that should be reached without TLS is named with ``--insecure-registry``, and is then spoken to over HTTP).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

from berth.distribution.auth import Credentials
from berth.distribution.client import RegistryClient
from berth.distribution.resolver import Endpoint
from berth.errors import InvalidArgument


def ssl_context_for(host: str, certs_dir: Path | None) -> ssl.SSLContext | None:
    """A verifying context with ``host``'s extra CAs and client certificate; None if it has none."""
    if certs_dir is None:
        return None
    directory = certs_dir / host
    if not directory.is_dir():
        return None
    context = ssl.create_default_context()
    try:
        for ca in sorted(directory.glob("*.crt")):
            context.load_verify_locations(cafile=str(ca))
        for cert in sorted(directory.glob("*.cert")):
            key = cert.with_suffix(".key")
            if not key.exists():
                raise InvalidArgument(f"client certificate {cert} has no matching key {key.name}")
            context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"registry certificates in {directory}: {exc}") from exc
    return context


def client_factory(*, certs_dir: Path | None = None) -> Callable[[Endpoint, Credentials], RegistryClient]:
    """What ``PullService``/``PushService``/``RegistryService`` take as ``client_factory``."""

    def make(endpoint: Endpoint, credentials: Credentials) -> RegistryClient:
        context = ssl_context_for(endpoint.host, certs_dir) if endpoint.secure else None
        return RegistryClient(endpoint=endpoint, credentials=credentials, ssl_context=context)

    return make
