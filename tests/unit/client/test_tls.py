"""The client over tcp + mutual TLS against a real loopback TLS server (certificates made here)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from berth.client.api import APIClient
from berth.client.hosts import TLSConfig
from berth.errors import Unavailable


def _write_key_cert(
    directory: str, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    cert_path, key_path = os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}-key.pem")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_server(tmp_path: object) -> Iterator[tuple[int, str]]:
    directory = str(tmp_path)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("berth-test-ca", ca_key, ca_key, None, ca=True)
    ca_path, _ = _write_key_cert(directory, "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert, server_key_path = _write_key_cert(
        directory, "server", _cert("127.0.0.1", server_key, ca_key, ca.subject, server=True), server_key
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write_key_cert(directory, "cert", _cert("client", client_key, ca_key, ca.subject), client_key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server_cert, server_key_path)
    ctx.load_verify_locations(ca_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the serving thread notices ``stop``
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    body = b'{"ApiVersion":"1.50"}'
                    head = b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nConnection: close\r\n"
                    conn.sendall(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            except (ssl.SSLError, OSError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, directory
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_mutual_tls_request(tls_server: tuple[int, str]) -> None:
    port, d = tls_server
    tls = TLSConfig(os.path.join(d, "ca.pem"), os.path.join(d, "cert.pem"), os.path.join(d, "cert-key.pem"))
    with APIClient(f"tcp://127.0.0.1:{port}", tls=tls, version="1.50") as client:
        assert client.version() == {"ApiVersion": "1.50"}


def test_server_not_signed_by_our_ca_is_refused(tls_server: tuple[int, str], tmp_path: object) -> None:
    port, d = tls_server
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca, _ = _write_key_cert(
        str(tmp_path), "other", _cert("other", other_key, other_key, None, ca=True), other_key
    )
    tls = TLSConfig(other_ca, os.path.join(d, "cert.pem"), os.path.join(d, "cert-key.pem"))
    with (
        pytest.raises(Unavailable, match="TLS handshake"),
        APIClient(f"tcp://127.0.0.1:{port}", tls=tls, version="1.50") as client,
    ):
        client.version()
