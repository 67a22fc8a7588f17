"""The ``metrics:`` config section: defaults, and bad values refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.registry import config as config_mod
from berth.registry.metrics.endpoint import handler_name


def _load(tmp_path: Path, text: str) -> config_mod.RegistryConfig:
    path = tmp_path / "registry.yml"
    path.write_text(text)
    return config_mod.load(tmp_path / "root", path)


def test_defaults_serve_loopback_only(tmp_path: Path) -> None:
    settings = config_mod.load(tmp_path, None).metrics
    assert settings.enabled and settings.allow == ("127.0.0.0/8", "::1/128")
    assert _load(tmp_path, "metrics: {enabled: false}\n").metrics.enabled is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics: {allow: [not-a-net]}\n", "metrics.allow"),
        ("metrics: {allow: 10.0.0.0/8}\n", "must be a list"),
        ("metrics: {enabled: maybe}\n", "true or false"),
        ("metrics: {port: 9000}\n", "unknown metrics key 'port'"),
    ],
)
def test_bad_metrics_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _load(tmp_path, text)


def test_route_labels_never_carry_names() -> None:
    assert handler_name("/v2/acme/private-app/manifests/v1") == "manifest"
    assert handler_name("/v2/acme/app/blobs/uploads/") == "blob_upload"
    assert handler_name("/v2/acme/app/blobs/uploads/abc") == "blob_upload_chunk"
    assert handler_name("/v2/acme/app/blobs/sha256:" + "a" * 64) == "blob"
    assert handler_name("/v2/Bad Name/tags/list") == "unknown"
    assert handler_name("/r/acme/private-app") == "web"
    assert handler_name("/api/v1/repositories/acme/app") == "hub_api"
