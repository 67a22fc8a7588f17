from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from berth.api.humanize import human_duration
from berth.daemon import config
from berth.daemon.server.filters import parse_filters
from berth.errors import InvalidArgument


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    file = tmp_path / "daemon.json"
    file.write_text(
        json.dumps({"data-root": "/x", "default-registry": "reg:1", "insecure-registries": ["a:1"]})
    )
    loaded = config.load(["--config-file", str(file), "--data-root", "/y"])
    assert loaded.data_root == Path("/y")
    assert loaded.default_registry == "reg:1"
    assert loaded.insecure_registries == ["a:1"]
    assert loaded.effective_hosts() == [config.DEFAULT_HOST]


def test_unknown_config_keys_are_rejected(tmp_path: Path) -> None:
    file = tmp_path / "daemon.json"
    file.write_text('{"no-such-key": 1}')
    with pytest.raises(InvalidArgument, match="no-such-key"):
        config.load(["--config-file", str(file)])


def test_filters_accept_both_docker_encodings() -> None:
    assert parse_filters('{"status":{"running":true}}') == {"status": ["running"]}
    assert parse_filters('{"label":["a=b"]}') == {"label": ["a=b"]}
    with pytest.raises(InvalidArgument):
        parse_filters("[1]")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (42, "42 seconds"),
        (90, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
    ],
)
def test_human_durations_match_docker(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_nat_flags_take_go_booleans_and_config_keys(tmp_path: Path) -> None:
    assert config.load([]).ip_forward is True and config.load([]).ip_masq is True
    assert config.load(["--ip-forward=false"]).ip_forward is False
    assert config.load(["--ip-masq", "false"]).ip_masq is False
    assert config.load(["--ip-masq"]).ip_masq is True  # a bare boolean flag, as Go's
    file = tmp_path / "daemon.json"
    file.write_text(json.dumps({"ip-forward": False, "ip-masq": False}))
    loaded = config.load(["--config-file", str(file), "--ip-masq=true"])
    assert (loaded.ip_forward, loaded.ip_masq) == (False, True)
    with pytest.raises(SystemExit):
        config.load(["--ip-forward=maybe"])
    assert config.load(["--cleanup"]).cleanup is True


def _with_builder(tmp_path: Path, builder: object) -> config.DaemonConfig:
    file = tmp_path / "daemon.json"
    file.write_text(json.dumps({"builder": builder}))
    return config.load(["--config-file", str(file), "--data-root", str(tmp_path)])


def test_builder_gc_as_daemon_json(tmp_path: Path) -> None:
    from berth.daemon.wiring import gc_limits
    from berth.engine.builder.cache_prune import SpaceLimits

    loaded = _with_builder(tmp_path, {"gc": {"enabled": True, "defaultKeepStorage": "10GB"}})
    assert (loaded.builder_gc, loaded.builder_gc_reserved_space) == (True, 10 << 30)
    assert gc_limits(loaded) == SpaceLimits(reserved=10 << 30)
    loaded = _with_builder(
        tmp_path,
        {"GC": {"defaultKeepStorage": "1GB", "defaultReservedSpace": "512MB", "DefaultMaxUsedSpace": 4096}},
    )  # Docker 28's names, case as Go's JSON; the new name wins over the deprecated one
    assert gc_limits(loaded) == SpaceLimits(reserved=512 << 20, max_used=4096)
    assert _with_builder(tmp_path, {"gc": {"defaultMinFreeSpace": "1.5k"}}).builder_gc_min_free_space == 1536
    assert gc_limits(_with_builder(tmp_path, {"gc": {"enabled": False}})) is None
    default = gc_limits(config.load(["--data-root", str(tmp_path)]))  # 10% of the filesystem
    st = os.statvfs(tmp_path)
    assert default == SpaceLimits(reserved=st.f_blocks * st.f_frsize // 10)


@pytest.mark.parametrize(
    ("builder", "message"),
    [
        ({"gc": {"defaultKeepStorage": "lots"}}, "builder.gc.defaultKeepStorage: invalid size: 'lots'"),
        ({"gc": {"defaultKeepStorage": "10XB"}}, "invalid size: '10XB'"),
        ({"gc": {"defaultKeepStorage": -1}}, "invalid size"),
        ({"gc": {"enabled": "yes"}}, "builder.gc.enabled must be true or false"),
        ({"gc": {"policy": [{"keepStorage": "1GB"}]}}, "builder.gc.policy is not supported"),
        ({"gc": {"keepStorage": "1GB"}}, "unknown key builder.gc.keepStorage"),
        ({"gc": []}, "builder.gc must be a JSON object"),
        ({"entitlements": {"network-host": True}}, "builder.entitlements is not supported"),
        ("gc", "builder must be a JSON object"),
    ],
)
def test_malformed_builder_gc_is_refused_at_start(tmp_path: Path, builder: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        _with_builder(tmp_path, builder)


def test_builder_fields_are_not_top_level_keys(tmp_path: Path) -> None:
    file = tmp_path / "daemon.json"
    file.write_text('{"builder-gc": false}')
    with pytest.raises(InvalidArgument, match="unknown key 'builder-gc'"):
        config.load(["--config-file", str(file)])


@pytest.mark.parametrize(
    ("text", "size"),
    [("10GB", 10 << 30), ("512MB", 512 << 20), ("1073741824", 1 << 30), ("1.5k", 1536), ("2 GiB", 2 << 30),
     ("100b", 100), ("7", 7)],
)  # fmt: skip
def test_sizes_as_go_units(text: str, size: int) -> None:
    from berth.daemon.builder_config import size as parse_size

    assert parse_size(text) == size
