"""docker-compose (Debian's 1.29, docker-py underneath) drives berthd: a project network where services
find each other by name and alias, a published port, a named volume, logs, exec, and ``down -v``
leaving nothing behind."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root

COMPOSE = shutil.which("docker-compose") or "docker-compose"

PROJECT = """
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    networks:
      default:
        aliases: [frontend]
  client:
    image: busybox
    depends_on: [web]
    environment:
      TARGETS: "web frontend"
    volumes: ["data:/data"]
    command:
      - sh
      - -c
      - |
        for i in $$(seq 100); do
          wget -qO /data/web http://web/ && wget -qO /data/frontend http://frontend/ && break
          sleep 0.1
        done
        cat /data/web /data/frontend
        exec sleep 300
volumes:
  data: {{}}
"""


def compose(daemon: Daemon, project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMPOSE, "--no-ansi", "-p", "shop", *args],
        cwd=project_dir, env=daemon.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_compose_project_runs_on_berthd(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "docker-compose.yml").write_text(PROJECT.format(port=port))
    ok(compose(berthd, tmp_path, "up", "-d"))
    assert "shop_default" in ok(berthd.docker("network", "ls", "--format", "{{.Name}}")).split()
    table = ok(compose(berthd, tmp_path, "ps"))
    assert "shop_web_1" in table and f"127.0.0.1:{port}->80/tcp" in table and "shop_client_1" in table
    web_id = ok(berthd.docker("inspect", "-f", "{{.Config.Hostname}}", "shop_web_1")).strip()
    deadline = time.monotonic() + 20
    while ok(compose(berthd, tmp_path, "logs", "--no-color", "client")).count(web_id) < 2:
        assert time.monotonic() < deadline, "client never reached web by its service name and alias"
        time.sleep(0.2)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        assert response.read().decode().strip() == web_id
    assert ok(compose(berthd, tmp_path, "exec", "-T", "client", "cat", "/data/web")).strip() == web_id
    ok(compose(berthd, tmp_path, "down", "-v"))
    assert ok(berthd.docker("ps", "-aq")) == ""
    assert "shop_default" not in ok(berthd.docker("network", "ls", "--format", "{{.Name}}"))
    assert "shop_data" not in ok(berthd.docker("volume", "ls", "--format", "{{.Name}}"))


SECRETS = """
version: "3.8"
services:
  app:
    image: busybox
    command: ["sh", "-c", "cat /run/secrets/token; echo x > /run/secrets/token 2>/dev/null && echo rw || echo ro"]
    secrets: [token]
secrets:
  token:
    file: ./token.txt
"""


def test_compose_file_secrets_are_read_only_binds(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    """Compose mounts a file secret as a read-only bind (HostConfig.Mounts) at /run/secrets/NAME."""
    (tmp_path / "docker-compose.yml").write_text(SECRETS)
    (tmp_path / "token.txt").write_text("s3cret\n")
    out = ok(compose(berthd, tmp_path, "run", "--rm", "-T", "app"))
    assert out.splitlines()[-2:] == ["s3cret", "ro"]
    assert (tmp_path / "token.txt").read_text() == "s3cret\n"
    ok(compose(berthd, tmp_path, "down", "-v"))


def test_compose_builds_a_dockerfile_in_buildkits_syntax(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    project = tmp_path / "built"
    project.mkdir()
    (project / "docker-compose.yml").write_text(
        'version: "3.8"\nservices:\n  app:\n    build:\n      context: .\n      args: {GREETING: hello}\n'
        '    image: shop-app\n    command: ["cat", "/greeting", "/cached"]\n'
    )
    (project / "Dockerfile").write_text(
        "# syntax=docker/dockerfile:1\nFROM busybox\nARG GREETING\n"
        "COPY --chmod=600 <<EOF /greeting\n${GREETING} from a heredoc\nEOF\n"
        "RUN --mount=type=cache,target=/cache echo compose >> /cache/runs && cp /cache/runs /cached\n"
    )
    built = compose(berthd, project, "build")
    assert built.returncode == 0, built.stderr + built.stdout
    run = compose(berthd, project, "run", "--rm", "app")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["hello from a heredoc", "compose"]
