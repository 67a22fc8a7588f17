"""Robot accounts against a real berth-registry: the real docker CLI logs in as robot$ORG+NAME,
skopeo pulls and pushes what the grant allows and is refused the rest, and a removed robot is refused at once
(its token, and bearer tokens it was already given)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, push_image, skopeo, start_registry

ALICE = basic("alice", "alicepw")
ROBOT = "robot$acme+ci"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"})
    try:
        yield reg
    finally:
        reg.stop()


def _ok(reg: RunningRegistry, *args: str) -> str:
    result = reg.cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _docker_login(
    reg: RunningRegistry, tmp_path: Path, user: str, password: str
) -> subprocess.CompletedProcess[str]:
    """The real docker CLI with its own config dir and no daemon: it logs in client-side."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock",
    }
    return subprocess.run(
        ["docker", "login", "-u", user, "--password-stdin", reg.host],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _skopeo_push(
    reg: RunningRegistry, layout: Path, ref: str, creds: str
) -> subprocess.CompletedProcess[str]:
    return skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"oci:{layout}:v1",
        f"docker://{reg.host}/{ref}",
    )


def _token(reg: RunningRegistry, user: str, password: str, scope: str) -> tuple[int, dict[str, object]]:
    status, _, body = reg.request(
        "GET", f"/token?service=berth-registry&scope={scope}", headers=basic(user, password)
    )
    return status, json.loads(body)


@pytest.mark.skipif(
    shutil.which("docker") is None or shutil.which("skopeo") is None, reason="needs the docker CLI and skopeo"
)
def test_robot_logs_in_with_docker_and_does_only_what_it_was_granted(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    _ok(registry, "org", "add", "acme", "--owner", "alice")
    _ok(registry, "org", "add", "other", "--owner", "alice")
    app = push_image(registry, "acme/app", "v1", b"acme app layer", ALICE)
    push_image(registry, "acme/secret", "v1", b"acme secret layer", ALICE)
    push_image(registry, "other/app", "v1", b"other layer", ALICE)
    added = registry.cli("robot", "add", "acme", "ci", "--grant", "app:pull", "--grant", "acme/build-*:push")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert len(token) >= 32 and "shown only now" in added.stderr
    assert token not in (registry.root / "registry.db").read_bytes().decode("latin-1")  # only a hash

    login = _docker_login(registry, tmp_path, ROBOT, token)
    assert login.returncode == 0, login.stderr
    assert "Login Succeeded" in login.stdout
    saved = json.loads((tmp_path / "docker-config" / "config.json").read_text())
    assert registry.host in saved["auths"]
    audit = [json.loads(line) for line in (registry.root / "audit.log").read_text().splitlines()]
    assert any(e["action"] == "login" and e["actor"] == ROBOT for e in audit)  # it reached the registry
    assert _docker_login(registry, tmp_path, ROBOT, "not-the-token").returncode != 0

    creds = f"{ROBOT}:{token}"
    inspected = skopeo(
        "inspect", "--tls-verify=false", "--creds", creds, f"docker://{registry.host}/acme/app:v1"
    )
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Digest"] == app
    layout = tmp_path / "layout"
    make_oci_layout(layout, "v1", files={"robot.txt": b"built by the robot\n"})
    refused = _skopeo_push(registry, layout, "acme/app:v2", creds)
    assert refused.returncode != 0 and ("denied" in refused.stderr or "unauthorized" in refused.stderr)
    pushed = _skopeo_push(registry, layout, "acme/build-app:v1", creds)  # the push grant's pattern
    assert pushed.returncode == 0, pushed.stderr
    status, _, _ = registry.request("GET", "/v2/acme/build-app/manifests/v1", headers=ALICE)
    assert status == 200
    status, _, _ = registry.request("GET", "/v2/acme/app/manifests/v2", headers=ALICE)
    assert status == 404  # the refused push left nothing

    for repo in ("acme/secret", "other/app"):  # outside the grants; other orgs never
        status, body = _token(registry, ROBOT, token, f"repository:{repo}:pull,push,delete")
        assert status == 200 and body["token"]
        status, _, _ = registry.request(
            "GET", f"/v2/{repo}/manifests/v1", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert status == 404
    status, body = _token(registry, ROBOT, token, "repository:acme/app:pull,push,delete")
    issued = str(body["token"])
    status, _, _ = registry.request(
        "DELETE", f"/v2/acme/app/manifests/{app}", headers={"Authorization": f"Bearer {issued}"}
    )
    assert status in (401, 403)  # a robot never deletes
    listed = _ok(registry, "robot", "ls", "acme")
    assert listed.split() == [ROBOT, "acme/app:pull", "acme/build-*:push"]

    _ok(registry, "robot", "rm", "acme", "ci")
    refused_login = _docker_login(registry, tmp_path, ROBOT, token)
    assert refused_login.returncode != 0, refused_login.stdout
    assert "unauthorized" in refused_login.stderr.lower(), refused_login.stderr
    status, _, _ = registry.request("GET", "/v2/acme/app/manifests/v1", headers=basic(ROBOT, token))
    assert status == 401
    status, _, _ = registry.request(
        "GET", "/v2/acme/app/manifests/v1", headers={"Authorization": f"Bearer {issued}"}
    )
    assert status == 401  # its tokens died with it


def test_robot_cli_refuses_bad_grants(registry: RunningRegistry) -> None:
    _ok(registry, "org", "add", "acme", "--owner", "alice")
    for grant, message in [
        ("app:admin", "robots never get admin"),
        ("app:delete", "REPO:pull or REPO:push"),
        ("other/app:pull", "inside acme"),
        ("app", "REPO:pull or REPO:push"),
    ]:
        result = registry.cli("robot", "add", "acme", "ci", "--grant", grant)
        assert result.returncode == 1 and message in result.stderr, (grant, result.stderr)
    missing = registry.cli("robot", "add", "nope", "ci", "--grant", "app:pull")
    assert missing.returncode == 1 and "no such organisation: nope" in missing.stderr
    _ok(registry, "robot", "add", "acme", "ci", "--grant", "app:pull")
    again = registry.cli("robot", "add", "acme", "ci", "--grant", "app:pull")
    assert again.returncode == 1 and "already exists" in again.stderr
    owner = registry.cli("org", "add", "robots", "--owner", ROBOT)
    assert owner.returncode == 1 and "no such user" in owner.stderr  # robots own nothing
    gone = registry.cli("robot", "rm", "acme", "nobody")
    assert gone.returncode == 1 and "no such robot: robot$acme+nobody" in gone.stderr
