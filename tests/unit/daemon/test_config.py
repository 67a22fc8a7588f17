from __future__ import annotations

import json
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
