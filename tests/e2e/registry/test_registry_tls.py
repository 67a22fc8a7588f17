"""HTTPS with a configured certificate and key; the token realm follows the scheme clients used."""

from __future__ import annotations

import http.client
import shutil
import ssl
from pathlib import Path

from registry_e2e_helpers import make_oci_layout, skopeo, start_registry

from berth.testing.registry import self_signed


def test_https_with_token_realm_on_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = tmp_path / "registry.yml"
    config.write_text(f"tls:\n  certificate: {cert}\n  key: {key}\ndefault_visibility: public\n")
    running = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("127.0.0.1", running.port, context=ctx, timeout=10)
        try:
            conn.request("GET", "/v2/")
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        assert response.status == 401
        assert response.getheader("WWW-Authenticate", "").startswith(
            f'Bearer realm="https://{running.host}/token"'
        )
        if shutil.which("skopeo"):
            layout = tmp_path / "layout"
            make_oci_layout(layout, "v1", files={"tls": b"yes"})
            result = skopeo(
                "copy",
                "--dest-cert-dir",
                str(tmp_path / "certs"),
                "--dest-tls-verify=false",
                "--dest-creds",
                "alice:alicepw",
                f"oci:{layout}:v1",
                f"docker://{running.host}/alice/tls:v1",
            )
            assert result.returncode == 0, result.stderr
            result = skopeo(
                "inspect", "--tls-verify=false", "--no-creds", f"docker://{running.host}/alice/tls:v1"
            )
            assert result.returncode == 0, result.stderr
    finally:
        running.stop()
