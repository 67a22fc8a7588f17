"""``berth certs``: a CA, a server certificate and a client certificate for mutual TLS, no openssl needed.

Written into one directory (default: the client config dir, ``~/.berth``), with the names berthd's
``--tlscacert/--tlscert/--tlskey`` examples, the berth CLI (``--config DIR`` / ``BERTH_CERT_PATH``) and the
docker CLI (``DOCKER_CERT_PATH``) expect::

    ca.pem  ca-key.pem                  the CA (its key signs more certificates; keep it private)
    server-cert.pem  server-key.pem     for berthd; SANs 127.0.0.1, ::1, localhost and every --host
    cert.pem  key.pem                   for clients (extended key usage clientAuth)

Keys are ECDSA P-256 and written with mode 0600; certificates with 0644. Existing files are kept
unless ``--force``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys

from berth.cli.command import CLIError, Context, new_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

CA_DAYS = 3650
DEFAULT_DAYS = 825
DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")
FILES = ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "cert.pem", "key.pem")

EXAMPLES = [
    "berth certs",
    "berth certs --dir /etc/berth/tls --host build.example.com --host 10.0.0.5",
    "berthd -H unix:///run/berth/berth.sock -H tcp://0.0.0.0:2376 --tlsverify "
    "--tlscacert ~/.berth/ca.pem --tlscert ~/.berth/server-cert.pem --tlskey ~/.berth/server-key.pem",
    "berth -H tcp://build.example.com:2376 --tlsverify ps",
    "DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=~/.berth docker ps",
]


def certs(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        "certs",
        "[OPTIONS]",
        "Make a CA, a server certificate and a client certificate for remote access with mutual TLS\n\n"
        "Writes ca.pem, ca-key.pem, server-cert.pem, server-key.pem, cert.pem and key.pem (keys 0600).\n"
        "The server certificate names 127.0.0.1, ::1 and localhost, plus every --host.",
        EXAMPLES,
    )
    p.add_argument(
        "-d",
        "--dir",
        metavar="string",
        help=f'Directory to write to (default the client config dir, "{ctx.config_dir}")',
    )
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="name",
        help="Extra DNS name or IP address the server certificate is valid for (repeatable)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        metavar="int",
        help=f"Validity of the certificates (default {DEFAULT_DAYS}; the CA gets {CA_DAYS})",
    )
    p.add_argument("--client-name", default="berth-client", metavar="string", help="Client certificate CN")
    p.add_argument("-f", "--force", action="store_true", help="Overwrite existing files")
    ns = p.parse_args(argv)
    if ns.days < 1:
        raise CLIError("--days must be at least 1")
    directory = os.path.abspath(os.path.expanduser(ns.dir or ctx.config_dir))
    existing = [name for name in FILES if os.path.exists(os.path.join(directory, name))]
    if existing and not ns.force:
        raise CLIError(f"{os.path.join(directory, existing[0])} already exists (use --force to replace)")
    hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *(h.strip() for h in ns.host if h.strip())]))
    for name, data, private in make_bundle(hosts, ns.days, ns.client_name):
        _write(os.path.join(directory, name), data, private)
    sys.stdout.write(
        f"Wrote {', '.join(FILES)} to {directory}\n"
        f"Server certificate valid for: {', '.join(hosts)}\n"
        f"  berthd -H tcp://0.0.0.0:2376 --tlsverify --tlscacert {directory}/ca.pem "
        f"--tlscert {directory}/server-cert.pem --tlskey {directory}/server-key.pem\n"
        f"  berth --config {directory} -H tcp://HOST:2376 --tlsverify ps\n"
    )
    return 0


def make_bundle(hosts: list[str], days: int, client_name: str) -> list[tuple[str, bytes, bool]]:
    """(file name, PEM bytes, is a private key) for the CA, the server and the client."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _leaf(ca_cert, ca_key, server_key, "berthd", days, server=True, hosts=hosts)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _leaf(ca_cert, ca_key, client_key, client_name, days, server=False, hosts=[])
    return [
        ("ca.pem", _cert_pem(ca_cert), False),
        ("ca-key.pem", _key_pem(ca_key), True),
        ("server-cert.pem", _cert_pem(server_cert), False),
        ("server-key.pem", _key_pem(server_key), True),
        ("cert.pem", _cert_pem(client_cert), False),
        ("key.pem", _key_pem(client_key), True),
    ]


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Berth"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    name = _name("Berth CA")
    builder = (
        _builder(name, name, key, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    days: int,
    *,
    server: bool,
    hosts: list[str],
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(_name(common_name), ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: str, data: bytes, private: bool) -> None:
    """Atomically, with 0600 for keys (created so, never world-readable even for a moment)."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)  # the umask may have narrowed a certificate's mode
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"writing {path}: {exc}") from exc
