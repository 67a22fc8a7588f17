"""With the real docker CLI (through berthd's /auth) and berth-registry serving: repeated wrong
passwords lock the account out from that address with Docker Hub's 429, the right one included, and
`berth-registry audit` shows who tried from where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.conftest import Daemon

from berth.testing.registry import registry_cli, start_berth_registry

pytestmark = pytest.mark.root


def test_docker_login_is_rate_limited_and_audited(berthd: Daemon, tmp_path: Path) -> None:
    registry = start_berth_registry(tmp_path / "registry", users={"alice": "secret"})
    try:

        def login(password: str):  # noqa: ANN202
            return berthd.docker(
                "login", "-u", "alice", "--password-stdin", registry.host, input=password.encode() + b"\n"
            )

        assert login("secret").returncode == 0
        for _ in range(5):
            wrong = login("guess")
            assert wrong.returncode == 1 and "unauthorized" in wrong.stderr.lower(), wrong.stderr
        locked = login("secret")
        assert locked.returncode == 1 and "too many failed login attempts" in locked.stderr, locked.stderr
        shown = registry_cli(tmp_path / "registry", "audit", "--format", "json")
        entries = [json.loads(line) for line in shown.stdout.splitlines()]
        logins = [(e["action"], e["actor"], e["address"]) for e in entries if e["action"].startswith("login")]
        assert logins[0] == ("login", "alice", "127.0.0.1")
        assert logins[1:] == [("login-failed", "alice", "127.0.0.1")] * 5, logins
    finally:
        registry.stop()
