"""Remote access with mutual TLS: ``berth certs``, berthd on ``-H tcp://…`` with ``--tlsverify``, and
berth, the docker CLI and docker-py as clients; clients without a certificate from the CA are refused
before any API call; a tcp host without TLS is refused unless forced."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
from cryptography import x509

from berth.testing.daemon import BERTH, BERTHD, DOCKER, cleanup_daemon, start_daemon
from berth.testing.registry import free_port
from tests.e2e.tls.conftest import TLSDaemon, make_certs

pytestmark = pytest.mark.root


def _tls_flags(certs: Path, *, cert: Path | None = None) -> list[str]:
    client = cert if cert is not None else certs
    return [
        "--tlsverify",
        "--tlscacert",
        str(certs / "ca.pem"),
        "--tlscert",
        str(client / "cert.pem"),
        "--tlskey",
        str(client / "key.pem"),
    ]


def _docker_env(tls: TLSDaemon, cert_path: Path) -> dict[str, str]:
    return dict(tls.daemon.env, DOCKER_HOST=tls.url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(cert_path))


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_certs_writes_a_ca_server_and_client_bundle(tmp_root: Path) -> None:
    directory = make_certs(tmp_root / "bundle", "--host", "build.example.com", "--host", "10.1.2.3")
    modes = {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}
    assert modes == {
        "ca.pem": 0o644,
        "ca-key.pem": 0o600,
        "server-cert.pem": 0o644,
        "server-key.pem": 0o600,
        "cert.pem": 0o644,
        "key.pem": 0o600,
    }
    ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((directory / "server-cert.pem").read_bytes())
    client = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(v) for v in sans.get_values_for_type(x509.IPAddress)} | set(
        sans.get_values_for_type(x509.DNSName)
    )
    assert names == {"127.0.0.1", "::1", "localhost", "build.example.com", "10.1.2.3"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    again = _run([BERTH, "certs", "--dir", str(directory)], dict(os.environ))
    assert again.returncode == 1 and "already exists" in again.stderr  # keeps existing keys
    forced = _run([BERTH, "certs", "--dir", str(directory), "--force"], dict(os.environ))
    assert forced.returncode == 0, forced.stderr
    help_text = _run([BERTH, "certs", "--help"], dict(os.environ)).stdout
    assert "Examples:" in help_text and "--tlsverify" in help_text


def test_berth_over_mutual_tls(tls_daemon: TLSDaemon) -> None:
    result = tls_daemon.berth(*_tls_flags(tls_daemon.certs), "ps")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CONTAINER ID")
    # the certificates from --config DIR (ca.pem, cert.pem, key.pem), as docker's ~/.docker
    result = tls_daemon.berth("--config", str(tls_daemon.certs), "--tlsverify", "version")
    assert result.returncode == 0, result.stderr
    listed = tls_daemon.berth("--config", str(tls_daemon.certs), "--tlsverify", "ps", "-a")
    assert listed.returncode == 0 and listed.stdout.startswith("CONTAINER ID"), listed.stderr
    assert "Berth Engine" in result.stdout or "1.50" in result.stdout


def test_berth_runs_containers_over_tls(tls_daemon: TLSDaemon) -> None:
    tls_daemon.daemon.berth("bootstrap", "busybox", check=True)  # over the unix socket
    flags = ["--config", str(tls_daemon.certs), "--tlsverify"]
    result = tls_daemon.berth(*flags, "run", "--rm", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr


def test_berth_run_with_stdin_over_tls(tls_daemon: TLSDaemon) -> None:
    """End of stdin is a TLS half-close (close_notify); the output keeps flowing after it."""
    tls_daemon.daemon.berth("bootstrap", "busybox", check=True)
    flags = ["--config", str(tls_daemon.certs), "--tlsverify"]
    # Large enough that stdin and output are in flight at once (the stdin pump writes while we read).
    payload = "".join(f"line {i:07d} through stdin\n" for i in range(100_000))
    piped = subprocess.run(
        [BERTH, "-H", tls_daemon.url, *flags, "run", "--rm", "-i", "busybox", "cat"],
        env=tls_daemon.daemon.env,
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == payload


def test_clients_without_a_certificate_from_the_ca_are_refused(
    tls_daemon: TLSDaemon, other_certs: Path
) -> None:
    certs = tls_daemon.certs
    no_cert = tls_daemon.berth("--tlsverify", "--tlscacert", str(certs / "ca.pem"), "ps")
    assert no_cert.returncode == 1  # as for an unreachable daemon (docker ps exits 1 too)
    assert no_cert.stderr.startswith("Error: ") and no_cert.stderr.count("\n") == 1, no_cert.stderr
    assert "no client certificate" in no_cert.stderr

    wrong_ca = tls_daemon.berth(*_tls_flags(certs, cert=other_certs), "ps")
    assert wrong_ca.returncode == 1
    assert "not signed by its CA" in wrong_ca.stderr and wrong_ca.stderr.count("\n") == 1
    run = tls_daemon.berth(*_tls_flags(certs, cert=other_certs), "run", "--rm", "busybox", "true")
    assert run.returncode == 125, run.stderr

    plain = tls_daemon.berth("ps")
    assert plain.returncode == 1 and plain.stderr.startswith("Error: "), plain.stderr

    # Raw: the handshake completes on our side (TLS 1.3) but the server drops us before reading HTTP.
    for client in (None, other_certs):
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        if client is not None:
            ctx.load_cert_chain(str(client / "cert.pem"), str(client / "key.pem"))
        with socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                    conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
                    answer = conn.recv(1024)
            except (ssl.SSLError, ConnectionResetError):
                answer = b""
        assert answer == b"", f"berthd answered a client without a valid certificate: {answer!r}"
    # the daemon is still serving good clients
    assert tls_daemon.berth(*_tls_flags(certs), "ps").returncode == 0


@pytest.mark.docker_cli
def test_docker_cli_over_tls(tls_daemon: TLSDaemon, other_certs: Path) -> None:
    tls_daemon.daemon.berth("bootstrap", "busybox", check=True)
    env = _docker_env(tls_daemon, tls_daemon.certs)
    version = _run([DOCKER, "version"], env)
    assert version.returncode == 0, version.stderr
    assert "API version:      1.50" in version.stdout
    ps = _run([DOCKER, "ps"], env)
    assert ps.returncode == 0 and ps.stdout.startswith("CONTAINER ID"), ps.stderr
    run = _run([DOCKER, "run", "--rm", "busybox", "echo", "hi"], env)
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    stdin = _run([DOCKER, "run", "--rm", "-i", "busybox", "cat"], env, stdin="piped\n")
    assert (stdin.returncode, stdin.stdout) == (0, "piped\n"), stdin.stderr
    code = _run([DOCKER, "run", "--rm", "busybox", "sh", "-c", "exit 3"], env)
    assert code.returncode == 3, code.stderr

    refused = _run([DOCKER, "ps"], _docker_env(tls_daemon, other_certs))
    assert refused.returncode != 0 and "CONTAINER ID" not in refused.stdout


def test_docker_py_over_tls(
    tls_daemon: TLSDaemon, other_certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these variables override the session's CA (``verify=ca.pem``): unset them
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tls_daemon.daemon.berth("bootstrap", "busybox", check=True)
    certs = tls_daemon.certs
    tls = docker.tls.TLSConfig(
        client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
        ca_cert=str(certs / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(base_url=tls_daemon.url, tls=tls)
    try:
        assert client.version()["ApiVersion"] == "1.50"
        assert client.containers.run("busybox", ["echo", "py"], remove=True) == b"py\n"
    finally:
        client.close()
    bad = docker.tls.TLSConfig(
        client_cert=(str(other_certs / "cert.pem"), str(other_certs / "key.pem")),
        ca_cert=str(certs / "ca.pem"),
        verify=True,
    )
    with pytest.raises(docker.errors.DockerException):
        docker.DockerClient(base_url=tls_daemon.url, tls=bad)


def test_plain_tcp_is_refused_unless_forced(tmp_root: Path) -> None:
    url = f"tcp://127.0.0.1:{free_port()}"
    refused = subprocess.run(
        [BERTHD, "--data-root", str(tmp_root / "d"), "--exec-root", str(tmp_root / "r"), "-H", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "without mutual TLS" in refused.stderr and "--insecure-tcp" in refused.stderr
    assert refused.stderr.count("\n") == 1

    daemon = start_daemon(tmp_root, f"berth-test-{uuid.uuid4().hex[:8]}", extra=["-H", url, "--insecure-tcp"])
    try:
        assert "without TLS client verification (--insecure-tcp)" in daemon.log_text()
        result = daemon.berth("-H", url, "version", "--format", "{{.Server.ApiVersion}}")
        assert (result.returncode, result.stdout.strip()) == (0, "1.50"), result.stderr
    finally:
        cleanup_daemon(daemon)
