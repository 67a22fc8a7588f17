"""``storage.s3`` in the registry config: file values, AWS_* fallbacks, refusals, and keys never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.registry import config


def _load(tmp_path: Path, text: str) -> config.RegistryConfig:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return config.load(tmp_path / "root", path)


def test_s3_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    cfg = _load(
        tmp_path,
        "storage:\n  driver: s3\n  s3: {endpoint: 'http://127.0.0.1:7480', bucket: blobs, redirect: true}\n",
    )
    assert cfg.s3 is not None
    assert (cfg.s3.bucket, cfg.s3.endpoint, cfg.s3.region) == ("blobs", "http://127.0.0.1:7480", "eu-west-3")
    assert (cfg.s3.access_key, cfg.s3.secret_key, cfg.s3.path_style, cfg.s3.redirect) == (
        "env-key",
        "env-secret-value",
        True,
        True,
    )
    assert "env-secret-value" not in repr(cfg) and "env-key" not in repr(cfg)


def test_file_keys_win_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    cfg = _load(tmp_path, "storage:\n  driver: s3\n  s3: {bucket: b, access_key: k, secret_key: s}\n")
    assert cfg.s3 is not None and (cfg.s3.access_key, cfg.s3.secret_key) == ("k", "s")
    assert cfg.s3.redirect is False and cfg.s3.path_style is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("storage:\n  driver: s3\n", "storage.s3.bucket is required"),
        (
            "storage:\n  driver: s3\n  s3: {bucket: b, rootdirectory: /x}\n",
            "unknown storage.s3 key 'rootdirectory'",
        ),
        ("storage:\n  driver: s3\n  s3: {bucket: b, endpoint: 'ftp://x'}\n", "http:// or https://"),
        ("storage:\n  driver: s3\n  s3: {bucket: b, redirect: 'yes'}\n", "redirect must be true or false"),
        ("storage:\n  driver: s3\n  s3: {bucket: b, access_key: k}\n", "both access_key and secret_key"),
        ("storage:\n  driver: filesystem\n  s3: {bucket: b}\n", "storage.driver is 'filesystem'"),
        ("storage:\n  driver: s3\n  gcs: {}\n", "unknown storage key 'gcs'"),
    ],
)
def test_bad_s3_config_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidArgument, match=message):
        _load(tmp_path, text)
