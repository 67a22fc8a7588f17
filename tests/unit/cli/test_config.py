"""config.json in Docker's format: auth lookup for X-Registry-Auth."""

from __future__ import annotations

import json
import os

from berth.api.auth import decode_header
from berth.cli import config


def test_auth_lookup_and_header(tmp_path: object) -> None:
    directory = str(tmp_path)
    config.save(
        directory,
        {
            "auths": {
                "localhost:5000": {"auth": "dXNlcjpwdw=="},
                "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
                "tok.example": {"auth": "dTo=", "identitytoken": "refresh"},
            }
        },
    )
    assert (os.stat(os.path.join(directory, "config.json")).st_mode & 0o777) == 0o600
    assert config.auth_for(directory, "localhost:5000") == {
        "serveraddress": "localhost:5000",
        "username": "user",
        "password": "pw",
    }
    assert config.auth_for(directory, "docker.io")["username"] == "hub"
    assert config.auth_for(directory, "tok.example")["identitytoken"] == "refresh"
    assert config.auth_for(directory, "other.example") == {}
    header = config.auth_header(directory, "localhost:5000/team/app")["X-Registry-Auth"]
    assert decode_header(header)["username"] == "user"
    assert decode_header(config.auth_header(directory, "busybox")["X-Registry-Auth"])["username"] == "hub"


def test_registry_of() -> None:
    assert config.registry_of("busybox") == "docker.io"
    assert config.registry_of("team/app") == "docker.io"
    assert config.registry_of("localhost/app") == "localhost"
    assert config.registry_of("reg.example:5000/a/b") == "reg.example:5000"


def test_missing_config_is_empty(tmp_path: object) -> None:
    assert config.load(str(tmp_path)) == {}
    with open(os.path.join(str(tmp_path), "config.json"), "w") as fh:
        json.dump({"auths": {}}, fh)
    assert config.auth_for(str(tmp_path), "x") == {}
