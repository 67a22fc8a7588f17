"""Pull-through cache: a second berth-registry serves an upstream's images and keeps them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from registry_e2e_helpers import make_oci_layout, skopeo, start_registry

from berth.testing.registry import registry_cli

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (apt install skopeo)")


def test_pull_through_cache_serves_and_keeps(tmp_path: Path) -> None:
    upstream = start_registry(tmp_path / "upstream", users={"alice": "alicepw"})
    proxy = None
    try:
        layout = tmp_path / "layout"
        digest = make_oci_layout(layout, "v1", files={"cached": b"from upstream"})
        result = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:alicepw",
            f"oci:{layout}:v1",
            f"docker://{upstream.host}/alice/app:v1",
        )
        assert result.returncode == 0, result.stderr
        config = tmp_path / "proxy.yml"
        config.write_text(f"proxy:\n  remote_url: {upstream.url}\n  username: alice\n  password: alicepw\n")
        proxy = start_registry(tmp_path / "proxy", config=config)

        result = skopeo("inspect", "--tls-verify=false", "--no-creds", f"docker://{proxy.host}/alice/app:v1")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Digest"] == digest
        out = tmp_path / "pulled"
        result = skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-no-creds",
            f"docker://{proxy.host}/alice/app:v1",
            f"oci:{out}:v1",
        )
        assert result.returncode == 0, result.stderr

        pushed = skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--dest-no-creds",
            f"oci:{layout}:v1",
            f"docker://{proxy.host}/alice/other:v1",
        )
        assert pushed.returncode != 0  # the cache is read-only

        upstream.stop()  # everything pulled once is now served from the cache
        result = skopeo(
            "copy",
            "--src-tls-verify=false",
            "--src-no-creds",
            f"docker://{proxy.host}/alice/app:v1",
            f"oci:{tmp_path / 'again'}:v1",
        )
        assert result.returncode == 0, result.stderr
    finally:
        upstream.stop()
        if proxy is not None:
            proxy.stop()


def test_an_immutable_tag_pins_what_the_cache_first_fetched(tmp_path: Path) -> None:
    upstream = start_registry(tmp_path / "upstream", users={"alice": "alicepw"})
    proxy = None
    try:

        def publish(content: bytes) -> str:
            layout = tmp_path / f"layout-{len(content)}"
            digest = make_oci_layout(layout, "v1", files={"f": content})
            result = skopeo(
                "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw",
                f"oci:{layout}:v1", f"docker://{upstream.host}/alice/app:v1",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            return digest

        def cached() -> str:
            result = skopeo(
                "inspect", "--tls-verify=false", "--no-creds", f"docker://{proxy.host}/alice/app:v1"
            )
            assert result.returncode == 0, result.stderr
            return str(json.loads(result.stdout)["Digest"])

        first = publish(b"first")
        config = tmp_path / "proxy.yml"
        config.write_text(f"proxy:\n  remote_url: {upstream.url}\n  username: alice\n  password: alicepw\n")
        proxy = start_registry(tmp_path / "proxy", config=config)
        policy = registry_cli(proxy.root, "retention", "set", "alice/app", "--immutable", "v*", config=config)
        assert policy.returncode == 0, policy.stderr
        assert cached() == first
        second = publish(b"second, moved upstream")
        assert second != first and cached() == first  # pinned
        lifted = registry_cli(proxy.root, "retention", "rm", "alice/app", config=config)
        assert lifted.returncode == 0, lifted.stderr
        assert cached() == second  # without the policy the cache follows upstream
    finally:
        upstream.stop()
        if proxy is not None:
            proxy.stop()
